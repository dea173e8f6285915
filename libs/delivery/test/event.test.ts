import { isUtf8 } from 'node:buffer';
import { HTTP, ValidationError } from 'cloudevents';
import { describe, expect, it } from 'vitest';
import { extensionName, toHttpMessage, type EventInput } from '../src/index.js';

const time = new Date('2024-01-02T03:04:05.678Z');
const base = (data: Uint8Array, extra: Partial<EventInput> = {}): EventInput => ({
  id: 'partition:3/offset:42',
  source: '/apis/v1/namespaces/default/kafkatriggers/orders#orders',
  type: 'io.kubeless.kafka.message',
  time,
  data,
  legacy: { namespace: 'kafkatriggers.kubeless.io', topic: 'orders' },
  ...extra,
});
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const bodyBytes = (b: Uint8Array | string): Buffer => (typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('extensionName', () => {
  it('lowercases, strips non-alphanumerics and prefixes', () => {
    expect(extensionName('kafkaheader', 'X-Trace-Id')).toBe('kafkaheaderxtraceid');
    expect(extensionName('sqsattr', 'My_Attr.2')).toBe('sqsattrmyattr2');
  });
  it('never yields a reserved attribute name', () => {
    expect(extensionName('', 'ID')).toBe('xid');
    expect(extensionName('', 'Data')).toBe('xdata');
    expect(extensionName('', 'spec-version')).toBe('xspecversion');
    expect(extensionName('', 'Source')).toBe('xsource');
    expect(extensionName('', 'type')).toBe('xtype');
  });
});

describe('toHttpMessage, binary mode', () => {
  it('puts the attributes in ce-* headers and adds the original kubeless headers', () => {
    const m = toHttpMessage(base(bytes('{"order":1}'), { extensions: { [extensionName('kafkaheader', 'X-Trace-Id')]: 'abc', kafkakey: 'k1' } }), 'binary');
    expect(m.headers).toMatchObject({
      'ce-specversion': '1.0',
      'ce-id': 'partition:3/offset:42',
      'ce-source': '/apis/v1/namespaces/default/kafkatriggers/orders#orders',
      'ce-type': 'io.kubeless.kafka.message',
      'ce-time': '2024-01-02T03:04:05.678Z',
      'content-type': 'application/json',
      'ce-kafkaheaderxtraceid': 'abc',
      'ce-kafkakey': 'k1',
      'event-id': 'partition:3/offset:42',
      'event-type': 'application/json',
      'event-time': '2024-01-02T03:04:05.678Z',
      'event-namespace': 'kafkatriggers.kubeless.io',
      'event-topic': 'orders',
    });
    // All header names are lowercase, all values strings.
    for (const [k, v] of Object.entries(m.headers)) {
      expect(k).toBe(k.toLowerCase());
      expect(typeof v).toBe('string');
    }
    expect(bodyBytes(m.body).toString('utf8')).toBe('{"order":1}');
  });

  it('keeps a given content type and a subject', () => {
    const m = toHttpMessage(base(bytes('a,b\n1,2'), { contentType: 'text/csv', subject: 'row' }), 'binary');
    expect(m.headers['content-type']).toBe('text/csv');
    expect(m.headers['event-type']).toBe('text/csv');
    expect(m.headers['ce-subject']).toBe('row');
  });

  it('omits event-topic when there is none (SQS)', () => {
    const m = toHttpMessage(base(bytes('x'), { legacy: { namespace: 'sqstriggers.kubeless.io' } }), 'binary');
    expect(m.headers['event-namespace']).toBe('sqstriggers.kubeless.io');
    expect(m.headers).not.toHaveProperty('event-topic');
  });

  it('stamps the current time when the input has none', () => {
    const before = Date.now();
    const m = toHttpMessage({ ...base(bytes('x')), time: undefined }, 'binary');
    const t = Date.parse(m.headers['ce-time'] ?? '');
    expect(t).toBeGreaterThanOrEqual(before - 1);
    expect(t).toBeLessThanOrEqual(Date.now() + 1);
    expect(m.headers['event-time']).toBe(m.headers['ce-time']);
  });

  it.each([
    ['binary', new Uint8Array([0x00, 0xff, 0xfe, 0x80, 0x7f, 0x0a, 0x0d])],
    ['non-UTF-8 text', new Uint8Array([0x68, 0xe9, 0x6c, 0x6c, 0x6f])], // latin-1 "héllo"
    ['empty', new Uint8Array(0)],
    ['JSON', bytes(' {"a": [1, 2.50, "x"]}\n')],
  ])('forwards a %s payload byte for byte', (_name, data) => {
    const m = toHttpMessage(base(data), 'binary');
    // Valid UTF-8 may travel as a string (the same bytes on the wire); anything else as bytes.
    if (typeof m.body === 'string') expect(isUtf8(data)).toBe(true);
    else expect(m.body).toBeInstanceOf(Uint8Array);
    expect(bodyBytes(m.body).equals(Buffer.from(data))).toBe(true);
  });

  it('forwards only the view when the payload is a slice of a larger buffer', () => {
    const backing = Buffer.from('HEADERpayloadTRAILER');
    const data = backing.subarray(6, 13);
    const m = toHttpMessage(base(data), 'binary');
    expect(bodyBytes(m.body).toString()).toBe('payload');
  });

  it('is read back by the SDK as the same event', () => {
    const m = toHttpMessage(base(bytes('{"a":1}'), { extensions: { kafkakey: 'k' } }), 'binary');
    const ev = HTTP.toEvent({ headers: m.headers, body: bodyBytes(m.body).toString('utf8') });
    const one = Array.isArray(ev) ? ev[0] : ev;
    expect(one?.id).toBe('partition:3/offset:42');
    expect(one?.kafkakey).toBe('k');
    expect(one?.data).toEqual({ a: 1 });
  });

  it('rejects an invalid extension name through the SDK validation', () => {
    expect(() => toHttpMessage(base(bytes('x'), { extensions: { 'X-Trace-Id': 'abc' } }), 'binary')).toThrow(ValidationError);
    expect(() => toHttpMessage(base(bytes('x'), { extensions: { under_score: 'abc' } }), 'structured')).toThrow(/invalid extension name/u);
  });
});

describe('toHttpMessage, structured mode', () => {
  const doc = (m: { body: Uint8Array | string }): Record<string, unknown> => JSON.parse(bodyBytes(m.body).toString('utf8')) as Record<string, unknown>;

  it('sends one JSON document with the attributes, JSON data embedded', () => {
    const m = toHttpMessage(base(bytes('{"order":1,"items":[2,3]}'), { extensions: { kafkakey: 'k1' } }), 'structured');
    expect(m.headers['content-type']).toMatch(/^application\/cloudevents\+json/u);
    expect(m.headers).not.toHaveProperty('ce-id');
    expect(m.headers['event-id']).toBe('partition:3/offset:42');
    expect(m.headers['event-type']).toBe('application/json');
    expect(m.headers['event-topic']).toBe('orders');
    const d = doc(m);
    expect(d).toMatchObject({
      specversion: '1.0',
      id: 'partition:3/offset:42',
      source: '/apis/v1/namespaces/default/kafkatriggers/orders#orders',
      type: 'io.kubeless.kafka.message',
      time: '2024-01-02T03:04:05.678Z',
      datacontenttype: 'application/json',
      kafkakey: 'k1',
      data: { order: 1, items: [2, 3] },
    });
    expect(d).not.toHaveProperty('data_base64');
  });

  it('embeds text as a string', () => {
    const d = doc(toHttpMessage(base(bytes('hello wörld')), 'structured'));
    expect(d.datacontenttype).toBe('text/plain; charset=utf-8');
    expect(d.data).toBe('hello wörld');
    expect(d).not.toHaveProperty('data_base64');
  });

  it('sends binary as data_base64 only', () => {
    const raw = new Uint8Array([0x00, 0xff, 0xfe, 0x80]);
    const d = doc(toHttpMessage(base(raw), 'structured'));
    expect(d.datacontenttype).toBe('application/octet-stream');
    expect(d.data_base64).toBe(Buffer.from(raw).toString('base64'));
    expect(d).not.toHaveProperty('data');
  });

  it('sends a payload labelled JSON that does not parse as data_base64', () => {
    const d = doc(toHttpMessage(base(bytes('{oops'), { contentType: 'application/json' }), 'structured'));
    expect(d.data_base64).toBe(Buffer.from('{oops').toString('base64'));
    expect(d).not.toHaveProperty('data');
  });

  it('sends an empty binary payload without any data (not a serialised Buffer)', () => {
    const d = doc(toHttpMessage(base(new Uint8Array(0)), 'structured'));
    expect(d).not.toHaveProperty('data');
    expect(d.data_base64 ?? '').toBe('');
    expect(d.id).toBe('partition:3/offset:42');
  });

  it('is read back by the SDK as the same event', () => {
    const m = toHttpMessage(base(bytes('[1,2]'), { extensions: { sqsattrcolor: 'red' } }), 'structured');
    const ev = HTTP.toEvent({ headers: m.headers, body: bodyBytes(m.body).toString('utf8') });
    const one = Array.isArray(ev) ? ev[0] : ev;
    expect(one?.type).toBe('io.kubeless.kafka.message');
    expect(one?.sqsattrcolor).toBe('red');
    expect(one?.data).toEqual([1, 2]);
  });
});
