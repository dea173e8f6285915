/** Two replicas share each trigger's consumer group: both deliver, and nothing twice outside a rebalance. */
import { uniqueName, withNamespace } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder, createTopic, eventually, kafka, kafkaTrigger, kubeClient, produce, registerFunction, startController, triggersPath, type RunningController } from './harness.js';

const delivered = async (c: RunningController): Promise<number> => {
  const m = await c.registry.getSingleMetric('kubeless_delivery_delivered_total')?.get();
  return (m?.values ?? []).reduce((n, v) => n + v.value, 0);
};

describe('kafka-trigger replicas', () => {
  const client = kubeClient();
  let ns: { name: string; cleanup: () => Promise<void> };
  const controllers: RunningController[] = [];

  beforeAll(async () => {
    ns = await withNamespace('kafka-replicas');
  });

  afterAll(async () => {
    for (const c of controllers) await c.stop();
    await ns.cleanup();
    client.close();
  });

  it('spreads the partitions over both replicas; each message is delivered once', async () => {
    const N = 4000;
    const topic = uniqueName('shared');
    await createTopic(topic, 4);
    const fn = new Recorder();
    await registerFunction(client, ns.name, 'shared', fn);
    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'shared', { topic, functionName: 'shared', initialOffset: 'earliest', delivery: { ordering: 'unordered', maxInFlight: 20 } }));
    controllers.push(await startController(ns.name), await startController(ns.name));
    const admin = kafka().admin();
    await admin.connect();
    await eventually('two members, stable', async () => {
      const { groups } = await admin.describeGroups([`kubeless.${ns.name}.shared.shared`]);
      return groups[0]?.state === 'Stable' && groups[0].members.length === 2 ? true : undefined;
    }, 30_000);
    await admin.disconnect();
    await produce(topic, Array.from({ length: N }, (_, i) => ({ value: String(i) })));
    await eventually(`${String(N)} delivered`, () => Promise.resolve(fn.ids.size >= N ? true : undefined), 60_000);
    // The trigger counts a delivery once the answer is back, a moment after the function saw it.
    const [a, b] = await eventually('metrics caught up', async () => {
      const counts = await Promise.all(controllers.map(delivered));
      return counts.reduce((n, x) => n + x, 0) >= fn.received.length ? counts : undefined;
    }, 10_000);
    console.info(`replicas: ${String(a)} + ${String(b)} deliveries for ${String(N)} messages, ${String(fn.received.length - fn.ids.size)} duplicates`);
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(0);
    expect((a ?? 0) + (b ?? 0)).toBe(fn.received.length);
    expect(fn.received.length).toBe(N);
  }, 120_000);
});
