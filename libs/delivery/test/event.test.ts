import { isUtf8 } from 'node:buffer';
import { HTTP, ValidationError } from 'cloudevents';
import { describe, expect, it } from 'vitest';
import {
  MAX_BINARY_HEADERS,
  MAX_BINARY_HEADER_BYTES,
  extensionName,
  isRepresentableTime,
  isUsableContentType,
  percentEncode,
  setBytesExtension,
  setTextExtension,
  toHttpMessage,
  type EventInput,
} from '../src/index.js';

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

describe('percentEncode (CloudEvents HTTP binding 3.1.3.2)', () => {
  it("encodes the binding's own example", () => {
    expect(percentEncode('Euro \u20ac \u{1f600}')).toBe('Euro%20%E2%82%AC%20%F0%9F%98%80');
  });

  it('encodes space, double quote and percent, and nothing else of printable ASCII', () => {
    let printable = '';
    for (let c = 0x21; c <= 0x7e; c++) printable += String.fromCharCode(c);
    expect(percentEncode(printable)).toBe(printable.replace('%', '%25').replace('"', '%22'));
    expect(percentEncode(' ')).toBe('%20');
  });

  it('encodes controls, DEL and anything above U+007E as UTF-8 bytes, upper-case hex', () => {
    expect(percentEncode('a\r\nb\u0000\t\u007f')).toBe('a%0D%0Ab%00%09%7F');
    expect(percentEncode('\u00e9\u00ff')).toBe('%C3%A9%C3%BF');
    expect(percentEncode('Москва')).toBe('%D0%9C%D0%BE%D1%81%D0%BA%D0%B2%D0%B0');
  });

  it('returns plain values as they are (the same string: no copy on the hot path)', () => {
    const v = 'partition:3/offset:42';
    expect(percentEncode(v)).toBe(v);
    expect(percentEncode('')).toBe('');
  });

  it('sends a lone surrogate as U+FFFD instead of throwing', () => {
    expect(percentEncode('a\ud800b')).toBe('a%EF%BF%BDb');
  });

  it('round-trips any well-formed string through decodeURIComponent', () => {
    for (const v of ['%', '%25', '100% "sure"', '東京 🚀', '\u0000\u0001\n', 'a+b=c&d']) expect(decodeURIComponent(percentEncode(v))).toBe(v);
  });
});

describe('setTextExtension and setBytesExtension', () => {
  it('set valid UTF-8 as text and any other bytes as <name>b64', () => {
    const ext: Record<string, string> = {};
    setBytesExtension(ext, 'partitionkey', new Uint8Array([0x00, 0x01, 0xff, 0x0a]));
    setBytesExtension(ext, 'kafkaheadera', Buffer.from('Москва'));
    setBytesExtension(ext, 'kafkaheaderb', new Uint8Array([0xed, 0xa0, 0x80])); // a surrogate: not UTF-8
    setBytesExtension(ext, 'kafkaheaderc', new Uint8Array([0xc0, 0xa0])); // overlong: not UTF-8
    expect(ext).toEqual({ partitionkeyb64: 'AAH/Cg==', kafkaheadera: 'Москва', kafkaheaderbb64: '7aCA', kafkaheadercb64: 'wKA=' });
  });

  it('never leave text under a name ending in b64 (such names always hold base64)', () => {
    const ext: Record<string, string> = {};
    setTextExtension(ext, 'kafkaheaderxb64', 'hi');
    setBytesExtension(ext, 'sqsattrsigb64', Buffer.from('hi'));
    expect(ext).toEqual({ kafkaheaderxb64b64: 'aGk=', sqsattrsigb64b64: 'aGk=' });
  });

  it('read only the view of a larger buffer', () => {
    const ext: Record<string, string> = {};
    setBytesExtension(ext, 'k', Buffer.from('xxKEYyy').subarray(2, 5));
    expect(ext).toEqual({ k: 'KEY' });
  });
});

describe('isUsableContentType and isRepresentableTime', () => {
  it.each([
    ['application/json', true],
    ['text/plain; charset="utf-8"', true],
    ['', false],
    [' text/plain', false],
    ['text/plain\r\nx-evil: 1', false],
    ['text/plain; charset=ütf-8', false],
    ['text/\u0000', false],
  ])('%j is usable: %s', (value, usable) => {
    expect(isUsableContentType(value)).toBe(usable);
  });

  it('accepts years 0000 to 9999 only', () => {
    expect(isRepresentableTime(Date.parse('0000-01-01T00:00:00.000Z'))).toBe(true);
    expect(isRepresentableTime(Date.parse('9999-12-31T23:59:59.999Z'))).toBe(true);
    expect(isRepresentableTime(Date.parse('9999-12-31T23:59:59.999Z') + 1)).toBe(false);
    expect(isRepresentableTime(Date.parse('0000-01-01T00:00:00.000Z') - 1)).toBe(false);
    expect(isRepresentableTime(1_700_000_000_000_000_000)).toBe(false);
    expect(isRepresentableTime(Number.NaN)).toBe(false);
  });
});

describe('toHttpMessage, values any bytes can make', () => {
  const headerSafe = /^[\x21-\x7e]*$/u;

  it('percent-encodes every ce-* value in binary mode, and the SDK reads the event back', () => {
    const ext: Record<string, string> = { kafkaheadertext: 'line1\r\nline2 "q" 100%', kafkaheaderutf: '東京 🚀' };
    setBytesExtension(ext, 'partitionkey', new Uint8Array([0x00, 0x01, 0xff, 0x0a]));
    const m = toHttpMessage(base(bytes('{"a":1}'), { subject: 'sübject', extensions: ext }), 'binary');
    expect(m.headers).toMatchObject({
      'ce-kafkaheadertext': 'line1%0D%0Aline2%20%22q%22%20100%25',
      'ce-kafkaheaderutf': '%E6%9D%B1%E4%BA%AC%20%F0%9F%9A%80',
      'ce-partitionkeyb64': 'AAH/Cg==',
      'ce-subject': 's%C3%BCbject',
    });
    for (const v of Object.values(m.headers)) expect(v).toMatch(/^[\x20-\x7e]*$/u);
    for (const [k, v] of Object.entries(m.headers)) if (k.startsWith('ce-')) expect(v).toMatch(headerSafe);
    const ev = HTTP.toEvent({ headers: m.headers, body: bodyBytes(m.body) });
    const one = Array.isArray(ev) ? ev[0] : ev;
    expect(decodeURIComponent(String(one?.kafkaheadertext))).toBe('line1\r\nline2 "q" 100%');
  });

  it('carries the same values as JSON strings in structured mode (no percent-encoding)', () => {
    const m = toHttpMessage(base(bytes('{"a":1}'), { extensions: { kafkaheadertext: 'a\r\n%20"' } }), 'structured');
    const d = JSON.parse(bodyBytes(m.body).toString('utf8')) as Record<string, unknown>;
    expect(d.kafkaheadertext).toBe('a\r\n%20"');
  });

  it('encodes through the SDK fallback too (an empty id, for which the SDK makes up a UUID)', () => {
    const m = toHttpMessage(base(bytes('x'), { id: '', extensions: { partitionkey: 'Москва' } }), 'binary');
    expect(m.headers['ce-partitionkey']).toBe('%D0%9C%D0%BE%D1%81%D0%BA%D0%B2%D0%B0');
  });

  it.each([
    ['a Kafka timestamp in nanoseconds', new Date(1_700_000_000_000_000_000)],
    ['an invalid date', new Date(Number.NaN)],
    ['year 10000', new Date('+010000-01-01T00:00:00.000Z')],
  ])('leaves out a time without an RFC 3339 form (%s) instead of failing', (_name, time) => {
    for (const mode of ['binary', 'structured'] as const) {
      const m = toHttpMessage(base(bytes('{"a":1}'), { time }), mode);
      expect(m.headers).not.toHaveProperty('ce-time');
      expect(m.headers).not.toHaveProperty('event-time');
      if (mode === 'structured') expect(JSON.parse(bodyBytes(m.body).toString('utf8'))).not.toHaveProperty('time');
    }
  });

  it('detects the content type when the given one is no usable header value', () => {
    const m = toHttpMessage(base(bytes('{"a":1}'), { contentType: 'application/json\r\nX-Evil: 1' }), 'binary');
    expect(m.headers['content-type']).toBe('application/json');
    expect(m.headers['event-type']).toBe('application/json');
  });

  it('sends the event structured when binary-mode headers would be too large for the function', () => {
    const big = toHttpMessage(base(bytes('{"a":1}'), { extensions: { partitionkey: 'k'.repeat(MAX_BINARY_HEADER_BYTES) } }), 'binary');
    expect(big.headers['content-type']).toMatch(/^application\/cloudevents\+json/u);
    expect(big.headers).not.toHaveProperty('ce-partitionkey');
    expect(JSON.parse(bodyBytes(big.body).toString('utf8'))).toMatchObject({ partitionkey: 'k'.repeat(MAX_BINARY_HEADER_BYTES), data: { a: 1 } });
    const many = Object.fromEntries(Array.from({ length: MAX_BINARY_HEADERS }, (_, i) => [`h${String(i)}x`, 'v']));
    expect(toHttpMessage(base(bytes('x'), { extensions: many }), 'binary').headers['content-type']).toMatch(/^application\/cloudevents\+json/u);
    // Just under the bounds: binary as usual.
    const fits = toHttpMessage(base(bytes('x'), { extensions: { partitionkey: 'k'.repeat(4096) } }), 'binary');
    expect(fits.headers['ce-partitionkey']).toHaveLength(4096);
  });
});
