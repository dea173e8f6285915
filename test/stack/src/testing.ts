/** Helpers for integration tests of any package: the stack's addresses, kubectl and clients per user. */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { readStackEnv, userKubeconfig, type StackEnv } from './env.js';
import { waitFor } from './wait.js';
import { installEnv } from './mirror/mirror.js';
import { CONTROLLER_NAMESPACE, controllerKubeconfigPath, controllerServiceAccount, type ControllerName } from './identities.js';

const run = promisify(execFile);

export type StackUserName = 'admin' | 'alice' | 'bob';

let cached: StackEnv | undefined;
export function stackEnv(): StackEnv {
  cached ??= readStackEnv();
  return cached;
}

/**
 * The install settings function pods need in the stack (its registry mirror), as kubeless-config's
 * `install-env`: `{ 'install-env': JSON }` merged into a kubeless-config's data.
 */
export function stackInstallEnv(): Record<string, string> {
  return installEnv(stackEnv().REGISTRY_MIRROR);
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs kubectl as a stack user; never throws on a non-zero exit (tests assert on it). */
export async function kubectl(args: string[], options: { user?: StackUserName; input?: string } = {}): Promise<KubectlResult> {
  const kubeconfig = userKubeconfig(stackEnv(), options.user ?? 'admin');
  return new Promise((resolve) => {
    // Logs of a busy pod pass the default 1 MiB output limit (which cut them short, silently).
    const child = execFile('kubectl', ['--kubeconfig', kubeconfig, ...args], { timeout: 60_000, maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** kubectl that must succeed; returns stdout. */
export async function kubectlOk(args: string[], options: { user?: StackUserName; input?: string } = {}): Promise<string> {
  const r = await kubectl(args, options);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${String(r.code)}): ${r.stderr}`);
  return r.stdout;
}

export function kubeConfig(user: StackUserName = 'admin'): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(userKubeconfig(stackEnv(), user));
  return kc;
}

export function clients(user: StackUserName = 'admin'): { core: CoreV1Api; custom: CustomObjectsApi } {
  const kc = kubeConfig(user);
  return { core: kc.makeApiClient(CoreV1Api), custom: kc.makeApiClient(CustomObjectsApi) };
}

/** A unique DNS-1123 name for one test. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

/** Creates a namespace as the admin; the returned function deletes it (without waiting). */
export async function withNamespace(prefix: string): Promise<{ name: string; cleanup: () => Promise<void> }> {
  const name = uniqueName(prefix);
  await clients().core.createNamespace({ body: { metadata: { name } } });
  return {
    name,
    cleanup: async () => {
      await clients()
        .core.deleteNamespace({ name })
        .catch(() => undefined);
    },
  };
}

export async function sh(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(cmd, args, { timeout: 120_000 });
}

/** Polls `probe` until it gives a value (not undefined/false), for eventual consistency in tests. */
export function eventually<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  return waitFor(what, probe, { timeoutMs, intervalMs: 200 });
}

/**
 * Waits until a CustomResourceDefinition is Established. `kubectl wait --for=condition=Established`
 * fails at once ("accessor error") on a CRD so new that it has no status yet.
 */
export async function crdEstablished(name: string, timeoutMs = 30_000): Promise<void> {
  await eventually(
    `CRD ${name} Established`,
    async () => (await kubectl(['get', 'crd', name, '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}'])).stdout === 'True' || undefined,
    timeoutMs,
  );
}

/** The kubeconfig of a controller's own ServiceAccount (a TokenRequest token), written by `up`. */
export function controllerKubeconfig(c: ControllerName): string {
  return controllerKubeconfigPath(stackEnv().KUBELESS_STACK_DIR, c);
}

const roleAndBinding = (c: ControllerName, namespace: string, suffix: string, rules: object[]): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: `${controllerServiceAccount(c)}-${suffix}`, namespace }, rules },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: `${controllerServiceAccount(c)}-${suffix}`, namespace },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${controllerServiceAccount(c)}-${suffix}` },
        subjects: [{ kind: 'ServiceAccount', name: controllerServiceAccount(c), namespace: CONTROLLER_NAMESPACE }],
      },
    ],
  });

/**
 * Lets a controller read the named Secrets of `namespace`, as the chart's `<controller>.rbac.secrets`
 * value does (a Role with `get` on those names, bound to its ServiceAccount).
 */
export async function grantSecrets(c: ControllerName, namespace: string, names: string[]): Promise<void> {
  await kubectlOk(['apply', '-f', '-'], { input: roleAndBinding(c, namespace, 'secrets', [{ apiGroups: [''], resources: ['secrets'], resourceNames: names, verbs: ['get'] }]) });
}

/**
 * Lets a controller hold Leases in `namespace`: tests that run leader election use a Lease of
 * their own there, so that files running at the same time never share the chart's one Lease.
 */
export async function grantLeases(c: ControllerName, namespace: string): Promise<void> {
  await kubectlOk(['apply', '-f', '-'], { input: roleAndBinding(c, namespace, 'leases', [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }]) });
}
