/**
 * FunctionScaler against the real API server: it writes a function Deployment's replicas through
 * the scale subresource (under its own field manager), and leaves them alone, with the reason, when
 * the Deployment is not a Function's, when an HorizontalPodAutoscaler targets it, or when another
 * trigger's scaler set them within its cool-down. The Deployments' pods are pinned to a node that
 * does not exist (they stay Pending: only the objects matter here).
 */
import type { ResolvedAutoscaling } from '@kubeless/api';
import { withNamespace } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FunctionScaler, type KubeObject } from '../../src/index.js';
import { adminClient } from './kit.js';

type Deployment = KubeObject & { spec?: { replicas?: number } };

const client = adminClient('kubeless-kit-test/scaler');
let ns: { name: string; cleanup: () => Promise<void> };
const policy: ResolvedAutoscaling = { minReplicas: 0, maxReplicas: 4, targetPerReplica: 10, cooldownMs: 60_000, pollingIntervalMs: 1000 };

beforeAll(async () => {
  ns = await withNamespace('kit-scaler');
});
afterAll(async () => {
  await ns.cleanup();
  client.close();
});

const deployPath = (name: string): string => `/apis/apps/v1/namespaces/${ns.name}/deployments/${name}`;

/** A Function object and, unless `owned` is false, a Deployment it controls (replicas 1). */
async function functionWithDeployment(name: string, owned = true): Promise<void> {
  const fn = await client.create(`/apis/kubeless.io/v1beta1/namespaces/${ns.name}/functions`, {
    apiVersion: 'kubeless.io/v1beta1',
    kind: 'Function',
    metadata: { name, namespace: ns.name },
    spec: { runtime: 'nodejs24', handler: 'h.f', function: 'module.exports = { f: () => "ok" }' },
  });
  const labels = { function: name };
  await client.create(`/apis/apps/v1/namespaces/${ns.name}/deployments`, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace: ns.name,
      ...(owned ? { ownerReferences: [{ apiVersion: 'kubeless.io/v1beta1', kind: 'Function', name, uid: fn.metadata?.uid ?? '', controller: true }] } : {}),
    },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { nodeSelector: { 'kubeless.io/no-such-node': 'true' }, containers: [{ name: 'f', image: 'kubeless/none:0' }] } },
    },
  });
}

const replicas = async (name: string): Promise<number | undefined> => (await client.get<Deployment>(deployPath(name))).spec?.replicas;

describe('FunctionScaler', () => {
  it('scales a Function’s Deployment to what the load asks for, through the scale subresource, and back to zero after the cool-down', async () => {
    await functionWithDeployment('busy');
    let now = Date.parse('2026-12-05T10:00:00Z');
    const scaler = new FunctionScaler({ client, kind: 'kafkatrigger', now: () => now });
    const up = await scaler.scale({ namespace: ns.name, trigger: 'orders', fn: 'busy', metric: 35, policy });
    expect(up).toMatchObject({ scaled: true, status: { function: 'busy', replicas: 4, desiredReplicas: 4, metric: 35 } });
    expect(up.problem).toBeUndefined();
    expect(await replicas('busy')).toBe(4);
    const d = await client.get<Deployment>(deployPath('busy'));
    const managers = (d.metadata?.managedFields as { manager?: string; subresource?: string }[]).filter((m) => m.subresource === 'scale').map((m) => m.manager);
    expect(managers).toEqual(['kubeless-scaler/kafkatrigger/orders']);
    // No load: held for the cool-down, then zero.
    now += 30_000;
    expect(await scaler.scale({ namespace: ns.name, trigger: 'orders', fn: 'busy', metric: 0, policy })).toMatchObject({ scaled: false, status: { replicas: 4, desiredReplicas: 0 } });
    now += 31_000;
    // The 4 was asked for until the first sample without load (30 s in): a whole cool-down after that.
    expect(await scaler.scale({ namespace: ns.name, trigger: 'orders', fn: 'busy', metric: 0, policy })).toMatchObject({ scaled: false, status: { replicas: 4 } });
    now += 30_000;
    expect(await scaler.scale({ namespace: ns.name, trigger: 'orders', fn: 'busy', metric: 0, policy })).toMatchObject({ scaled: true, status: { replicas: 0 } });
    expect(await replicas('busy')).toBe(0);
  });

  it('leaves the replicas to the trigger that scales them, says whose they are, and takes them once a trigger of its kind stopped', async () => {
    await functionWithDeployment('shared');
    const live = new Set(['orders']);
    const kafka = new FunctionScaler({ client, kind: 'kafkatrigger', autoscales: (_ns, t) => live.has(t) });
    const sqs = new FunctionScaler({ client, kind: 'sqstrigger', autoscales: () => false });
    await kafka.scale({ namespace: ns.name, trigger: 'orders', fn: 'shared', metric: 20, policy });
    expect(await replicas('shared')).toBe(2);
    // Another kind cannot tell whether the owner still runs: it leaves them.
    const r = await sqs.scale({ namespace: ns.name, trigger: 'queue', fn: 'shared', metric: 40, policy });
    expect(r.scaled).toBe(false);
    expect(r.problem?.reason).toBe('ScaledByAnotherTrigger');
    expect(r.problem?.message).toContain('kafkatrigger/orders');
    // A second Kafka trigger on the same function waits while the first autoscales it...
    const second = await kafka.scale({ namespace: ns.name, trigger: 'orders-v2', fn: 'shared', metric: 40, policy });
    expect(second.problem?.reason).toBe('ScaledByAnotherTrigger');
    expect(await replicas('shared')).toBe(2);
    // ...and takes over once the first no longer does.
    live.delete('orders');
    expect(await kafka.scale({ namespace: ns.name, trigger: 'orders-v2', fn: 'shared', metric: 40, policy })).toMatchObject({ scaled: true, status: { replicas: 4 } });
    expect(await replicas('shared')).toBe(4);
  });

  it('leaves a Deployment an HorizontalPodAutoscaler targets to it (HorizontalPodAutoscalerConflict)', async () => {
    await functionWithDeployment('hpa');
    await client.create(`/apis/autoscaling/v2/namespaces/${ns.name}/horizontalpodautoscalers`, {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'users-own', namespace: ns.name },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'hpa' }, minReplicas: 1, maxReplicas: 3, metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }] },
    });
    const { status, condition } = await new FunctionScaler({ client, kind: 'kafkatrigger' }).scaleAll({ namespace: ns.name, trigger: 'orders', policy, loads: [{ fn: 'hpa', metric: 40 }] });
    expect(condition).toMatchObject({ type: 'Autoscaling', status: 'False', reason: 'HorizontalPodAutoscalerConflict' });
    expect(condition.message).toContain('users-own');
    expect(status).toEqual([{ function: 'hpa', replicas: 1, desiredReplicas: 4, metric: 40 }]);
    expect(await replicas('hpa')).toBe(1);
  });

  it('never scales a Deployment that no Function controls, and waits for one that does not exist yet', async () => {
    await functionWithDeployment('foreign', false);
    const scaler = new FunctionScaler({ client, kind: 'sqstrigger' });
    const { condition } = await scaler.scaleAll({ namespace: ns.name, trigger: 'q', policy, loads: [{ fn: 'foreign', metric: 40 }, { fn: 'missing', metric: 40 }] });
    expect(condition).toMatchObject({ status: 'False', reason: 'NotAFunctionDeployment' });
    expect(condition.message).toContain('function missing has no Deployment yet');
    expect(await replicas('foreign')).toBe(1);
  });
});
