/** Kafka is real: kafkajs produces to a 3-partition topic and a consumer group reads all and commits. */
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { stackEnv, uniqueName } from '../helpers.js';

const kafka = (): Kafka => new Kafka({ clientId: 'stack-test', brokers: stackEnv().KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING });
const consumers: Consumer[] = [];
afterAll(async () => {
  await Promise.all(consumers.map((c) => c.disconnect()));
});

describe('Kafka broker', () => {
  it('delivers 1,000 messages on 3 partitions to a consumer group, which commits them all', async () => {
    const client = kafka();
    const topic = uniqueName('stack-topic');
    const groupId = uniqueName('stack-group');
    const admin = client.admin();
    await admin.connect();
    try {
      expect(await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true })).toBe(true);
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      expect(meta.topics[0]?.partitions).toHaveLength(3);

      const producer = client.producer();
      await producer.connect();
      const sent = Array.from({ length: 1000 }, (_, i) => ({ key: `k${String(i % 37)}`, value: `message-${String(i)}` }));
      for (let i = 0; i < sent.length; i += 100) await producer.send({ topic, messages: sent.slice(i, i + 100) });
      await producer.disconnect();

      const received = new Map<string, { partition: number; offset: string }>();
      const consumer = client.consumer({ groupId });
      consumers.push(consumer);
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      const done = new Promise<void>((resolve) => {
        void consumer.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            received.set(message.value?.toString() ?? '', { partition, offset: message.offset });
            await consumer.commitOffsets([{ topic, partition, offset: String(Number(message.offset) + 1) }]);
            if (received.size === sent.length) resolve();
          },
        });
      });
      await done;
      expect([...received.keys()].sort()).toEqual(sent.map((m) => m.value).sort());
      expect(new Set([...received.values()].map((r) => r.partition))).toEqual(new Set([0, 1, 2]));

      // The broker holds the group's committed offsets: each equals the partition's end offset.
      await consumer.disconnect();
      consumers.pop();
      const ends = await admin.fetchTopicOffsets(topic);
      const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
      const byPartition = new Map(committed[0]?.partitions.map((p) => [p.partition, p.offset]));
      let total = 0;
      for (const end of ends) {
        expect(byPartition.get(end.partition)).toBe(end.high);
        total += Number(end.high);
      }
      expect(total).toBe(1000);
    } finally {
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  });
});
