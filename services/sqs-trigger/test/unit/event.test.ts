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
  it('maps W3C traceparent and tracestate attributes (any case) to the CloudEvents tracing extension and the W3C headers', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const e = toEvent(message({ MessageAttributes: { TraceParent: { DataType: 'String', StringValue: tp }, tracestate: { DataType: 'String', StringValue: 'a=1' } } }), ctx);
    expect(e.extensions).toMatchObject({ traceparent: tp, tracestate: 'a=1', sqsattrtraceparent: tp });
    expect(toHttpMessage(e, 'binary').headers).toMatchObject({ traceparent: tp, tracestate: 'a=1' });
  });

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
    expect(e.extensions).toMatchObject({ sqsattrxtraceid: 'abc', sqsattrn: '4', sqsattrbinb64: '/wA=', sqsattrid: 'not the id', sqsmessagegroupid: 'g1', sqsreceivecount: '1' });
    expect(e.extensions).not.toHaveProperty('sqsattrbin');
    // The SDK accepts every extension name: a valid CloudEvent in both modes.
    expect(toHttpMessage(e, 'binary').headers['ce-sqsattrxtraceid']).toBe('abc');
    expect(() => toHttpMessage(e, 'structured')).not.toThrow();
  });

  it('delivers String attributes with any Unicode and CR/LF: percent-encoded in binary mode, JSON strings in structured mode', () => {
    const values = { city: 'Москва', tokyo: '東京 🚀', lines: 'a\r\nb', quote: '"100%"', tab: '\tx', nul: 'a\u0000b' };
    const e = toEvent(message({ MessageAttributes: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { DataType: 'String', StringValue: v }])) }), ctx);
    for (const [k, v] of Object.entries(values)) expect(e.extensions?.[`sqsattr${k}`]).toBe(v);
    const headers = toHttpMessage(e, 'binary').headers;
    expect(headers['ce-sqsattrcity']).toBe('%D0%9C%D0%BE%D1%81%D0%BA%D0%B2%D0%B0');
    expect(headers['ce-sqsattrlines']).toBe('a%0D%0Ab');
    expect(headers['ce-sqsattrquote']).toBe('%22100%25%22');
    for (const [k, v] of Object.entries(values)) {
      const h = headers[`ce-sqsattr${k}`] ?? '';
      // Printable ASCII only, which every HTTP stack sends, and exactly the value once decoded.
      expect(h).toMatch(/^[\x21-\x7e]*$/u);
      expect(decodeURIComponent(h)).toBe(v);
    }
    const doc = JSON.parse(String(toHttpMessage(e, 'structured').body)) as Record<string, unknown>;
    for (const [k, v] of Object.entries(values)) expect(doc[`sqsattr${k}`]).toBe(v);
  });

  it('keeps names ending in b64 for base64: a String attribute named so goes base64 as <name>b64', () => {
    const e = toEvent(message({ MessageAttributes: { 'Sig-B64': { DataType: 'String', StringValue: 'plain' }, raw: { DataType: 'Binary', BinaryValue: Uint8Array.from([0, 1, 0xff, 0x0a]) } } }), ctx);
    expect(e.extensions).toMatchObject({ sqsattrsigb64b64: Buffer.from('plain').toString('base64'), sqsattrrawb64: 'AAH/Cg==' });
    expect(e.extensions).not.toHaveProperty('sqsattrsigb64');
    expect(e.extensions).not.toHaveProperty('sqsattrraw');
  });

  it('keeps a content-type attribute that is no usable header value as an extension and detects the type', () => {
    const e = toEvent(message({ Body: 'hello', MessageAttributes: { 'content-type': { DataType: 'String', StringValue: 'text/plain\r\nX-Evil: 1' } } }), ctx);
    expect(e.contentType).toBeUndefined();
    expect(e.extensions?.sqsattrcontenttype).toBe('text/plain\r\nX-Evil: 1');
    const m = toHttpMessage(e, 'binary');
    expect(m.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(m.headers['ce-sqsattrcontenttype']).toBe('text/plain%0D%0AX-Evil:%201');
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
      expect((err as SqsTriggerError).reason).toBe('SecretKeyMissing');
      expect((err as SqsTriggerError).code).toBe('KUBELESS_SQS_SECRET_KEY_MISSING');
      expect((err as Error).message).toBe('Secret creds has no key aws_secret_access_key');
    }
  });
});

describe('classifySqsError', () => {
  it('tells a missing queue, refused credentials, an unreachable endpoint and other answers apart', () => {
    expect(classifySqsError(Object.assign(new Error('gone'), { name: 'QueueDoesNotExist', $metadata: { httpStatusCode: 400 } }), 'queue q').reason).toBe('QueueNotFound');
    expect(classifySqsError(Object.assign(new Error('no'), { name: 'InvalidClientTokenId', $metadata: { httpStatusCode: 403 } }), 'queue q').reason).toBe('AccessDenied');
    expect(classifySqsError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'queue q').reason).toBe('Unreachable');
    expect(classifySqsError(Object.assign(new Error('slow down'), { name: 'Throttling', $metadata: { httpStatusCode: 400 } }), 'queue q').reason).toBe('SqsError');
    const own = new SqsTriggerError('SecretNotFound', 'x');
    expect(classifySqsError(own, 'q')).toBe(own);
  });
});
