/**
 * The controllers' own identities in the stack, as the chart installs them: the chart's
 * ServiceAccounts, (Cluster)Roles and bindings of the five controllers are rendered with helm and
 * applied in the release namespace `kubeless`, and each controller gets a kubeconfig holding a
 * token of its ServiceAccount from the TokenRequest API. Controllers started by tests and by the
 * demo use these kubeconfigs, so they run on exactly the rights the chart grants.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { apiRequest, mirrorUrl, type ComponentContext } from './components.js';
import { render, type K8sObject } from './helm.js';
import { installEnv } from './mirror/mirror.js';

export const CONTROLLERS = ['function-controller', 'http-trigger', 'kafka-trigger', 'sqs-trigger', 'cronjob-trigger'] as const;
export type ControllerName = (typeof CONTROLLERS)[number];

/** The release the stack installs: `helm template kubeless helm/kubeless -n kubeless`. */
export const RELEASE = 'kubeless';
export const CONTROLLER_NAMESPACE = 'kubeless';

/** The chart's name for the controller's ServiceAccount, (Cluster)Role and Lease. */
export const controllerServiceAccount = (c: ControllerName): string => `${RELEASE}-${c}`;

/** `<run>/kubeconfig/<controller>.kubeconfig`: a TokenRequest token of the controller's ServiceAccount. */
export const controllerKubeconfigPath = (runDir: string, c: ControllerName): string => path.join(runDir, 'kubeconfig', `${c}.kubeconfig`);

const INSTALLED_KINDS = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'ConfigMap']);
/** Long enough for any suite or demo run on one stack. */
const TOKEN_SECONDS = 7 * 24 * 3600;

function objectPath(o: K8sObject): string {
  const ns = o.metadata.namespace ?? CONTROLLER_NAMESPACE;
  switch (o.kind) {
    case 'ServiceAccount':
      return `/api/v1/namespaces/${ns}/serviceaccounts/${o.metadata.name}`;
    case 'ConfigMap':
      return `/api/v1/namespaces/${ns}/configmaps/${o.metadata.name}`;
    case 'ClusterRole':
      return `/apis/rbac.authorization.k8s.io/v1/clusterroles/${o.metadata.name}`;
    case 'ClusterRoleBinding':
      return `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${o.metadata.name}`;
    case 'Role':
      return `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/${o.metadata.name}`;
    case 'RoleBinding':
      return `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings/${o.metadata.name}`;
    default:
      throw new Error(`no API path for ${o.kind}`);
  }
}

async function apply(ctx: Pick<ComponentContext, 'pkiDir' | 'ports'>, pathname: string, body: object): Promise<void> {
  const res = await apiRequest(ctx, 'PATCH', `${pathname}?fieldManager=kubeless-stack&force=true`, { contentType: 'application/apply-patch+yaml', data: JSON.stringify(body) });
  if (res.status >= 300) throw new Error(`applying ${pathname} failed (${String(res.status)}): ${res.body}`);
}

/**
 * The objects the stack installs: each controller's ServiceAccount and RBAC, and kubeless-config
 * (with `installEnv`, the stack's registry mirror for dependency installs, when given).
 */
export async function renderControllerIdentities(installEnv: Record<string, string> = {}): Promise<K8sObject[]> {
  // The stack serves the Gateway API CRDs (Traefik's), so the http-trigger may manage HTTPRoutes here.
  const objects = await render({
    release: RELEASE,
    namespace: CONTROLLER_NAMESPACE,
    set: ['httpTrigger.routes.gatewayAPI=true'],
    setJson: [`kubelessConfig.installEnv=${JSON.stringify(installEnv)}`],
  });
  const components = new Set<string>(CONTROLLERS);
  return objects.filter(
    (o) =>
      INSTALLED_KINDS.has(o.kind) &&
      (o.kind === 'ConfigMap' ? o.metadata.name === 'kubeless-config' : components.has(o.metadata.labels?.['app.kubernetes.io/component'] ?? '')),
  );
}

/**
 * Applies the controllers' identities and writes one kubeconfig per controller. `server` and
 * `caFile` are the API server's address and CA, as in the users' kubeconfigs.
 */
export async function installControllerIdentities(ctx: Pick<ComponentContext, 'pkiDir' | 'ports'>, runDir: string, server: string, caFile: string): Promise<ControllerName[]> {
  await apply(ctx, `/api/v1/namespaces/${CONTROLLER_NAMESPACE}`, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: CONTROLLER_NAMESPACE } });
  const objects = await renderControllerIdentities(installEnv(mirrorUrl(ctx.ports)));
  // ServiceAccounts and roles before the bindings that name them.
  const order = ['ServiceAccount', 'ConfigMap', 'ClusterRole', 'Role', 'ClusterRoleBinding', 'RoleBinding'];
  objects.sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind));
  for (const o of objects) await apply(ctx, objectPath(o), o);
  const ca = (await readFile(caFile)).toString('base64');
  await Promise.all(
    CONTROLLERS.map(async (c) => {
      const sa = controllerServiceAccount(c);
      const res = await apiRequest(ctx, 'POST', `/api/v1/namespaces/${CONTROLLER_NAMESPACE}/serviceaccounts/${sa}/token`, {
        contentType: 'application/json',
        data: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: TOKEN_SECONDS } }),
      });
      if (res.status >= 300) throw new Error(`TokenRequest for ${sa} failed (${String(res.status)}): ${res.body}`);
      const token = (JSON.parse(res.body) as { status?: { token?: string } }).status?.token;
      if (!token) throw new Error(`TokenRequest for ${sa} returned no token`);
      const config = {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'kubeless-stack', cluster: { server, 'certificate-authority-data': ca } }],
        users: [{ name: sa, user: { token } }],
        contexts: [{ name: c, context: { cluster: 'kubeless-stack', user: sa, namespace: CONTROLLER_NAMESPACE } }],
        'current-context': c,
        preferences: {},
      };
      await writeFile(controllerKubeconfigPath(runDir, c), JSON.stringify(config, null, 2), { mode: 0o600 });
    }),
  );
  return [...CONTROLLERS];
}
