/** `kubeless topic` against the stack's real Kafka broker, through the admin and producer APIs. */
import kafkajs from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { stackEnv, uniqueName } from '@kubeless/stack';
import { kubeless, kubelessOk } from './helpers.js';

const { Kafka, logLevel } = kafkajs;
const topic = uniqueName('cli-topic');
const kafka = new Kafka({ clientId: 'cli-test', brokers: stackEnv().KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING });

afterAll(async () => {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
});

describe('topics round-trip', () => {
  it('create, list, publish (the message lands in the topic), delete', async () => {
    expect(await kubelessOk(['topic', 'create', topic, '--partitions', '2'])).toBe(`Created topic "${topic}".\n`);
    const again = await kubeless(['topic', 'create', topic]);
    expect(again).toMatchObject({ code: 1, stderr: `Error: topic "${topic}" already exists\n` });

    const listed = JSON.parse(await kubelessOk(['topic', 'ls', '-o', 'json']));
    expect(listed).toContainEqual({ name: topic, partitions: 2 });
    expect(await kubelessOk(['topic', 'list'])).toMatch(new RegExp(`^${topic}\\s+2$`, 'm'));

    await kubelessOk(['topic', 'publish', '--topic', topic, '--data', '{"hey":"kubecon"}', '--key', 'k1']);
    const consumer = kafka.consumer({ groupId: uniqueName('cli-test') });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const got = await new Promise<{ key: string; value: string }>((resolve) => {
      void consumer.run({
        eachMessage: ({ message }) => {
          resolve({ key: message.key?.toString() ?? '', value: message.value?.toString() ?? '' });
          return Promise.resolve();
        },
      });
    });
    await consumer.disconnect();
    expect(got).toEqual({ key: 'k1', value: '{"hey":"kubecon"}' });

    const missing = await kubeless(['topic', 'publish', '--topic', `${topic}-nope`, '--data', 'x']);
    expect(missing).toMatchObject({ code: 3, stderr: `Error: topic "${topic}-nope" not found; create it with 'kubeless topic create ${topic}-nope'\n` });

    await kubelessOk(['topic', 'delete', topic]);
    expect(JSON.parse(await kubelessOk(['topic', 'ls', '-o', 'json']))).not.toContainEqual(expect.objectContaining({ name: topic }));
  });

  it('an unreachable broker fails fast with one line', async () => {
    const r = await kubeless(['topic', 'list', '--brokers', '127.0.0.1:1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: Kafka \(127\.0\.0\.1:1\): .+\n$/);
  });
});
