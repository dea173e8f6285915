/**
 * Every message arrives, in the order each mode promises: 10,000 messages over 4 partitions,
 * delivered by three triggers (ordered, key-ordered, unordered) to three recording functions.
 */
import { uniqueName, withNamespace } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder, createTopic, eventually, kafkaTrigger, kubeClient, produce, registerFunction, startController, triggersPath, type RunningController } from './harness.js';

const N = 10_000;
const PARTITIONS = 4;
const KEYS = 40;
/** One key for all of a second topic's messages: a hot key in key-ordered mode. */
const HOT = 1_000;

describe('kafka-trigger delivery', () => {
  const client = kubeClient();
  let ns: { name: string; cleanup: () => Promise<void> };
  let controller: RunningController;
  const topic = uniqueName('orders');
  const hotTopic = uniqueName('hot');
  const fns = { ordered: new Recorder(), keyed: new Recorder(), unordered: new Recorder() };
  const hot = new Recorder();

  beforeAll(async () => {
    ns = await withNamespace('kafka-delivery');
    await createTopic(topic, PARTITIONS);
    await createTopic(hotTopic, 1);
    await registerFunction(client, ns.name, 'fn-hot', hot);
    // A little latency at the function so concurrency limits matter.
    for (const r of Object.values(fns)) r.behaviour = () => ({ status: 200, delayMs: 1 });
    await registerFunction(client, ns.name, 'fn-ordered', fns.ordered, { mode: 'ordered' });
    await registerFunction(client, ns.name, 'fn-keyed', fns.keyed, { mode: 'keyed' });
    await registerFunction(client, ns.name, 'fn-unordered', fns.unordered, { mode: 'unordered' });
    const delivery = { timeout: '5s', backoffDelay: '50ms', backoffMax: '500ms' };
    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'ordered', { topic, functionSelector: { matchLabels: { mode: 'ordered' } }, initialOffset: 'earliest', delivery: { ...delivery, ordering: 'ordered' } }));
    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'keyed', { topic, functionName: 'fn-keyed', initialOffset: 'earliest', delivery: { ...delivery, ordering: 'key-ordered', maxInFlight: 16 } }));
    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'unordered', { topics: [topic], functionName: 'fn-unordered', initialOffset: 'earliest', delivery: { ...delivery, ordering: 'unordered', maxInFlight: 20 } }));
    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'hot', { topic: hotTopic, functionName: 'fn-hot', initialOffset: 'earliest', delivery: { ...delivery, ordering: 'key-ordered', maxInFlight: 16 } }));
    controller = await startController(ns.name);
    const messages = Array.from({ length: N }, (_, i) => ({ key: `k${String(i % KEYS)}`, value: JSON.stringify({ i, key: `k${String(i % KEYS)}` }) }));
    await produce(topic, messages);
  }, 120_000);

  afterAll(async () => {
    await controller.stop();
    for (const r of [...Object.values(fns), hot]) await r.close();
    await ns.cleanup();
    client.close();
  });

  it('delivers every message at least once to every mode, with the id partition:<p>/offset:<o>', async () => {
    for (const [mode, r] of Object.entries(fns)) {
      await eventually(`${mode} received ${String(N)}`, () => Promise.resolve(r.ids.size >= N ? true : undefined), 90_000);
    }
    const triggerOf = { ordered: 'ordered', keyed: 'keyed', unordered: 'unordered' } as const;
    for (const [mode, r] of Object.entries(fns) as [keyof typeof fns, Recorder][]) {
      const ids = [...r.ids];
      const times = r.received.map((x) => x.at);
      console.info(`${mode}: ${String(r.received.length)} requests for ${String(ids.length)} ids in ${String(Math.max(...times) - Math.min(...times))} ms, max ${String(r.maxInFlight)} in flight`);
      expect(ids.every((id) => /^partition:[0-3]\/offset:\d+$/u.test(id))).toBe(true);
      const values = new Set(r.received.map((x) => (JSON.parse(x.body.toString()) as { i: number }).i));
      expect(values.size).toBe(N);
      const first = r.received[0];
      expect(first?.headers['ce-source']).toBe(`/apis/v1/namespaces/${ns.name}/kafkatriggers/${triggerOf[mode]}#${topic}`);
      expect(first?.headers['ce-specversion']).toBe('1.0');
      expect(first?.headers['content-type']).toBe('application/json');
    }
  }, 120_000);

  it('ordered keeps per-partition order', () => {
    const lastOffset = new Map<string, number>();
    for (const r of fns.ordered.received) {
      const [p, o] = String(r.headers['ce-id']).replace('partition:', '').split('/offset:').map(Number) as [number, number];
      const prev = lastOffset.get(String(p)) ?? -1;
      expect(o).toBeGreaterThan(prev);
      lastOffset.set(String(p), o);
    }
    expect(lastOffset.size).toBe(PARTITIONS);
  });

  it('key-ordered keeps per-key order while keys run in parallel', () => {
    const last = new Map<string, number>();
    for (const r of fns.keyed.received) {
      const { i, key } = JSON.parse(r.body.toString()) as { i: number; key: string };
      expect(i).toBeGreaterThan(last.get(key) ?? -1);
      last.set(key, i);
    }
    expect(last.size).toBe(KEYS);
    expect(fns.keyed.maxInFlight).toBeGreaterThan(1);
    expect(fns.keyed.maxInFlight).toBeLessThanOrEqual(16);
  });

  it('a hot key keeps its order and does not cost an offset commit per message', async () => {
    // Produced once the other triggers are done, so the chain runs at the function's own pace.
    await produce(hotTopic, Array.from({ length: HOT }, (_, i) => ({ key: 'hot', value: JSON.stringify({ i }) })));
    await eventually(`hot received ${String(HOT)}`, () => Promise.resolve(hot.ids.size >= HOT ? true : undefined), 60_000);
    const order = hot.received.map((r) => (JSON.parse(r.body.toString()) as { i: number }).i);
    expect(order).toEqual(Array.from({ length: HOT }, (_, i) => i));
    expect(hot.maxInFlight).toBe(1);
    // Every message is the only one delivering when it finishes (its successor has not started):
    // committing then, as if nothing else were coming, made one OffsetCommit per message. Now a
    // commit starts when half the window (8) finished, or after the 5 ms delay under pressure:
    // at most one per 8 messages or per 5 ms of the run (plus slack for partial batches).
    const elapsedMs = (hot.received.at(-1)?.at ?? 0) - (hot.received[0]?.at ?? 0);
    const commits = await eventually('the hot trigger finished its last batch', async () => {
      const values = (await controller.registry.getSingleMetric('kubeless_kafka_offset_commits_total')?.get())?.values ?? [];
      const lag = (await controller.registry.getSingleMetric('kubeless_kafka_consumer_lag')?.get())?.values ?? [];
      const done = lag.some((v) => v.labels.trigger === 'hot' && v.value === 0);
      return done ? values.filter((v) => v.labels.trigger === 'hot').reduce((n, v) => n + v.value, 0) : undefined;
    }, 30_000);
    console.info(`hot key: ${String(HOT)} messages in ${String(elapsedMs)} ms, ${String(commits)} offset commits`);
    expect(commits).toBeGreaterThan(0);
    expect(commits).toBeLessThan(HOT / 8 + elapsedMs / 5 + 20);
  }, 90_000);

  it('unordered never has more than maxInFlight requests in flight at the function', () => {
    expect(fns.unordered.maxInFlight).toBeGreaterThan(1);
    expect(fns.unordered.maxInFlight).toBeLessThanOrEqual(20);
  });

  it('reports Ready, the functions and zero lag in status', async () => {
    const status = await eventually('status settles', async () => {
      const t = await client.get<any>(`${triggersPath(ns.name)}/unordered`);
      return t.status?.lag === 0 && t.status?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True' ? t.status : undefined;
    }, 30_000);
    expect(status.functions).toEqual(['fn-unordered']);
    const types = Object.fromEntries(status.conditions.map((c: any) => [c.type, c.status]));
    const lag = (await controller.registry.getSingleMetric('kubeless_kafka_consumer_lag')?.get())?.values ?? [];
    const unorderedLag = lag.filter((v) => v.labels.trigger === 'unordered');
    expect(unorderedLag.map((v) => v.labels.partition).sort()).toEqual(['0', '1', '2', '3']);
    expect(unorderedLag.every((v) => v.value === 0)).toBe(true);
    expect(types).toMatchObject({ Ready: 'True', FunctionsResolved: 'True', ConsumerGroupJoined: 'True', TopicsExist: 'True', DeadLetterReady: 'True', Stalled: 'False', BrokerReachable: 'True' });
  }, 40_000);
});
