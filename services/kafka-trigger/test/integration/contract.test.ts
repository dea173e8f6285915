/**
 * What a function receives, what the status says about bad input, and how fast changes apply:
 * payloads arrive unchanged with a suitable content type, the original kubeless headers are sent,
 * selector/topic/broker problems show in status, and selector or label changes start and stop
 * delivery within 10 s.
 */
import { uniqueName, withNamespace } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder, createTopic, eventually, kafka, kafkaTrigger, kubeClient, produce, registerFunction, startController, triggersPath, type RunningController } from './harness.js';

/** The `kubeless_kafka_consumer_lag` series of a trigger, as `topic/partition` (what a scrape shows). */
const lagSeries = async (c: RunningController, trigger: string): Promise<string[]> => {
  const values = (await c.registry.getSingleMetric('kubeless_kafka_consumer_lag')?.get())?.values ?? [];
  return values.filter((v) => v.labels.trigger === trigger).map((v) => `${String(v.labels.topic)}/${String(v.labels.partition)}`).sort();
};

const condition = async (client: ReturnType<typeof kubeClient>, ns: string, name: string, type: string): Promise<{ status: string; reason: string; message: string } | undefined> => {
  const t = await client.get<any>(`${triggersPath(ns)}/${name}`);
  return t.status?.conditions?.find((c: any) => c.type === type);
};

describe('kafka-trigger contract', () => {
  const client = kubeClient();
  let ns: { name: string; cleanup: () => Promise<void> };
  let controller: RunningController;

  beforeAll(async () => {
    ns = await withNamespace('kafka-contract');
    controller = await startController(ns.name);
  }, 60_000);

  afterAll(async () => {
    await controller.stop();
    await ns.cleanup();
    client.close();
  });

  it('forwards non-JSON, binary and empty payloads unchanged, with a content type and the original kubeless headers', async () => {
    const topic = uniqueName('payloads');
    await createTopic(topic, 1);
    const fn = new Recorder();
    await registerFunction(client, ns.name, 'payloads', fn, { app: 'payloads' });
    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'payloads', { topic, functionSelector: { matchLabels: { app: 'payloads' } }, initialOffset: 'earliest' }));
    const binary = Buffer.from([0, 159, 146, 150, 255, 1]);
    await produce(topic, [
      { value: 'plain text, not JSON' },
      { value: binary },
      { value: null },
      { value: '{"hello":"world"}', key: 'the-key', headers: { 'X-Trace': 'abc' } },
      { value: '<a/>', headers: { 'content-type': 'application/xml' } },
    ]);
    await eventually('5 received', () => Promise.resolve(fn.ids.size >= 5 ? true : undefined), 30_000);
    const at = (o: number) => fn.byId.get(`partition:0/offset:${String(o)}`)?.[0];
    expect(at(0)?.body.toString()).toBe('plain text, not JSON');
    expect(at(0)?.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(at(1)?.body.equals(binary)).toBe(true);
    expect(at(1)?.headers['content-type']).toBe('application/octet-stream');
    expect(at(2)?.body.length).toBe(0);
    expect(at(3)?.headers['content-type']).toBe('application/json');
    expect(at(3)?.headers['ce-partitionkey']).toBe('the-key');
    expect(at(3)?.headers['ce-kafkaheaderxtrace']).toBe('abc');
    expect(at(4)?.headers['content-type']).toBe('application/xml');
    // The original kubeless event headers (docs/delivery.md#the-contract).
    const h = at(3)?.headers ?? {};
    expect(h['event-id']).toBe('partition:0/offset:3');
    expect(h['event-type']).toBe('application/json');
    expect(h['event-namespace']).toBe('kafkatriggers.kubeless.io');
    expect(h['event-topic']).toBe(topic);
    expect(Number.isNaN(Date.parse(String(h['event-time'])))).toBe(false);
    expect(h['ce-type']).toBe('io.kubeless.kafka.message');
    await fn.close();
  }, 60_000);

  it('reports a selector that matches nothing, a missing topic and an unreachable broker in status', async () => {
    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'nobody', { topic: 'anything', functionSelector: { matchLabels: { app: 'nobody-has-this' } } }));
    const fns = await eventually('FunctionsResolved False', async () => {
      const c = await condition(client, ns.name, 'nobody', 'FunctionsResolved');
      return c?.status === 'False' ? c : undefined;
    });
    expect(fns.reason).toBe('NoFunctionsMatched');
    expect((await condition(client, ns.name, 'nobody', 'Ready'))?.status).toBe('False');

    const fn = new Recorder();
    await registerFunction(client, ns.name, 'lonely', fn);
    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'notopic', { topic: uniqueName('missing'), functionName: 'lonely' }));
    const topicCond = await eventually('TopicsExist False', async () => {
      const c = await condition(client, ns.name, 'notopic', 'TopicsExist');
      return c?.status === 'False' ? c : undefined;
    });
    expect(topicCond.reason).toBe('TopicNotFound');

    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'nobroker', { topic: 'x', functionName: 'lonely', brokers: ['127.0.0.1:1'] }));
    const broker = await eventually('BrokerReachable False', async () => {
      const c = await condition(client, ns.name, 'nobroker', 'BrokerReachable');
      return c?.status === 'False' ? c : undefined;
    }, 40_000);
    expect(broker.reason).toBe('KafkaUnreachable');
    expect((await condition(client, ns.name, 'nobroker', 'Ready'))?.reason).toBe('KafkaUnreachable');
    await fn.close();
  }, 90_000);

  it('starts and stops delivery within 10 s when the selector changes or a function is relabelled', async () => {
    const topic = uniqueName('moving');
    await createTopic(topic, 2);
    const a = new Recorder();
    const b = new Recorder();
    await registerFunction(client, ns.name, 'fn-a', a, { team: 'a' });
    await registerFunction(client, ns.name, 'fn-b', b, { team: 'b' });
    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'moving', { topic, functionSelector: { matchLabels: { team: 'a' } } }));
    const send = async (tag: string): Promise<void> => {
      await produce(topic, [{ value: tag, partition: 0 }, { value: tag, partition: 1 }]);
    };
    const got = (r: Recorder, tag: string): boolean => r.received.filter((x) => x.body.toString() === tag).length >= 2;
    // initialOffset latest: wait until the group is joined before producing.
    await eventually('joined', async () => ((await condition(client, ns.name, 'moving', 'ConsumerGroupJoined'))?.status === 'True' ? true : undefined), 30_000);
    await send('one');
    await eventually('a gets one', () => Promise.resolve(got(a, 'one') ? true : undefined), 10_000);

    // The selector moves to team b: a stops, b starts.
    await client.mergePatch(`${triggersPath(ns.name)}/moving`, { spec: { functionSelector: { matchLabels: { team: 'b' } } } });
    await eventually('b joined', async () => ((await client.get<any>(`${triggersPath(ns.name)}/moving`)).status?.functions?.[0] === 'fn-b' && (await condition(client, ns.name, 'moving', 'ConsumerGroupJoined'))?.status === 'True' ? true : undefined), 10_000);
    await send('two');
    await eventually('b gets two', () => Promise.resolve(got(b, 'two') ? true : undefined), 10_000);

    // fn-a is relabelled into the selector: it starts too; fn-b relabelled out: it stops.
    const relabelledAt = Date.now();
    await client.mergePatch(`/apis/kubeless.io/v1beta1/namespaces/${ns.name}/functions/fn-a`, { metadata: { labels: { team: 'b' } } });
    await client.mergePatch(`/apis/kubeless.io/v1beta1/namespaces/${ns.name}/functions/fn-b`, { metadata: { labels: { team: 'c' } } });
    await eventually('a joined again', async () => {
      const t = await client.get<any>(`${triggersPath(ns.name)}/moving`);
      return JSON.stringify(t.status?.functions) === '["fn-a"]' && (await condition(client, ns.name, 'moving', 'ConsumerGroupJoined'))?.status === 'True' ? true : undefined;
    }, 10_000);
    // fn-b's consumer has left its group (the trigger stopped it) within 10 s.
    const admin = kafka().admin();
    await admin.connect();
    await eventually('fn-b group empty', async () => {
      const { groups } = await admin.describeGroups([`kubeless.${ns.name}.moving.fn-b`]);
      return groups[0]?.members.length === 0 ? true : undefined;
    }, 10_000);
    await admin.disconnect();
    await send('three');
    await eventually('a gets three', () => Promise.resolve(got(a, 'three') ? true : undefined), 10_000);
    await new Promise((r) => setTimeout(r, 1000));
    // While unselected fn-a got nothing; once selected again its group resumes from its own commits.
    expect(a.received.some((x) => x.body.toString() === 'two' && x.at < relabelledAt)).toBe(false);
    expect(b.received.some((x) => x.body.toString() === 'three')).toBe(false);

    // The topic changes: the new one is consumed (from its latest offset), the old one no longer.
    const topic2 = uniqueName('moved');
    await createTopic(topic2, 1);
    await client.mergePatch(`${triggersPath(ns.name)}/moving`, { spec: { topic: topic2 } });
    await eventually('joined on the new topic', async () => {
      const admin2 = kafka().admin();
      await admin2.connect();
      try {
        const { groups } = await admin2.describeGroups([`kubeless.${ns.name}.moving.fn-a`]);
        const g = groups[0];
        const topics = (g?.members ?? []).map((m) => m.memberAssignment.toString('latin1'));
        return g?.state === 'Stable' && topics.some((t) => t.includes(topic2)) ? true : undefined;
      } finally {
        await admin2.disconnect();
      }
    }, 10_000);
    await produce(topic2, [{ value: 'five' }]);
    await send('old-topic');
    await eventually('a gets five', () => Promise.resolve(a.received.some((x) => x.body.toString() === 'five') ? true : undefined), 10_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(a.received.some((x) => x.body.toString() === 'old-topic')).toBe(false);
    // The lag metric follows: the old topic's consumers stopped, so their last values are gone.
    expect(await lagSeries(controller, 'moving')).toEqual([`${topic2}/0`]);

    // Deleting the trigger stops delivery.
    await client.delete(`${triggersPath(ns.name)}/moving`);
    await new Promise((r) => setTimeout(r, 2000));
    await send('four');
    await new Promise((r) => setTimeout(r, 3000));
    expect(a.received.some((x) => x.body.toString() === 'four')).toBe(false);
    expect(await lagSeries(controller, 'moving')).toEqual([]);
    await a.close();
    await b.close();
  }, 120_000);
});
