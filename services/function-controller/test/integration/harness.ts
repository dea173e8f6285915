/** Runs the function controller against the stack, in-process or as a child process. */
import type { ChildProcess } from 'node:child_process';
import { KubeClient, type KubeObject } from '@kubeless/controller';
import { clients, eventually, spawnController as spawnStackController, stackEnv, startInProcess } from '@kubeless/stack';

export { eventually };
import { buildFunctionController } from '../../src/index.js';

export interface Running {
  stop: () => Promise<void>;
}

/** An in-process controller watching `namespace`, with kubeless-config read from `namespace` too (startInProcess). */
export function startController(namespace: string): Promise<Running> {
  return startInProcess('function-controller', (ctx) => buildFunctionController({ ...ctx, watchNamespace: namespace, configNamespace: namespace }));
}

/** The controller as its own process on its ServiceAccount (for crash and failover tests); elects a leader (main.ts's default). */
export function spawnController(namespace: string, identity: string, extraEnv: Record<string, string> = {}): ChildProcess {
  return spawnStackController('function-controller', {
    watchNamespace: namespace,
    podNamespace: namespace,
    identity,
    env: { LOG_LEVEL: 'info', LEADER_ELECT: 'true', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  }).child;
}

export const FN = { group: 'kubeless.io', version: 'v1beta1', plural: 'functions' } as const;

export async function createFunction(namespace: string, body: Record<string, unknown>): Promise<void> {
  await clients().custom.createNamespacedCustomObject({ ...FN, namespace, body: { apiVersion: 'kubeless.io/v1beta1', kind: 'Function', ...body } });
}

export async function getFunction(namespace: string, name: string): Promise<KubeObject & { status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[]; readyReplicas?: number; url?: string; observedGeneration?: number } }> {
  return (await clients().custom.getNamespacedCustomObject({ ...FN, namespace, name })) as KubeObject;
}

export async function patchFunction(namespace: string, name: string, patch: unknown): Promise<void> {
  const c = KubeClient.fromKubeconfig(stackEnv().KUBECONFIG);
  await c.mergePatch(`/apis/kubeless.io/v1beta1/namespaces/${namespace}/functions/${name}`, patch);
  c.close();
}

/** Raw GET as the admin; undefined on 404. */
export async function getRaw<T extends KubeObject = KubeObject>(apiPath: string): Promise<T | undefined> {
  const c = KubeClient.fromKubeconfig(stackEnv().KUBECONFIG);
  try {
    return await c.get<T>(apiPath);
  } catch (err) {
    if ((err as { status?: number }).status === 404) return undefined;
    throw err;
  } finally {
    c.close();
  }
}


export function condition(fn: Awaited<ReturnType<typeof getFunction>>, type: string): { status: string; reason?: string; message?: string } | undefined {
  return fn.status?.conditions?.find((c) => c.type === type);
}
