/**
 * The function controller's reconcile: observe (the Function, kubeless-config and the children
 * in the informer caches) -> plan (pure, plan.ts) -> apply (server-side apply, one field manager)
 * -> status (conditions ConfigReady, ServiceReady, DeploymentReady, Ready; replicas; URL).
 * No finalizer: children carry a controller owner reference and go by garbage collection.
 */
import { KUBELESS_CONFIG_NAME, defaultKubelessConfig, parseKubelessConfig, type Condition, type Function as KubelessFunction, type FunctionStatus, type KubelessConfig } from '@kubeless/api';
import {
  ApiError,
  TerminalError,
  applyOwned,
  deleteIfOwned,
  isNotFound,
  resourceFor,
  setCondition,
  summarise,
  getCondition,
  type Informer,
  type KubeClient,
  type KubeObject,
  type ReconcileContext,
  type ReconcileResult,
} from '@kubeless/controller';
import type { Logger } from '@kubeless/observability';
import { PlanError, SPEC_HASH_ANNOTATION, planFunction } from './plan.js';

export const FIELD_MANAGER = 'kubeless-function-controller';
const DEPENDENTS = ['ConfigReady', 'ServiceReady', 'DeploymentReady'];
/**
 * A problem outside the Function (a missing Secret, a foreign object) is looked at again this often:
 * the controller cannot watch Secrets (it may only `get` the names the operator granted), so a
 * Secret created after the Function is picked up within this time. One GET per affected Function.
 */
export const RECHECK_MS = 5_000;

export type FunctionObject = KubelessFunction & KubeObject;

export interface FunctionReconcilerDeps {
  client: KubeClient;
  configMaps: Informer;
  services: Informer;
  deployments: Informer;
  hpas: Informer;
  pods: Informer;
  /** The kubeless-config ConfigMap (a one-object informer in the controller's namespace). */
  config: Informer;
  configNamespace: string;
}

/** Reads kubeless-config from its cache, parsing once per resourceVersion. */
export class ConfigSource {
  #rv: string | undefined;
  #cfg: KubelessConfig = defaultKubelessConfig();
  constructor(
    private readonly informer: Informer,
    private readonly namespace: string,
  ) {}
  /** The parsed config; its problems are logged once, when a new version is parsed. */
  current(logger?: Logger): KubelessConfig {
    const cm = this.informer.get(this.namespace, KUBELESS_CONFIG_NAME);
    const rv = cm?.metadata?.resourceVersion ?? 'none';
    if (rv !== this.#rv) {
      this.#cfg = cm ? parseKubelessConfig(cm.data as Record<string, string> | undefined) : defaultKubelessConfig();
      this.#rv = rv;
      for (const problem of this.#cfg.problems) logger?.warn({ problem }, 'kubeless-config problem');
    }
    return this.#cfg;
  }
}

export class FunctionReconciler {
  readonly #d: FunctionReconcilerDeps;
  readonly #config: ConfigSource;

  constructor(deps: FunctionReconcilerDeps) {
    this.#d = deps;
    this.#config = new ConfigSource(deps.config, deps.configNamespace);
  }

  readonly reconcile = async (fn: FunctionObject, ctx: ReconcileContext): Promise<ReconcileResult | undefined> => {
    const status: FunctionStatus = (fn.status ??= {});
    const conditions: Condition[] = (status.conditions ??= []);
    const wasReady = getCondition(conditions, 'Ready')?.status;
    const cfg = this.#config.current(ctx.logger);

    let plan;
    try {
      plan = planFunction(fn, cfg);
    } catch (err) {
      if (!(err instanceof PlanError)) throw err;
      setCondition(conditions, { type: 'Ready', status: 'False', reason: err.reason, message: err.message });
      throw new TerminalError(err.reason, err.message);
    }
    status.url = plan.url;

    const ns = fn.metadata.namespace ?? 'default';
    const { missing, unchecked } = await this.#checkSecrets(ns, plan.secrets, ctx.signal);
    if (missing.length > 0) {
      const message = `Secret ${missing.map((s) => `"${s}"`).join(', ')} not found in namespace ${ns}; the pods cannot start`;
      setCondition(conditions, { type: 'DeploymentReady', status: 'False', reason: 'SecretNotFound', message });
      summarise(conditions, DEPENDENTS);
      ctx.record('Warning', 'SecretNotFound', message);
      return { requeueAfterMs: RECHECK_MS };
    }

    // Once the Deployment exists its replica count belongs to whoever scales it (a trigger's
    // autoscaling, an HPA, `kubectl scale`), unless the Function itself sets one: an update of the
    // function does not reset it to 1 (nor wake a function scaled to zero).
    const userReplicas = (fn.spec.deployment as { spec?: { replicas?: unknown } } | undefined)?.spec?.replicas;
    if (userReplicas === undefined && this.#d.deployments.get(ns, fn.metadata.name ?? '')) {
      delete (plan.deployment.spec as { replicas?: number } | undefined)?.replicas;
    }

    // The children are independent objects: apply them together (a pod waits for its ConfigMap).
    // A foreign object of the same name stops that child and is reported.
    const steps: [string, KubeObject, Informer][] = [
      ['ConfigReady', plan.configMap, this.#d.configMaps],
      ['ServiceReady', plan.service, this.#d.services],
      ['DeploymentReady', plan.deployment, this.#d.deployments],
    ];
    const outcomes = await Promise.all(steps.map(([, desired, informer]) => this.#ensure(fn, desired, informer, ctx)));
    let failed: { reason: string; message: string; terminal: boolean } | undefined;
    steps.forEach(([type], i) => {
      const outcome = outcomes[i];
      if (outcome === undefined || outcome === 'ok') {
        if (type !== 'DeploymentReady') setCondition(conditions, { type, status: 'True', reason: 'Applied', message: '' });
        return;
      }
      setCondition(conditions, { type, status: 'False', reason: outcome.reason, message: outcome.message });
      failed ??= outcome;
    });
    if (failed) {
      summarise(conditions, DEPENDENTS);
      ctx.record('Warning', failed.reason, failed.message);
      if (failed.terminal) throw new TerminalError(failed.reason, failed.message);
      return { requeueAfterMs: RECHECK_MS };
    }
    await this.#ensureHpa(fn, plan.hpa, ctx);

    // Deployment readiness from the observed object (its watch event brings us back).
    const observed = this.#d.deployments.get(ns, fn.metadata.name ?? '');
    const dspec = observed?.spec as { replicas?: number } | undefined;
    const dstatus = observed?.status as { observedGeneration?: number; replicas?: number; readyReplicas?: number; updatedReplicas?: number; availableReplicas?: number } | undefined;
    const desiredReplicas = dspec?.replicas ?? 1;
    const ready = dstatus?.readyReplicas ?? 0;
    const updated = dstatus?.updatedReplicas ?? 0;
    const current = observed !== undefined && (dstatus?.observedGeneration ?? 0) >= (observed.metadata?.generation ?? 0);
    const problem = podProblem(this.#d.pods, ns, fn.metadata.name ?? '') ?? replicaFailure(observed);
    status.replicas = desiredReplicas;
    status.readyReplicas = ready;
    // Rolled out as `kubectl rollout status` says: every replica runs the new template, no old one
    // is left (during a rollout the old pod is still ready and still counts), and enough are available.
    const total = dstatus?.replicas ?? 0;
    const available = dstatus?.availableReplicas ?? 0;
    if (current && ready >= desiredReplicas && updated >= desiredReplicas && total <= updated && available >= desiredReplicas && desiredReplicas > 0) {
      const oom = oomKills(this.#d.pods, ns, fn.metadata.name ?? '');
      setCondition(conditions, { type: 'DeploymentReady', status: 'True', reason: 'Available', message: `${String(ready)}/${String(desiredReplicas)} replicas ready${oom ? `; ${oom}` : ''}` });
    } else if (current && desiredReplicas === 0 && total === 0) {
      // Scaled to zero by its trigger's autoscaling (or by hand): serving resumes with the first event.
      setCondition(conditions, { type: 'DeploymentReady', status: 'True', reason: 'ScaledToZero', message: '0 replicas: scaled to zero' });
    } else if (problem) {
      setCondition(conditions, { type: 'DeploymentReady', status: 'False', reason: problem.reason, message: problem.message });
    } else {
      setCondition(conditions, {
        type: 'DeploymentReady',
        status: 'False',
        reason: 'WaitingForReplicas',
        message: `${String(ready)}/${String(desiredReplicas)} replicas ready${current ? '' : '; rollout in progress'}${uncheckedHint(unchecked)}`,
      });
    }
    summarise(conditions, DEPENDENTS, 'Deployed', `serving at ${plan.url}`);
    const nowReady = getCondition(conditions, 'Ready')?.status;
    if (nowReady === 'True' && wasReady !== 'True') ctx.record('Normal', 'Deployed', `function ready at ${plan.url}`);
    return undefined;
  };

  /**
   * Which of the Secrets the pods mount are missing, asking for metadata only. The controller has
   * no Secret rights but those the operator grants by namespace and name
   * (functionController.rbac.secrets): a Secret it may not read (403) is `unchecked`, not an error;
   * the pods then wait for it as a kubelet does, and the status names it.
   */
  async #checkSecrets(namespace: string, names: string[], signal: AbortSignal): Promise<{ missing: string[]; unchecked: string[] }> {
    const missing: string[] = [];
    const unchecked: string[] = [];
    for (const name of names) {
      try {
        // Metadata only: the controller never receives the Secret's data.
        await this.#d.client.request('GET', `/api/v1/namespaces/${namespace}/secrets/${encodeURIComponent(name)}`, {
          signal,
          accept: 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json',
        });
      } catch (err) {
        if (isNotFound(err)) missing.push(name);
        else if (err instanceof ApiError && err.status === 403) unchecked.push(name);
        else throw err;
      }
    }
    return { missing, unchecked };
  }

  /** Applies `desired` unless a foreign object holds its name or it is already as desired. */
  async #ensure(
    fn: FunctionObject,
    desired: KubeObject,
    informer: Informer,
    ctx: ReconcileContext,
  ): Promise<'ok' | { reason: string; message: string; terminal: boolean }> {
    const outcome = await applyOwned(this.#d.client, fn, desired, {
      fieldManager: FIELD_MANAGER,
      ownerNoun: 'function',
      cache: informer,
      hashAnnotation: SPEC_HASH_ANNOTATION,
      signal: ctx.signal,
    });
    switch (outcome.result) {
      case 'applied':
        ctx.logger.debug({ kind: desired.kind ?? '', child: desired.metadata?.name ?? '' }, 'applied child');
        return 'ok';
      case 'unchanged':
        return 'ok';
      case 'conflict':
        return { reason: outcome.reason, message: outcome.message, terminal: false };
      case 'invalid':
        return { reason: outcome.reason, message: outcome.message, terminal: true };
    }
  }

  async #ensureHpa(fn: FunctionObject, desired: KubeObject | undefined, ctx: ReconcileContext): Promise<void> {
    if (!desired) {
      const r = resourceFor('autoscaling/v2', 'HorizontalPodAutoscaler');
      await deleteIfOwned(this.#d.client, fn, r, this.#d.hpas.get(fn.metadata.namespace, fn.metadata.name ?? ''), { signal: ctx.signal });
      return;
    }
    const outcome = await this.#ensure(fn, desired, this.#d.hpas, ctx);
    if (outcome !== 'ok') {
      ctx.record('Warning', outcome.reason, outcome.message);
      if (outcome.terminal) throw new TerminalError(outcome.reason, outcome.message);
    }
  }
}

/** The end of a WaitingForReplicas message when the pods mount Secrets the controller may not check. */
function uncheckedHint(unchecked: readonly string[]): string {
  if (unchecked.length === 0) return '';
  return `; the pods need Secret ${unchecked.map((s) => `"${s}"`).join(', ')}, which kubeless is not granted to check (functionController.rbac.secrets): if it is missing, the pods wait for it`;
}

/**
 * Why the Deployment's pods cannot be created, from its ReplicaFailure condition (the ReplicaSet's,
 * copied by the deployment controller): admission refused them, e.g. Pod Security or a
 * ServiceAccount that does not exist in the namespace.
 */
export function replicaFailure(deployment: KubeObject | undefined): { reason: string; message: string } | undefined {
  const conditions = (deployment?.status as { conditions?: { type?: string; status?: string; message?: string }[] } | undefined)?.conditions ?? [];
  const c = conditions.find((x) => x.type === 'ReplicaFailure' && x.status === 'True');
  return c ? { reason: 'ReplicaFailure', message: `the pods cannot be created: ${c.message ?? 'see the ReplicaSet events'}` } : undefined;
}

interface Terminated {
  exitCode?: number;
  reason?: string;
  message?: string;
}
interface ContainerStatus {
  name: string;
  state?: { waiting?: { reason?: string; message?: string }; terminated?: Terminated };
  lastState?: { terminated?: Terminated };
}

/** What a terminated container said (its termination message: the last log lines), at most 1,000 characters, from the end. */
function said(t: Terminated | undefined): string | undefined {
  const m = t?.message?.trim();
  if (!m) return undefined;
  return m.length > 1000 ? `…${m.slice(-1000)}` : m;
}

/**
 * The function's containers that the kubelet restarted after they ran out of memory (OOMKilled),
 * for the status of a function that is serving again: "pod P: container C was OOMKilled (limit
 * 64Mi), restarted 1 time". Undefined when none was.
 */
export function oomKills(pods: Informer, namespace: string, fn: string): string | undefined {
  const found: string[] = [];
  for (const p of pods.list(namespace)) {
    if (p.metadata?.labels?.function !== fn || p.metadata.deletionTimestamp) continue;
    const spec = p.spec as { containers?: { name: string; resources?: { limits?: { memory?: string } } }[] } | undefined;
    const st = p.status as { containerStatuses?: (ContainerStatus & { restartCount?: number })[] } | undefined;
    for (const c of st?.containerStatuses ?? []) {
      if (c.lastState?.terminated?.reason !== 'OOMKilled') continue;
      const limit = spec?.containers?.find((x) => x.name === c.name)?.resources?.limits?.memory;
      const n = c.restartCount ?? 0;
      found.push(`pod ${p.metadata.name ?? ''}: container ${c.name} was OOMKilled${limit ? ` (memory limit ${limit})` : ''}, restarted ${String(n)} time${n === 1 ? '' : 's'}`);
    }
  }
  return found.length > 0 ? found.join('; ') : undefined;
}

/** Why a pod of the function fails, from its container statuses (what a kubelet reports). */
export function podProblem(pods: Informer, namespace: string, fn: string): { reason: string; message: string } | undefined {
  for (const p of pods.list(namespace)) {
    if (p.metadata?.labels?.function !== fn || p.metadata.deletionTimestamp) continue;
    const st = p.status as { initContainerStatuses?: ContainerStatus[]; containerStatuses?: ContainerStatus[] } | undefined;
    for (const c of st?.initContainerStatuses ?? []) {
      // Never started: the kubelet refused its configuration (e.g. uid 0 under runAsNonRoot) or its image.
      const w = c.state?.waiting;
      if (w?.reason === 'CreateContainerConfigError' || w?.reason === 'ErrImagePull' || w?.reason === 'ImagePullBackOff') {
        return { reason: w.reason, message: `pod ${p.metadata.name ?? ''}: init container ${c.name}: ${w.message ?? w.reason}` };
      }
      // Failed now, or failed before and waiting to be restarted (a kubelet's back-off).
      const t = c.state?.terminated ?? (c.state?.waiting ? c.lastState?.terminated : undefined);
      if (t?.exitCode !== undefined && t.exitCode !== 0) {
        return { reason: 'InitContainerFailed', message: `pod ${p.metadata.name ?? ''}: init container ${c.name} failed: ${said(t) ?? t.reason ?? `exit ${String(t.exitCode)}`}` };
      }
    }
    for (const c of st?.containerStatuses ?? []) {
      const w = c.state?.waiting;
      if (w?.reason === 'CrashLoopBackOff' || w?.reason === 'ErrImagePull' || w?.reason === 'ImagePullBackOff' || w?.reason === 'CreateContainerConfigError') {
        const t = w.reason === 'CrashLoopBackOff' ? c.lastState?.terminated : undefined;
        const exit = t ? `; it last exited ${t.reason ?? ''} (code ${String(t.exitCode ?? '?')})` : '';
        const last = said(t);
        return { reason: w.reason, message: `pod ${p.metadata.name ?? ''}: container ${c.name}: ${w.message ?? w.reason}${exit}${last ? `; its last output: ${last}` : ''}` };
      }
    }
  }
  return undefined;
}
