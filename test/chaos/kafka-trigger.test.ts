/**
 * Reliability of the Kafka trigger (SPEC §10): kill -9 of the controller, a Kafka broker restart
 * and an API server restart mid-stream lose no event, and duplicates stay within the in-flight
 * window. Bounded in count and time; the counts are printed. The spawned controllers run as the
 * chart runs them, leader-elected (a Lease of this file's own, in its namespace): the one that
 * replaces a killed leader takes the Lease over and writes status again.
 */
import type { ChildProcess } from 'node:child_process';
import { grantLeases, restartComponent, stackEnv, uniqueName, withNamespace } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Recorder,
  createTopic,
  eventually,
  kafkaTrigger,
  kubeClient,
  produce,
  registerFunction,
  spawnController,
  startController,
  triggersPath,
  type RunningController,
} from '../../services/kafka-trigger/test/integration/harness.js';

const MAX_IN_FLIGHT = 50;
/** Leader election on, on a Lease of this file's own (the namespace is the test's); short timings so a killed leader's Lease expires quickly. */
const LEADER_ELECTION = { LEADER_ELECT: 'true', LEASE_NAME: 'kafka-trigger-chaos', LEASE_DURATION: '6s', LEASE_RENEW_DEADLINE: '4s', LEASE_RETRY_PERIOD: '1s' };
const waitExit = (c: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) resolve();
    else
      c.once('exit', () => {
        resolve();
      });
  });

describe('kafka-trigger chaos', () => {
  const client = kubeClient();
  let ns: { name: string; cleanup: () => Promise<void> };

  beforeAll(async () => {
    ns = await withNamespace('kafka-chaos');
    // The spawned controllers' Lease lives in this namespace (their POD_NAMESPACE).
    await grantLeases('kafka-trigger', ns.name);
  });

  afterAll(async () => {
    await ns.cleanup();
    client.close();
  });

  it('loses nothing when the controller is SIGKILLed three times during 50,000 messages', async () => {
    const N = 50_000;
    const topic = uniqueName('crash');
    await createTopic(topic, 4);
    const fn = new Recorder();
    await registerFunction(client, ns.name, 'crash', fn);
    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'crash', { topic, functionName: 'crash', initialOffset: 'earliest', delivery: { ordering: 'unordered', maxInFlight: MAX_IN_FLIGHT } }));
    await produce(topic, Array.from({ length: N }, (_, i) => ({ value: String(i) })));
    let child = spawnController(ns.name, 'crash-0', LEADER_ELECTION);
    const kills: number[] = [];
    try {
      for (const at of [N * 0.2, N * 0.45, N * 0.7]) {
        await eventually(`${String(at)} delivered`, () => Promise.resolve(fn.ids.size >= at ? true : undefined), 120_000);
        child.kill('SIGKILL');
        await waitExit(child);
        kills.push(fn.ids.size);
        child = spawnController(ns.name, `crash-${String(kills.length)}`, LEADER_ELECTION);
      }
      await eventually(`${String(N)} delivered`, () => Promise.resolve(fn.ids.size >= N ? true : undefined), 180_000);
      // The last replacement holds the Lease now and writes status: everything committed, Ready.
      await eventually(
        'the new leader reports lag 0 and Ready',
        async () => {
          const t = await client.get<any>(`${triggersPath(ns.name)}/crash`);
          return t.status?.lag === 0 && t.status?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True' ? true : undefined;
        },
        60_000,
      );
      expect((await client.get<{ spec?: { holderIdentity?: string } } & Record<string, unknown>>(`/apis/coordination.k8s.io/v1/namespaces/${ns.name}/leases/${LEADER_ELECTION.LEASE_NAME}`)).spec?.holderIdentity).toBe(`crash-${String(kills.length)}`);
    } finally {
      child.kill('SIGTERM');
      await waitExit(child);
      await fn.close();
    }
    const duplicates = fn.received.length - fn.ids.size;
    console.info(`crash test: ${String(N)} produced, ${String(fn.ids.size)} distinct delivered, ${String(fn.received.length)} requests, ${String(duplicates)} duplicates, kills at ${kills.join(', ')} delivered`);
    expect(new Set(fn.received.map((r) => r.body.toString())).size).toBe(N);
    expect(duplicates).toBeLessThanOrEqual(MAX_IN_FLIGHT * kills.length);
  }, 420_000);

  describe('component restarts', () => {
    let controller: RunningController;
    beforeAll(async () => {
      controller = await startController(ns.name);
    });
    afterAll(async () => {
      await controller.stop();
    });

    it('loses nothing when the Kafka broker restarts mid-stream, and shows the outage in status', async () => {
      const N = 5000;
      const topic = uniqueName('broker');
      await createTopic(topic, 2);
      const fn = new Recorder();
      fn.behaviour = () => ({ status: 200, delayMs: 2 });
      await registerFunction(client, ns.name, 'broker', fn);
      await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'broker', { topic, functionName: 'broker', initialOffset: 'earliest', delivery: { ordering: 'ordered' } }));
      await produce(topic, Array.from({ length: N }, (_, i) => ({ value: String(i) })));
      await eventually('1000 delivered', () => Promise.resolve(fn.ids.size >= 1000 ? true : undefined), 60_000);
      let sawOutage = false;
      const restart = restartComponent(stackEnv().KUBELESS_STACK_DIR, 'kafka', { downMs: 8000 });
      const watch = (async () => {
        const until = Date.now() + 15_000;
        while (!sawOutage && Date.now() < until) {
          const t = await client.get<any>(`${triggersPath(ns.name)}/broker`);
          sawOutage = t.status?.conditions?.some((c: any) => c.type === 'BrokerReachable' && c.status === 'False') ?? false;
          await new Promise((r) => setTimeout(r, 300));
        }
      })();
      await Promise.all([restart, watch]);
      expect(sawOutage).toBe(true);
      await eventually(`${String(N)} delivered after the restart`, () => Promise.resolve(fn.ids.size >= N ? true : undefined), 120_000);
      expect(new Set(fn.received.map((r) => r.body.toString())).size).toBe(N);
      await eventually('status recovers', async () => {
        const t = await client.get<any>(`${triggersPath(ns.name)}/broker`);
        return t.status?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True' ? true : undefined;
      }, 60_000);
      await fn.close();
    }, 240_000);

    it('loses nothing when the API server restarts mid-stream', async () => {
      const N = 5000;
      const topic = uniqueName('apiserver');
      await createTopic(topic, 2);
      const fn = new Recorder();
      fn.behaviour = () => ({ status: 200, delayMs: 2 });
      await registerFunction(client, ns.name, 'apiserver', fn);
      await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'apiserver', { topic, functionName: 'apiserver', initialOffset: 'earliest', delivery: { ordering: 'ordered' } }));
      await produce(topic, Array.from({ length: N }, (_, i) => ({ value: String(i) })));
      await eventually('1000 delivered', () => Promise.resolve(fn.ids.size >= 1000 ? true : undefined), 60_000);
      await restartComponent(stackEnv().KUBELESS_STACK_DIR, 'kube-apiserver', { downMs: 3000 });
      await eventually(`${String(N)} delivered after the restart`, () => Promise.resolve(fn.ids.size >= N ? true : undefined), 120_000);
      expect(new Set(fn.received.map((r) => r.body.toString())).size).toBe(N);
      // Delivery also resumes for new work after the restart: the caches reconnected.
      await produce(topic, [{ value: 'after' }]);
      await eventually('after delivered', () => Promise.resolve(fn.received.some((r) => r.body.toString() === 'after') ? true : undefined), 30_000);
      await fn.close();
    }, 240_000);
  });
});
