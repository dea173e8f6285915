/**
 * The pod fields a Function may not set unless the operator allows them (docs/tenancy.md#pod-security:
 * pod fields that escalate are off unless kubeless-config turns them on), and the
 * ServiceAccount names a pod may run as. Pure: the planner refuses a Function these return
 * anything for, before any child is applied.
 */
import { POD_SPEC_FEATURES_KEY, type PodSpecFeature, type PodSpecFeatures } from '@kubeless/api';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const obj = (v: unknown): Json => (isObject(v) ? v : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** One field of a Function's pod template that asks for a feature kubeless-config does not turn on. */
export interface PodFieldProblem {
  /** Where, from the Function: `spec.deployment.spec.template.spec.containers[0].securityContext.privileged`. */
  path: string;
  feature: PodSpecFeature;
}

/** Set at all: anything but absent, null, false, 0 or ''; a wrong type is refused too, not waved through. */
const set = (v: unknown): boolean => v !== undefined && v !== null && v !== false && v !== 0 && v !== '';

/**
 * The fields of a Function's own `deployment` (its pod template: pod spec, containers and init
 * containers) that ask for a pod feature `features` leaves off, in document order. Only the
 * Function's fields are looked at: the operator's kubeless-config template is trusted.
 */
export function podFieldProblems(deployment: unknown, features: PodSpecFeatures): PodFieldProblem[] {
  const base = 'spec.deployment.spec.template.spec';
  const pod = obj(obj(obj(obj(deployment).spec).template).spec);
  const out: PodFieldProblem[] = [];
  const want = (feature: PodSpecFeature, path: string): void => {
    if (!features[feature]) out.push({ path, feature });
  };
  for (const f of ['hostNetwork', 'hostPID', 'hostIPC'] as const) if (set(pod[f])) want(f, `${base}.${f}`);
  list(pod.volumes).forEach((v, i) => {
    if (set(obj(v).hostPath)) want('hostPath', `${base}.volumes[${String(i)}].hostPath`);
  });
  for (const kind of ['initContainers', 'containers'] as const) {
    list(pod[kind]).forEach((c, i) => {
      const at = `${base}.${kind}[${String(i)}]`;
      const sc = obj(obj(c).securityContext);
      if (set(sc.privileged)) want('privileged', `${at}.securityContext.privileged`);
      if (set(sc.allowPrivilegeEscalation)) want('allowPrivilegeEscalation', `${at}.securityContext.allowPrivilegeEscalation`);
      const add = obj(sc.capabilities).add;
      if (set(add) && !(Array.isArray(add) && add.length === 0)) want('addCapabilities', `${at}.securityContext.capabilities.add`);
      list(obj(c).ports).forEach((p, j) => {
        if (set(obj(p).hostPort)) want('hostPort', `${at}.ports[${String(j)}].hostPort`);
      });
    });
  }
  return out;
}

/** The status message for `problems`: each field, and the kubeless-config key that would allow it. */
export function podFieldMessage(problems: readonly PodFieldProblem[]): string {
  const fields = problems.map((p) => `${p.path} (needs ${p.feature}: true)`).join('; ');
  return `the function asks for pod fields that escalate, which this cluster does not allow: ${fields}. An operator may turn a field on in kubeless-config ${POD_SPEC_FEATURES_KEY} (chart value kubelessConfig.podSpecFeatures)`;
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/u;

/**
 * Why `name` cannot be the ServiceAccount of a function pod in `namespace`: a pod runs only as a
 * ServiceAccount of its own namespace, named by a DNS-1123 subdomain, so a name such as
 * `kube-system:default`, `system:serviceaccount:kube-system:default` or `other/sa` is refused
 * (it can only be an attempt at another namespace's). undefined: a valid name.
 */
export function serviceAccountNameProblem(name: string, namespace: string): string | undefined {
  if (name.length <= 253 && DNS1123_SUBDOMAIN.test(name)) return undefined;
  return `serviceAccountName ${JSON.stringify(name)} is not a ServiceAccount name (a lowercase DNS-1123 subdomain): a function's pods run only as a ServiceAccount of its own namespace, ${namespace}`;
}
