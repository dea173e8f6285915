import type { Message } from '@aws-sdk/client-sqs';
import { toHttpMessage } from '@kubeless/delivery';
import { describe, expect, it } from 'vitest';
import { SqsTriggerError, classifySqsError, credentialsFromSecret, deadLetterAttributes, receiveCount, toEvent } from '../../src/index.js';

const ctx = { namespace: 'ns', trigger: 'orders', queueName: 'orders-queue' };
const message = (extra: Partial<Message> = {}): Message => ({
  MessageId: '6f6a4c3e-1',
  ReceiptHandle: 'rh',
  Body: '{"a":1}',
  Attributes: { ApproximateReceiveCount: '3', SentTimestamp: '1700000000000' },
  ...extra,
});

describe('toEvent', () => {
  it('uses the MessageId as id, the trigger as source, SentTimestamp as time, the body unchanged', () => {
    const e = toEvent(message(), ctx);
    expect(e.id).toBe('6f6a4c3e-1');
    expect(e.source).toBe('/apis/v1/namespaces/ns/sqstriggers/orders');
    expect(e.type).toBe('io.kubeless.sqs.message');
    expect(e.time?.toISOString()).toBe('2023-11-14T22:13:20.000Z');
    expect(Buffer.from(e.data).toString()).toBe('{"a":1}');
    expect(e.legacy).toEqual({ namespace: 'sqstriggers.kubeless.io', topic: 'orders-queue' });
    expect(e.extensions).toMatchObject({ sqsqueue: 'orders-queue', sqsreceivecount: '3' });
  });

  it('turns message attributes into extensions and a content-type attribute into the content type', () => {
    const e = toEvent(
      message({
        Attributes: { MessageGroupId: 'g1' },
        MessageAttributes: {
          'Content-Type': { DataType: 'String', StringValue: 'application/xml' },
          'X-Trace_Id': { DataType: 'String', StringValue: 'abc' },
          n: { DataType: 'Number', StringValue: '4' },
          bin: { DataType: 'Binary', BinaryValue: Uint8Array.from([255, 0]) },
          id: { DataType: 'String', StringValue: 'not the id' },
        },
      }),
      ctx,
    );
    expect(e.contentType).toBe('application/xml');
    expect(e.id).toBe('6f6a4c3e-1');
    expect(e.extensions).toMatchObject({ sqsattrxtraceid: 'abc', sqsattrn: '4', sqsattrbin: '/wA=', sqsattrid: 'not the id', sqsmessagegroupid: 'g1', sqsreceivecount: '1' });
    // The SDK accepts every extension name: a valid CloudEvent in both modes.
    expect(toHttpMessage(e, 'binary').headers['ce-sqsattrxtraceid']).toBe('abc');
    expect(() => toHttpMessage(e, 'structured')).not.toThrow();
  });

  it('counts receives from ApproximateReceiveCount, 1 when absent or bad', () => {
    expect(receiveCount(message())).toBe(3);
    expect(receiveCount(message({ Attributes: {} }))).toBe(1);
    expect(receiveCount(message({ Attributes: { ApproximateReceiveCount: 'x' } }))).toBe(1);
  });
});

describe('deadLetterAttributes', () => {
  it('puts the error first and keeps original attributes within the SQS limit of 10', () => {
    const original = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`a${String(i)}`, { DataType: 'String', StringValue: String(i) }]));
    const attrs = deadLetterAttributes(message({ MessageAttributes: original }), { reason: 'http_500', message: 'x'.repeat(5000), functions: ['f1', 'f2'], attempts: 4 }, ctx);
    expect(Object.keys(attrs)).toHaveLength(10);
    expect(attrs['kubeless-error-reason']?.StringValue).toBe('http_500');
    expect(attrs['kubeless-error-message']?.StringValue).toHaveLength(1000);
    expect(attrs['kubeless-attempts']).toEqual({ DataType: 'Number', StringValue: '4' });
    expect(attrs['kubeless-function']?.StringValue).toBe('f1,f2');
    expect(attrs['kubeless-trigger']?.StringValue).toBe('ns/orders');
    expect(attrs['kubeless-event-id']?.StringValue).toBe('6f6a4c3e-1');
    expect(attrs.a0?.StringValue).toBe('0');
    expect(attrs.a3).toBeUndefined();
  });

  it('never sends an empty string value (SQS refuses it)', () => {
    const attrs = deadLetterAttributes(message(), { reason: 'timeout', message: '', functions: ['f'], attempts: 1 }, ctx);
    expect(attrs['kubeless-error-message']?.StringValue).toBe('-');
  });
});

describe('credentialsFromSecret', () => {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  it('reads the AWS shared-credentials key names', () => {
    expect(credentialsFromSecret('s', { aws_access_key_id: b64('AKIA'), aws_secret_access_key: b64('secret\n') })).toEqual({ accessKeyId: 'AKIA', secretAccessKey: 'secret' });
    expect(credentialsFromSecret('s', { aws_access_key_id: b64('A'), aws_secret_access_key: b64('B'), aws_session_token: b64('T') }).sessionToken).toBe('T');
  });

  it('names the missing key, never a value', () => {
    try {
      credentialsFromSecret('creds', { aws_access_key_id: b64('AKIA-VALUE') });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(SqsTriggerError);
      expect((err as SqsTriggerError).code).toBe('SecretKeyMissing');
      expect((err as Error).message).toBe('Secret creds has no key aws_secret_access_key');
    }
  });
});

describe('classifySqsError', () => {
  it('tells a missing queue, refused credentials, an unreachable endpoint and other answers apart', () => {
    expect(classifySqsError(Object.assign(new Error('gone'), { name: 'QueueDoesNotExist', $metadata: { httpStatusCode: 400 } }), 'queue q').code).toBe('QueueNotFound');
    expect(classifySqsError(Object.assign(new Error('no'), { name: 'InvalidClientTokenId', $metadata: { httpStatusCode: 403 } }), 'queue q').code).toBe('AccessDenied');
    expect(classifySqsError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'queue q').code).toBe('Unreachable');
    expect(classifySqsError(Object.assign(new Error('slow down'), { name: 'Throttling', $metadata: { httpStatusCode: 400 } }), 'queue q').code).toBe('SqsError');
    const own = new SqsTriggerError('SecretNotFound', 'x');
    expect(classifySqsError(own, 'q')).toBe(own);
  });
});
