/**
 * Partitions are independent (docs/delivery.md#retries): a record backing off parks, so the client goes
 * on fetching the broker's other partitions (and, unordered, the same partition's next records).
 * Before, one batch waiting on a retry held its broker's fetcher: every partition on that broker
 * stopped until the record went through.
 */
import { uniqueName, withNamespace } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder, createTopic, eventually, kafkaTrigger, kubeClient, produce, registerFunction, startController, triggersPath, type RunningController } from './harness.js';

const PER_PARTITION = 300;

describe('kafka-trigger: independent partitions', () => {
  const client = kubeClient();
  let ns: { name: string; cleanup: () => Promise<void> };
  let controller: RunningController;

  beforeAll(async () => {
    ns = await withNamespace('kafka-independent');
    controller = await startController(ns.name);
  }, 60_000);

  afterAll(async () => {
    await controller.stop();
    await ns.cleanup();
    client.close();
  });

  it.each(['ordered', 'unordered'] as const)('%s: a partition blocked on a failing record holds back none of the other three', async (mode) => {
    const name = `blocked-${mode}`;
    const topic = uniqueName(name);
    await createTopic(topic, 4);
    const fn = new Recorder();
    // The poison record fails every time; each retry waits 5 s (it never runs out of retries here).
    fn.behaviour = (r) => ({ status: r.body.toString() === 'poison' ? 500 : 200 });
    await registerFunction(client, ns.name, name, fn);
    await client.create(
      triggersPath(ns.name),
      kafkaTrigger(ns.name, name, { topic, functionName: name, initialOffset: 'earliest', delivery: { ordering: mode, retry: 1000, backoffPolicy: 'linear', backoffDelay: '5s', backoffMax: '5s' } }),
    );
    await produce(topic, [{ value: 'poison', partition: 0 }]);
    await eventually('the poison record failed once', () => Promise.resolve((fn.byId.get('partition:0/offset:0')?.length ?? 0) >= 1 ? true : undefined), 30_000);
    // Produced while partition 0 waits on its retry.
    await produce(
      topic,
      [0, 1, 2, 3].flatMap((partition) => Array.from({ length: PER_PARTITION }, (_, i) => ({ value: `p${String(partition)}-${String(i)}`, partition }))),
    );
    const delivered = (partition: number): number => [...fn.byId.keys()].filter((id) => id.startsWith(`partition:${String(partition)}/`)).length;
    await eventually(
      'the other three partitions delivered everything',
      () => Promise.resolve([1, 2, 3].every((p) => delivered(p) >= PER_PARTITION) ? true : undefined),
      20_000,
    );
    const poisonAttempts = fn.byId.get('partition:0/offset:0')?.length ?? 0;
    if (mode === 'unordered') {
      // Its own partition's next records do not wait for it either.
      await eventually('partition 0 delivered everything after the poison record', () => Promise.resolve(delivered(0) >= PER_PARTITION + 1 ? true : undefined), 20_000);
    } else {
      // Ordered: nothing passes the record; the partition waits (paused) for it.
      expect(delivered(0)).toBe(1);
    }
    // The others went through while the record was still failing (a handful of attempts, 5 s apart).
    expect(poisonAttempts).toBeLessThanOrEqual(6);
    await client.delete(`${triggersPath(ns.name)}/${name}`);
    await fn.close();
  }, 90_000);
});
