/**
 * Issue 19, robustness of the Kafka runner, against the real broker:
 *  - a dead letter that can never succeed (the dead-letter topic's max.message.bytes is below the
 *    record) shows as Stalled (DeadLetterFailed) with the reason, and clears once it succeeds; a
 *    record that only fits compressed goes to the dead letter compressed;
 *  - a changed `consumerGroup` starts the new group where the old one left off: every offset of a
 *    stream is delivered exactly once across the switch;
 *  - a partition blocked while retention deletes what it has not consumed resumes at the earliest
 *    retained offset (never the log end), with a RecordsSkipped condition and a Warning Event that
 *    count the deleted records; so does a group whose committed offset was deleted while no
 *    consumer ran (found at the join);
 *  - the trigger's kafkajs, meeting a position retention deleted, resumes at the log start without
 *    committing over the group's commit (kafkajs 2.2.4 committed "earliest" there, which raced the
 *    join's read of the commit and lost RecordsSkipped).
 */
import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';
import { mendKafkajsOffsetReset } from '@kubeless/kafka-trigger';
import { uniqueName, withNamespace } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder, createTopic, eventually, kafka, kafkaTrigger, kubeClient, produce, readTopic, registerFunction, startController, triggersPath, type RunningController } from './harness.js';

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
const conditionOf = async (client: ReturnType<typeof kubeClient>, ns: string, name: string, type: string): Promise<Condition | undefined> => {
  const t = await client.get<{ status?: { conditions?: Condition[] } } & Record<string, unknown>>(`${triggersPath(ns)}/${name}`);
  return t.status?.conditions?.find((c) => c.type === type);
};
/** Requests per offset of partition `p` (ids `partition:<p>/offset:<o>`). */
const perOffset = (fn: Recorder, p: number, upTo: number): number[] => Array.from({ length: upTo }, (_, o) => fn.byId.get(`partition:${String(p)}/offset:${String(o)}`)?.length ?? 0);

describe('kafka-trigger robustness', () => {
  const client = kubeClient();
  let ns: { name: string; cleanup: () => Promise<void> };
  let controller: RunningController;

  beforeAll(async () => {
    ns = await withNamespace('kafka-robust');
    controller = await startController(ns.name);
  }, 60_000);

  afterAll(async () => {
    await controller.stop();
    await ns.cleanup();
    client.close();
  });

  it('reports a dead letter that keeps failing as Stalled (DeadLetterFailed) with the reason, and clears it once it lands', async () => {
    const topic = uniqueName('dl-src');
    const dlq = `${topic}-dlq`;
    await createTopic(topic, 1);
    // Below the records (100 KiB each, over the test's 64 KiB event limit, so they go to the dead letter).
    await createTopic(dlq, 1, { 'max.message.bytes': '20000' });
    const fn = new Recorder();
    await registerFunction(client, ns.name, 'dl-fn', fn);
    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'dl', { topic, functionName: 'dl-fn', initialOffset: 'earliest', delivery: { deadLetter: dlq, backoffDelay: '100ms', backoffMax: '1s' } }));
    // Offset 0 fits the dead-letter topic only compressed; offset 1 (random bytes) never fits; offset 2 is small.
    await produce(topic, [{ value: Buffer.alloc(100 * 1024, 'a') }, { value: randomBytes(100 * 1024) }, { value: 'small' }]);
    const stalled = await eventually(
      'Stalled True with the dead letter reason',
      async () => {
        const c = await conditionOf(client, ns.name, 'dl', 'Stalled');
        return c?.status === 'True' ? c : undefined;
      },
      60_000,
    );
    expect(stalled.reason).toBe('DeadLetterFailed');
    expect(stalled.message).toContain(`${topic}[0]@1`);
    expect(stalled.message).toContain(dlq);
    expect(stalled.message).toMatch(/MESSAGE_TOO_LARGE|larger than the max message size/u);
    const ready = await conditionOf(client, ns.name, 'dl', 'Ready');
    expect(ready?.status).toBe('False');
    // The compressible one went to the dead letter (compressed); the partition waits on offset 1.
    const first = await readTopic(dlq, 1, 20_000);
    expect(first.map((r) => r.value?.length)).toEqual([100 * 1024]);
    expect(fn.byId.has('partition:0/offset:2')).toBe(false);

    // The operator raises the dead-letter topic's limit: the next retry lands, the stall clears.
    const admin = kafka().admin();
    await admin.connect();
    try {
      await admin.alterConfigs({ validateOnly: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: dlq, configEntries: [{ name: 'max.message.bytes', value: '2000000' }] }] });
    } finally {
      await admin.disconnect();
    }
    await eventually('offset 2 delivered', () => Promise.resolve(fn.byId.has('partition:0/offset:2') ? true : undefined), 30_000);
    await eventually(
      'Stalled False again',
      async () => {
        const c = await conditionOf(client, ns.name, 'dl', 'Stalled');
        return c?.status === 'False' ? c : undefined;
      },
      30_000,
    );
    const all = await readTopic(dlq, 2, 20_000);
    expect(all.map((r) => String(r.headers?.['kubeless-source-offset']))).toEqual(['0', '1']);
    await fn.close();
  }, 150_000);

  it('starts a renamed group (changed consumerGroup) where the old one left off: every offset exactly once', async () => {
    const topic = uniqueName('renamed');
    const PARTITIONS = 2;
    await createTopic(topic, PARTITIONS);
    const fn = new Recorder();
    fn.behaviour = () => ({ status: 200, delayMs: 5 });
    await registerFunction(client, ns.name, 'renamed-fn', fn);
    // initialOffset is the default (latest): a new group without a predecessor would skip what was produced before it joined.
    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'renamed', { topic, functionName: 'renamed-fn', consumerGroup: 'team-a', delivery: { ordering: 'unordered', maxInFlight: 10 } }));
    const admin = kafka().admin();
    await admin.connect();
    try {
      const oldGroup = `team-a.${ns.name}.renamed.renamed-fn`;
      const newGroup = `team-b.${ns.name}.renamed.renamed-fn`;
      // Joined, and its start (the log end: initialOffset latest) committed.
      await eventually(
        'the first group joined and committed its start',
        async () => {
          const { groups } = await admin.describeGroups([oldGroup]);
          const [committed] = await admin.fetchOffsets({ groupId: oldGroup, topics: [topic] });
          return groups[0]?.state === 'Stable' && committed?.partitions.length === PARTITIONS && committed.partitions.every((p) => Number(p.offset) >= 0) ? true : undefined;
        },
        30_000,
      );
      // A stream: 40 rounds of 24 messages (12 per partition), 100 ms apart; the group is renamed mid-stream.
      const ROUNDS = 40;
      const PER_ROUND = 24;
      const N = ROUNDS * PER_ROUND;
      const stream = (async () => {
        for (let r = 0; r < ROUNDS; r++) {
          await produce(topic, Array.from({ length: PER_ROUND }, (_, i) => ({ value: String(r * PER_ROUND + i), partition: i % PARTITIONS })));
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      })();
      await eventually('200 delivered', () => Promise.resolve(fn.ids.size >= 200 ? true : undefined), 30_000);
      await client.mergePatch(`${triggersPath(ns.name)}/renamed`, { spec: { consumerGroup: 'team-b' } });
      await stream;
      await eventually(`${String(N)} delivered`, () => Promise.resolve(fn.ids.size >= N ? true : undefined), 60_000);
      // Stragglers (a duplicate would come within the commit window): give them a moment.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const counts = Array.from({ length: PARTITIONS }, (_, p) => perOffset(fn, p, N / PARTITIONS));
      const twice = counts.flatMap((c, p) => c.flatMap((n, o) => (n > 1 ? [`${String(p)}/${String(o)}:${String(n)}`] : [])));
      const never = counts.flatMap((c, p) => c.flatMap((n, o) => (n === 0 ? [`${String(p)}/${String(o)}`] : [])));
      console.info(`renamed group: ${String(fn.received.length)} requests for ${String(fn.ids.size)} ids; twice: ${twice.slice(0, 10).join(', ')}; never: ${never.slice(0, 10).join(', ')}`);
      expect(never).toEqual([]);
      expect(twice).toEqual([]);
      expect(new Set(fn.received.map((r) => r.body.toString())).size).toBe(N);
      // The new group committed the end of the stream (it runs on its own commits now).
      await eventually(
        'the new group committed everything',
        async () => {
          const [committed] = await admin.fetchOffsets({ groupId: newGroup, topics: [topic] });
          const sum = (committed?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
          return sum === N ? true : undefined;
        },
        20_000,
      );
    } finally {
      await admin.disconnect();
      await fn.close();
    }
  }, 150_000);

  it('resumes at the earliest retained offset after retention deleted what a blocked partition had not consumed, and reports how many', async () => {
    const topic = uniqueName('retained');
    await createTopic(topic, 1);
    const fn = new Recorder();
    let blocked = true;
    fn.behaviour = () => ({ status: blocked ? 503 : 200 });
    await registerFunction(client, ns.name, 'retained-fn', fn);
    // No dead letter: offset 0 blocks (retried at backoffMax) and holds the partition.
    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'retained', { topic, functionName: 'retained-fn', initialOffset: 'earliest', delivery: { retry: 0, backoffDelay: '100ms', backoffMax: '300ms' } }));
    await produce(topic, Array.from({ length: 5 }, (_, i) => ({ value: `a${String(i)}` })));
    await eventually('offset 0 blocked', () => Promise.resolve((fn.byId.get('partition:0/offset:0')?.length ?? 0) >= 3 ? true : undefined), 30_000);
    // Produced after the blocked batch was fetched; then retention deletes offsets 0-9 (log start 10).
    await produce(topic, Array.from({ length: 10 }, (_, i) => ({ value: `b${String(i)}` })));
    const admin = kafka().admin();
    await admin.connect();
    try {
      await admin.fetchTopicMetadata({ topics: [topic] });
      await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '10' }] });
    } finally {
      await admin.disconnect();
    }
    blocked = false;
    // 0-4 were fetched before the deletion and are delivered; 5-9 are gone; 10-14 must follow (the log end would skip them).
    await eventually('offsets 10-14 delivered', () => Promise.resolve([10, 11, 12, 13, 14].every((o) => fn.byId.has(`partition:0/offset:${String(o)}`)) ? true : undefined), 30_000);
    const delivered = perOffset(fn, 0, 15).map((n) => n > 0);
    expect(delivered).toEqual([...Array<boolean>(5).fill(true), ...Array<boolean>(5).fill(false), ...Array<boolean>(5).fill(true)]);
    const skipped = await eventually(
      'RecordsSkipped True',
      async () => {
        const c = await conditionOf(client, ns.name, 'retained', 'RecordsSkipped');
        return c?.status === 'True' ? c : undefined;
      },
      30_000,
    );
    expect(skipped.reason).toBe('DeletedByRetention');
    expect(skipped.message).toContain(`5 record(s) of ${topic}[0] (last gap: offsets 5-9`);
    const event = await eventually(
      'a Warning Event',
      async () => {
        const events = await client.list<{ reason?: string; type?: string; message?: string; involvedObject?: { name?: string } } & Record<string, unknown>>(`/api/v1/namespaces/${ns.name}/events`);
        return events.items.find((e) => e.involvedObject?.name === 'retained' && e.reason === 'RecordsSkipped');
      },
      20_000,
    );
    expect(event.type).toBe('Warning');
    expect(event.message).toContain('5 record(s)');
    // Not a stall: the trigger is flowing again.
    expect((await conditionOf(client, ns.name, 'retained', 'Stalled'))?.status).toBe('False');
    await fn.close();
  }, 120_000);

  it('resumes a group whose committed offset retention deleted at the log start when it joins, and reports how many', async () => {
    const topic = uniqueName('expired');
    await createTopic(topic, 1);
    const fn = new Recorder();
    await registerFunction(client, ns.name, 'expired-fn', fn);
    const trigger = kafkaTrigger(ns.name, 'expired', { topic, functionName: 'expired-fn', initialOffset: 'earliest' });
    await client.create(triggersPath(ns.name), trigger);
    await produce(topic, Array.from({ length: 5 }, (_, i) => ({ value: `a${String(i)}` })));
    const group = `kubeless.${ns.name}.expired.expired-fn`;
    const admin = kafka().admin();
    await admin.connect();
    try {
      await eventually(
        'offset 5 committed',
        async () => {
          const [c] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
          return c?.partitions[0]?.offset === '5' ? true : undefined;
        },
        30_000,
      );
      // The trigger goes away (its group keeps its commits); meanwhile 10 more arrive and retention deletes up to offset 10.
      await client.delete(`${triggersPath(ns.name)}/expired`);
      await eventually(
        'the group is empty',
        async () => {
          const { groups } = await admin.describeGroups([group]);
          return groups[0]?.members.length === 0 ? true : undefined;
        },
        30_000,
      );
      await produce(topic, Array.from({ length: 10 }, (_, i) => ({ value: `b${String(i)}` })));
      await admin.fetchTopicMetadata({ topics: [topic] });
      await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '10' }] });
    } finally {
      await admin.disconnect();
    }
    // The same trigger again: the same group, whose offset 5 is below the log start 10.
    await client.create(triggersPath(ns.name), trigger);
    await eventually('offsets 10-14 delivered', () => Promise.resolve([10, 11, 12, 13, 14].every((o) => fn.byId.has(`partition:0/offset:${String(o)}`)) ? true : undefined), 30_000);
    expect(perOffset(fn, 0, 15).map((n) => n > 0)).toEqual([...Array<boolean>(5).fill(true), ...Array<boolean>(5).fill(false), ...Array<boolean>(5).fill(true)]);
    const skipped = await eventually(
      'RecordsSkipped True',
      async () => {
        const c = await conditionOf(client, ns.name, 'expired', 'RecordsSkipped');
        return c?.status === 'True' ? c : undefined;
      },
      30_000,
    );
    expect(skipped.message).toContain(`5 record(s) of ${topic}[0] (last gap: offsets 5-9`);
    await fn.close();
  }, 120_000);

  it("resumes at the log start when its group's position was deleted, leaving the group's commit to the runner (kafkajs committed over it)", async () => {
    expect(mendKafkajsOffsetReset()).toBe(true);
    const topic = uniqueName('reset');
    const group = uniqueName('reset-group');
    await createTopic(topic, 1);
    await produce(topic, Array.from({ length: 15 }, (_, i) => ({ value: `r${String(i)}` })));
    const admin = kafka().admin();
    await admin.connect();
    const consumer = kafka().consumer({ groupId: group, sessionTimeout: 6000, heartbeatInterval: 500, maxWaitTimeInMs: 200 });
    try {
      await admin.setOffsets({ groupId: group, topic, partitions: [{ partition: 0, offset: '5' }] });
      await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '10' }] });
      const offsets: number[] = [];
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachMessage: ({ message }) => {
          offsets.push(Number(message.offset));
          return Promise.resolve();
        },
      });
      await eventually('offsets 10-14 consumed', () => Promise.resolve(offsets.length >= 5 ? true : undefined), 30_000);
      expect(offsets).toEqual([10, 11, 12, 13, 14]);
      const [c] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      expect(c?.partitions[0]?.offset).toBe('5');
    } finally {
      await consumer.disconnect();
      await admin.disconnect();
    }
  }, 60_000);
});
