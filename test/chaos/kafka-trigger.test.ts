/**
 * Reliability of the Kafka trigger (docs/delivery.md#commit-window): kill -9 of the controller, a
 * Kafka broker restart and an API server restart mid-stream lose no event, and duplicates stay
 * within the commit window (`delivery.commitWindow` records per partition). Bounded in count and
 * time; the counts are printed. The spawned controllers run as the chart runs them, leader-elected
 * (a Lease of this file's own, in its namespace): the one that replaces a killed leader takes the
 * Lease over and writes status again.
 */
import type { ChildProcess } from 'node:child_process';
import { grantLeases, restartComponent, stackEnv, uniqueName, withNamespace } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Recorder,
  createTopic,
  eventually,
  kafkaTrigger,
  kafkaTestClient as kubeClient,
  produce,
  registerFunction,
  spawnKafkaTrigger as spawnController,
  startKafkaTrigger as startController,
  kafkaTriggersPath as triggersPath,
  type RunningKafkaTrigger as RunningController,
} from '@kubeless/stack';

const MAX_IN_FLIGHT = 50;
/** The commit window of the crash test's triggers: records per partition a crash may repeat. */
const COMMIT_WINDOW = 200;
const PARTITIONS = 4;
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

  it('loses nothing in any mode when the controller is SIGKILLed three times during 15,000 messages, and repeats at most the commit window', async () => {
    // One trigger per ordering mode, all at once, each on its own 4-partition topic.
    const PER_MODE = 5000;
    const modes = ['unordered', 'key-ordered', 'ordered'] as const;
    const runs = await Promise.all(
      modes.map(async (mode) => {
        const name = `crash-${mode}`;
        const topic = uniqueName(name);
        await createTopic(topic, PARTITIONS);
        const fn = new Recorder();
        await registerFunction(client, ns.name, name, fn);
        await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, name, { topic, functionName: name, initialOffset: 'earliest', delivery: { ordering: mode, maxInFlight: MAX_IN_FLIGHT, commitWindow: COMMIT_WINDOW } }));
        await produce(topic, Array.from({ length: PER_MODE }, (_, i) => ({ key: `k${String(i % 64)}`, value: String(i) })));
        return { mode, name, fn };
      }),
    );
    const delivered = (): number => runs.reduce((n, r) => n + r.fn.ids.size, 0);
    const total = PER_MODE * modes.length;
    let child = spawnController(ns.name, 'crash-0', LEADER_ELECTION);
    const kills: number[] = [];
    try {
      for (const at of [total * 0.2, total * 0.45, total * 0.7]) {
        await eventually(`${String(at)} delivered`, () => Promise.resolve(delivered() >= at ? true : undefined), 120_000);
        child.kill('SIGKILL');
        await waitExit(child);
        kills.push(delivered());
        child = spawnController(ns.name, `crash-${String(kills.length)}`, LEADER_ELECTION);
      }
      await eventually(`${String(total)} delivered`, () => Promise.resolve(delivered() >= total ? true : undefined), 180_000);
      // The last replacement holds the Lease now and writes status: everything committed, Ready.
      for (const r of runs) {
        await eventually(
          `${r.name}: the new leader reports lag 0 and Ready`,
          async () => {
            const t = await client.get<any>(`${triggersPath(ns.name)}/${r.name}`);
            return t.status?.lag === 0 && t.status?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True' ? true : undefined;
          },
          60_000,
        );
      }
      expect((await client.get<{ spec?: { holderIdentity?: string } } & Record<string, unknown>>(`/apis/coordination.k8s.io/v1/namespaces/${ns.name}/leases/${LEADER_ELECTION.LEASE_NAME}`)).spec?.holderIdentity).toBe(`crash-${String(kills.length)}`);
    } finally {
      child.kill('SIGTERM');
      await waitExit(child);
      await Promise.all(runs.map((r) => r.fn.close()));
    }
    for (const r of runs) {
      const duplicates = r.fn.received.length - r.fn.ids.size;
      console.info(`crash test ${r.mode}: ${String(PER_MODE)} produced, ${String(r.fn.ids.size)} distinct delivered, ${String(r.fn.received.length)} requests, ${String(duplicates)} duplicates, kills at ${kills.join(', ')} delivered (all modes)`);
      expect(new Set(r.fn.received.map((x) => x.body.toString())).size).toBe(PER_MODE);
      // A crash repeats at most what each partition dispatched since its last commit: its commit window.
      expect(duplicates).toBeLessThanOrEqual(COMMIT_WINDOW * PARTITIONS * kills.length);
    }
  }, 420_000);

  describe('component restarts', () => {
    // Two replicas: every trigger's group has two members, as with the chart's two replicas.
    let controllers: RunningController[] = [];
    beforeAll(async () => {
      controllers = await Promise.all([startController(ns.name), startController(ns.name)]);
    });
    afterAll(async () => {
      await Promise.all(controllers.map((c) => c.stop()));
    });

    it('loses nothing in any mode when the Kafka broker restarts mid-stream, repeats at most the commit window, never delivers one partition twice at once in ordered mode, and shows the outage in status', async () => {
      const N = 2000;
      // Review F18: a broker restart while an ordered partition's long deliveries are in flight
      // (a rejoin from kafkajs's fetch path, failed heartbeats, a moved coordinator) must never
      // let the two members deliver one partition at the same time. 1.5 s per record, in flight
      // at the function from the request's start until its reply ends or the trigger drops it.
      const LONG = 12;
      const longTopic = uniqueName('broker-long');
      await createTopic(longTopic, 2);
      const long = new Recorder();
      long.behaviour = () => ({ status: 200, delayMs: 1500 });
      long.inFlightKey = (h) => String(h['ce-kafkapartition']);
      await registerFunction(client, ns.name, 'broker-long', long);
      await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'broker-long', { topic: longTopic, functionName: 'broker-long', initialOffset: 'earliest', delivery: { ordering: 'ordered', commitWindow: COMMIT_WINDOW } }));
      await produce(longTopic, Array.from({ length: LONG }, (_, i) => ({ key: `k${String(i % 4)}`, value: String(i) })));
      const modes = ['ordered', 'key-ordered', 'unordered'] as const;
      const runs = await Promise.all(
        modes.map(async (mode) => {
          const name = `broker-${mode}`;
          const topic = uniqueName(name);
          await createTopic(topic, 2);
          const fn = new Recorder();
          fn.behaviour = () => ({ status: 200, delayMs: 2 });
          await registerFunction(client, ns.name, name, fn);
          await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, name, { topic, functionName: name, initialOffset: 'earliest', delivery: { ordering: mode, commitWindow: COMMIT_WINDOW } }));
          await produce(topic, Array.from({ length: N }, (_, i) => ({ key: `k${String(i % 16)}`, value: String(i) })));
          return { mode, name, fn };
        }),
      );
      await eventually('400 delivered in each mode, and the long deliveries under way', () => Promise.resolve(runs.every((r) => r.fn.ids.size >= 400) && long.received.length >= 2 ? true : undefined), 60_000);
      const longBefore = long.ids.size;
      let sawOutage = false;
      const restart = restartComponent(stackEnv().KUBELESS_STACK_DIR, 'kafka', { downMs: 8000 });
      const watch = (async () => {
        const until = Date.now() + 15_000;
        while (!sawOutage && Date.now() < until) {
          const t = await client.get<any>(`${triggersPath(ns.name)}/broker-ordered`);
          sawOutage = t.status?.conditions?.some((c: any) => c.type === 'BrokerReachable' && c.status === 'False') ?? false;
          await new Promise((r) => setTimeout(r, 300));
        }
      })();
      await Promise.all([restart, watch]);
      expect(sawOutage).toBe(true);
      for (const r of runs) {
        await eventually(`${r.name}: ${String(N)} delivered after the restart`, () => Promise.resolve(r.fn.ids.size >= N ? true : undefined), 120_000);
        const duplicates = r.fn.received.length - r.fn.ids.size;
        console.info(`broker restart ${r.mode}: ${String(N)} produced, ${String(r.fn.ids.size)} distinct delivered, ${String(duplicates)} duplicates`);
        expect(new Set(r.fn.received.map((x) => x.body.toString())).size).toBe(N);
        expect(duplicates).toBeLessThanOrEqual(COMMIT_WINDOW * 2);
      }
      await eventually(`broker-long: ${String(LONG)} delivered after the restart`, () => Promise.resolve(long.ids.size >= LONG ? true : undefined), 120_000);
      console.info(`broker restart, ordered with 1.5 s deliveries on two members: ${String(longBefore)} of ${String(LONG)} delivered before the restart, ${String(long.received.length - long.ids.size)} duplicates, most in flight per partition ${JSON.stringify(Object.fromEntries(long.maxInFlightByKey))}`);
      expect(new Set(long.received.map((x) => x.body.toString())).size).toBe(LONG);
      expect(long.maxInFlightByKey.size).toBe(2);
      for (const [partition, most] of long.maxInFlightByKey) expect(most, `partition ${partition}`).toBe(1);
      // In order within each partition: every record's first delivery comes after its predecessor's.
      for (const p of long.maxInFlightByKey.keys()) {
        const firsts = [...new Map(long.received.filter((x) => String(x.headers['ce-kafkapartition']) === p).map((x) => [Number(x.headers['ce-kafkaoffset']), x.at] as const).reverse()).entries()].sort((a, b) => a[0] - b[0]);
        for (let i = 1; i < firsts.length; i++) expect(firsts[i]![1], `partition ${p} offset ${String(firsts[i]![0])}`).toBeGreaterThanOrEqual(firsts[i - 1]![1]);
      }
      await eventually('status recovers', async () => {
        const t = await client.get<any>(`${triggersPath(ns.name)}/broker-ordered`);
        return t.status?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True' ? true : undefined;
      }, 60_000);
      await Promise.all([...runs.map((r) => r.fn.close()), long.close()]);
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
