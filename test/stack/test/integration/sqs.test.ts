/**
 * SQS is real (ElasticMQ): create, send, long-poll, receive, delete; a message received but not
 * deleted comes back after its visibility timeout; a redrive policy moves a message to its
 * dead-letter queue after maxReceiveCount receives.
 */
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import { stackEnv, uniqueName } from '../helpers.js';

const sqs = new SQSClient({
  region: stackEnv().SQS_REGION,
  endpoint: stackEnv().SQS_ENDPOINT,
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
});
const queues: string[] = [];
afterAll(async () => {
  for (const QueueUrl of queues) await sqs.send(new DeleteQueueCommand({ QueueUrl })).catch(() => undefined);
  sqs.destroy();
});

async function createQueue(name: string, attributes: Record<string, string> = {}): Promise<string> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  if (!QueueUrl) throw new Error('no QueueUrl');
  queues.push(QueueUrl);
  return QueueUrl;
}

const receive = (QueueUrl: string, WaitTimeSeconds: number) =>
  sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds, MaxNumberOfMessages: 10, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }));

describe('ElasticMQ', () => {
  it('sends, long-polls, receives and deletes', async () => {
    const url = await createQueue(uniqueName('stack-q'));
    // A long poll that starts before the send returns the message as soon as it arrives.
    const started = Date.now();
    const polled = receive(url, 10);
    await new Promise((r) => setTimeout(r, 500));
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'hello', MessageAttributes: { kind: { DataType: 'String', StringValue: 'greeting' } } }));
    const res = await polled;
    expect(Date.now() - started).toBeLessThan(9000);
    expect(res.Messages).toHaveLength(1);
    const msg = res.Messages?.[0];
    expect(msg?.Body).toBe('hello');
    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: msg?.ReceiptHandle }));
    const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    expect(attrs.Attributes).toMatchObject({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
    // An empty long poll waits and returns nothing.
    const empty = await receive(url, 1);
    expect(empty.Messages ?? []).toHaveLength(0);
  });

  it('returns a received, undeleted message after its visibility timeout', async () => {
    const url = await createQueue(uniqueName('stack-vis'), { VisibilityTimeout: '2' });
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'again' }));
    const first = await receive(url, 5);
    expect(first.Messages?.[0]?.Body).toBe('again');
    // Invisible now.
    expect((await receive(url, 1)).Messages ?? []).toHaveLength(0);
    const second = await receive(url, 5);
    expect(second.Messages?.[0]?.Body).toBe('again');
    expect(second.Messages?.[0]?.Attributes?.ApproximateReceiveCount).toBe('2');
  });

  it('moves a message to the dead-letter queue after maxReceiveCount receives', async () => {
    const dlqUrl = await createQueue(uniqueName('stack-dlq'));
    const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }))).Attributes?.QueueArn;
    expect(dlqArn).toMatch(/^arn:aws:sqs:/);
    const url = await createQueue(uniqueName('stack-src'), {
      VisibilityTimeout: '1',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 2 }),
    });
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'poison' }));
    const counts: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await receive(url, 5);
      counts.push(r.Messages?.[0]?.Attributes?.ApproximateReceiveCount ?? 'none');
      await new Promise((res) => setTimeout(res, 1200));
    }
    expect(counts).toEqual(['1', '2']);
    // The third receive finds it gone from the source, and in the dead-letter queue.
    expect((await receive(url, 1)).Messages ?? []).toHaveLength(0);
    const dead = await receive(dlqUrl, 5);
    expect(dead.Messages?.[0]?.Body).toBe('poison');
  });
});
