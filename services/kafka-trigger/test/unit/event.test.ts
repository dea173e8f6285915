import { HTTP } from 'cloudevents';
import { toHttpMessage } from '@kubeless/delivery';
import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { kafkaEvent } from '../../src/runner/event.js';

const partition = { topic: 'orders', partitionText: '3', source: '/apis/v1/namespaces/ns/kafkatriggers/t#orders' };
const record = (extra: Partial<KafkaMessage> = {}): KafkaMessage =>
  ({ key: null, value: Buffer.from('{"a":1}'), timestamp: '1700000000000', attributes: 0, offset: '42', headers: {}, ...extra }) as KafkaMessage;

/** What a runtime does: percent-decode a binary-mode header value. */
const decoded = (h: string | undefined): Buffer => Buffer.from(decodeURIComponent(h ?? ''), 'utf8');

describe('kafkaEvent', () => {
  it('makes the deterministic id, source, time and extensions', () => {
    const e = kafkaEvent(partition, record({ key: Buffer.from('the-key'), headers: { 'X-Trace': Buffer.from('abc') } }));
    expect(e.id).toBe('partition:3/offset:42');
    expect(e.source).toBe(partition.source);
    expect(e.time?.toISOString()).toBe('2023-11-14T22:13:20.000Z');
    expect(e.extensions).toEqual({ partitionkey: 'the-key', kafkaheaderxtrace: 'abc', kafkapartition: '3', kafkaoffset: '42' });
    expect(e.legacy).toEqual({ namespace: 'kafkatriggers.kubeless.io', topic: 'orders' });
  });

  it('sends a key that is not UTF-8 (00 01 ff 0a) as partitionkeyb64, and the request is valid', () => {
    const key = Buffer.from([0x00, 0x01, 0xff, 0x0a]);
    const e = kafkaEvent(partition, record({ key }));
    expect(e.extensions).toMatchObject({ partitionkeyb64: 'AAH/Cg==' });
    expect(e.extensions).not.toHaveProperty('partitionkey');
    const m = toHttpMessage(e, 'binary');
    expect(m.headers['ce-partitionkeyb64']).toBe('AAH/Cg==');
    expect(Buffer.from(m.headers['ce-partitionkeyb64'] ?? '', 'base64').equals(key)).toBe(true);
  });

  it.each([
    ['Cyrillic', 'Москва'],
    ['CJK and an emoji', '東京 🚀'],
    ['control characters that are valid UTF-8', '\u0000\u0001\n'],
    ['percent, quote and space', '50% "off"'],
    ['a Confluent-style prefix that happens to be UTF-8', '\u0000\u0000\u0000\u002a'],
  ])('keeps a UTF-8 key (%s) as partitionkey, percent-encoded on the wire', (_name, text) => {
    const key = Buffer.from(text, 'utf8');
    const e = kafkaEvent(partition, record({ key }));
    expect(e.extensions?.partitionkey).toBe(text);
    const h = toHttpMessage(e, 'binary').headers['ce-partitionkey'];
    expect(h).toMatch(/^[\x21-\x7e]+$/u);
    expect(decoded(h).equals(key)).toBe(true);
  });

  it('sends an empty key as an empty partitionkey, no key as neither', () => {
    expect(kafkaEvent(partition, record({ key: Buffer.alloc(0) })).extensions?.partitionkey).toBe('');
    const none = kafkaEvent(partition, record()).extensions ?? {};
    expect(none).not.toHaveProperty('partitionkey');
    expect(none).not.toHaveProperty('partitionkeyb64');
  });

  it('sends a header value that is not UTF-8 as kafkaheader<name>b64, and text under a name ending in b64 base64 too', () => {
    const e = kafkaEvent(partition, record({ headers: { 'X-Bin': Buffer.from([0xc3, 0x28]), 'X-Sig-B64': Buffer.from('text'), multi: [Buffer.from('first'), Buffer.from('second')] } }));
    expect(e.extensions).toMatchObject({ kafkaheaderxbinb64: Buffer.from([0xc3, 0x28]).toString('base64'), kafkaheaderxsigb64b64: Buffer.from('text').toString('base64'), kafkaheadermulti: 'first' });
    expect(e.extensions).not.toHaveProperty('kafkaheaderxbin');
    expect(e.extensions).not.toHaveProperty('kafkaheaderxsigb64');
  });

  it('uses a usable content-type header as the content type, and keeps any other as an extension', () => {
    expect(kafkaEvent(partition, record({ headers: { 'Content-Type': Buffer.from('application/xml') } })).contentType).toBe('application/xml');
    const bad = kafkaEvent(partition, record({ headers: { 'content-type': Buffer.from('text/plain\nx: 1') } }));
    expect(bad.contentType).toBeUndefined();
    expect(bad.extensions?.kafkaheadercontenttype).toBe('text/plain\nx: 1');
    const binary = kafkaEvent(partition, record({ headers: { 'content-type': Buffer.from([0xff]) } }));
    expect(binary.contentType).toBeUndefined();
    expect(binary.extensions?.kafkaheadercontenttypeb64).toBe('/w==');
    expect(toHttpMessage(bad, 'binary').headers['content-type']).toBe('application/json');
  });

  it.each([
    ['nanoseconds', '1700000000000000000'],
    ['past year 9999', '253402300800000'],
    ['before year 0', '-62167219200001'],
    ['not a number', 'x'],
  ])('leaves out a timestamp without an RFC 3339 form (%s) and sends the raw one as kafkatimestamp', (_name, timestamp) => {
    const e = kafkaEvent(partition, record({ timestamp }));
    expect(e.extensions?.kafkatimestamp).toBe(timestamp);
    for (const mode of ['binary', 'structured'] as const) {
      const m = toHttpMessage(e, mode);
      expect(m.headers).not.toHaveProperty('ce-time');
      expect(m.headers).not.toHaveProperty('event-time');
      const body = typeof m.body === 'string' ? m.body : Buffer.from(m.body).toString('utf8');
      if (mode === 'structured') expect(JSON.parse(body)).not.toHaveProperty('time');
      const ev = HTTP.toEvent({ headers: m.headers, body: mode === 'binary' ? Buffer.from(m.body as Uint8Array) : body });
      expect(Array.isArray(ev) ? ev[0]?.id : ev.id).toBe('partition:3/offset:42');
    }
  });

  it('keeps a timestamp in range, with no kafkatimestamp', () => {
    const e = kafkaEvent(partition, record({ timestamp: '253402300799999' }));
    expect(e.extensions).not.toHaveProperty('kafkatimestamp');
    expect(toHttpMessage(e, 'binary').headers['ce-time']).toBe('9999-12-31T23:59:59.999Z');
  });

  it('maps a W3C traceparent and tracestate header to the CloudEvents tracing extension and the W3C headers, in both modes', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const e = kafkaEvent(partition, record({ headers: { traceparent: Buffer.from(tp), tracestate: 'congo=t61rcWkgMzE', 'x-other': 'v' } }));
    expect(e.extensions).toMatchObject({ traceparent: tp, tracestate: 'congo=t61rcWkgMzE', kafkaheadertraceparent: tp, kafkaheadertracestate: 'congo=t61rcWkgMzE' });
    const binary = toHttpMessage(e, 'binary');
    expect(binary.headers).toMatchObject({ traceparent: tp, tracestate: 'congo=t61rcWkgMzE', 'ce-traceparent': tp });
    const received = HTTP.toEvent({ headers: binary.headers, body: binary.body });
    expect(Array.isArray(received) ? undefined : received.traceparent).toBe(tp);
    const structured = toHttpMessage(e, 'structured');
    expect(structured.headers.traceparent).toBe(tp);
    expect(JSON.parse(String(structured.body))).toMatchObject({ traceparent: tp, tracestate: 'congo=t61rcWkgMzE' });
  });

  it('leaves a malformed traceparent to its kafkaheader extension only', () => {
    const e = kafkaEvent(partition, record({ headers: { traceparent: 'not-a-trace' } }));
    expect(e.extensions).not.toHaveProperty('traceparent');
    expect(toHttpMessage(e, 'binary').headers).not.toHaveProperty('traceparent');
    expect(e.extensions?.kafkaheadertraceparent).toBe('not-a-trace');
  });
});
