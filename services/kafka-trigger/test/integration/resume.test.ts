/**
 * A resumed partition fetches at once (kafkajs-paused-fetch.ts): with the trigger's default 5 s
 * long poll, an ordered partition whose record backed off used to wait for kafkajs's blind sleep
 * of 5 s after its retry succeeded before the records behind it were fetched. Against the real
 * broker, with the product's fetch wait.
 */
import { uniqueName, withNamespace } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder, createTopic, eventually, kafkaTrigger, kubeClient, produce, registerFunction, startController, triggersPath, type RunningController } from './harness.js';

describe('kafka-trigger: a resumed partition', () => {
  const client = kubeClient();
  let ns: { name: string; cleanup: () => Promise<void> };
  let controller: RunningController;

  beforeAll(async () => {
    ns = await withNamespace('kafka-resume');
    // The product's long poll (KAFKA_FETCH_MAX_WAIT, at most a third of the session timeout), not the tests' short one.
    controller = await startController(ns.name, { fetchMaxWaitMs: 5000, sessionTimeoutMs: 30_000, heartbeatIntervalMs: 3000 });
  }, 60_000);

  afterAll(async () => {
    await controller.stop();
    await ns.cleanup();
    client.close();
  });

  it('ordered: the records behind one that backed off are fetched as soon as its retry succeeds, not after the 5 s long poll', async () => {
    const topic = uniqueName('resume');
    await createTopic(topic, 1);
    const fn = new Recorder();
    fn.behaviour = (r, attempt) => ({ status: r.headers['ce-id'] === 'partition:0/offset:0' && attempt === 1 ? 503 : 200 });
    await registerFunction(client, ns.name, 'resumed', fn);
    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'resumed', { topic, functionName: 'resumed', initialOffset: 'earliest', delivery: { ordering: 'ordered', backoffDelay: '1s', backoffMax: '1s' } }));
    await produce(topic, [{ value: 'r0' }]);
    // Record 0 failed once and backs off (its partition is paused meanwhile); the next records arrive now.
    await eventually('the first attempt of offset 0', () => Promise.resolve(fn.byId.has('partition:0/offset:0') ? true : undefined), 30_000);
    await produce(topic, Array.from({ length: 4 }, (_, i) => ({ value: `r${String(i + 1)}` })));
    await eventually('offsets 0-4 delivered', () => Promise.resolve([0, 1, 2, 3, 4].every((o) => fn.byId.has(`partition:0/offset:${String(o)}`)) ? true : undefined), 30_000);
    const first = fn.byId.get('partition:0/offset:0') ?? [];
    expect(first.length).toBe(2);
    const next = fn.byId.get('partition:0/offset:1')?.[0];
    const gap = (next?.at ?? 0) - (first[1]?.at ?? 0);
    // About 4 s before the fix (the rest of the 5 s long poll kafkajs slept from the pause on).
    console.log(`resume: offset 1 delivered ${String(gap)} ms after offset 0's retry`);
    expect(gap).toBeGreaterThanOrEqual(0);
    expect(gap).toBeLessThan(1500);
    await fn.close();
  }, 60_000);
});
