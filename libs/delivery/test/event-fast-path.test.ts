import { HTTP } from 'cloudevents';
import { describe, expect, it, vi } from 'vitest';
import { detectContentType, detectContentTypeFromText } from '../src/content-type.js';
import { toHttpMessage, toHttpMessageViaSdk, type EventInput, type HttpMessage } from '../src/event.js';

// toHttpMessage writes messages itself on its hot path; the cloudevents SDK (toHttpMessageViaSdk)
// is the reference. These tests hold the two to the same output, header for header and byte for byte.

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const bodyBytes = (b: Uint8Array | string): Buffer => (typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

const payloads: [string, Uint8Array][] = [
  ['small JSON object', enc('{"i":1,"msg":"hello kubeless","at":"2024-01-01T00:00:00.000Z"}')],
  ['JSON with leading whitespace', enc(' \n\t{"a": [1, 2.50, "x"]}\n')],
  ['JSON array', enc('[1,2,3]')],
  ['JSON string', enc('"just a string"')],
  ['JSON null', enc('null')],
  ['JSON number', enc('42')],
  ['JSON true', enc('true')],
  ['big number', enc('[1e400, -0, 0.1]')],
  ['broken JSON', enc('{"a":')],
  ['unterminated array', enc('[1,2')],
  ['vertical tab before JSON', enc('\u000b{"a":1}')],
  ['only whitespace', enc(' \n\t ')],
  ['plain text', enc('hello world')],
  ['UTF-8 text', enc('héllo wörld ✓ 🚀')],
  ['BOM then JSON', new Uint8Array([0xef, 0xbb, 0xbf, ...enc('{"bom":true}')])],
  ['NBSP then JSON', enc('\u00a0{"nbsp":1}')],
  ['ideographic space then text', enc('\u3000x')],
  ['latin-1 (not UTF-8)', new Uint8Array([0x68, 0xe9, 0x6c, 0x6c, 0x6f])],
  ['binary', new Uint8Array([0x00, 0xff, 0xfe, 0x80, 0x7f, 0x0a, 0x0d])],
  ['NUL bytes', new Uint8Array([0x00, 0x00, 0x00])],
  ['cut UTF-8 sequence', new Uint8Array([0x7b, 0xc3])],
  ['lone surrogate (CESU)', new Uint8Array([0xed, 0xa0, 0x80])],
  ['empty', new Uint8Array(0)],
  ['view into a larger buffer', Buffer.from('xx{"a":1}yy').subarray(2, 9)],
  ['64 KiB of text', enc('a'.repeat(65_536))],
  ['JSON with unicode escapes', enc('{"s":"\\u00e9\\ud83d\\ude80","n":[]}')],
];

const contentTypes: (string | undefined)[] = [undefined, 'application/json', 'application/vnd.api+json; charset=utf-8', 'text/plain', 'text/csv', 'application/octet-stream', 'image/png', 'TEXT/HTML'];

const extensionSets: (Record<string, string> | undefined)[] = [
  undefined,
  {},
  { kafkapartition: '3', kafkaoffset: '42' },
  { partitionkey: 'k1', kafkaheaderxtraceid: 'abc', kafkapartition: '0', kafkaoffset: '7' },
  { sqsattrcolor: 'red', empty: '' },
  { '123': 'numeric name', zeta: 'z', alpha: 'a' },
  { unicode: 'wörld ✓' },
  // Values that must be percent-encoded in binary mode (§3.1.3.2), and a binary key as base64.
  { partitionkey: 'Москва 東京 🚀', kafkaheadertrace: 'a b"c%d', kafkaheadercrlf: 'line1\r\nline2\u0000', partitionkeyb64: 'AAH/Cg==' },
  { sqsattrlatin: 'café', sqsattrtab: '\t', sqsattrpercent: '100%', sqsattrquote: '"' },
];

function input(data: Uint8Array, extra: Partial<EventInput> = {}): EventInput {
  return {
    id: 'partition:3/offset:42',
    source: '/apis/v1/namespaces/default/kafkatriggers/orders#orders',
    type: 'io.kubeless.kafka.message',
    time: new Date('2024-01-02T03:04:05.678Z'),
    data,
    legacy: { namespace: 'kafkatriggers.kubeless.io', topic: 'orders' },
    ...extra,
  };
}

function expectSame(fast: HttpMessage, sdk: HttpMessage): void {
  expect(fast.headers).toStrictEqual(sdk.headers);
  expect(Object.keys(fast.headers)).toStrictEqual(Object.keys(sdk.headers));
  expect(bodyBytes(fast.body).equals(bodyBytes(sdk.body))).toBe(true);
}

describe('toHttpMessage equals the cloudevents SDK encoding', () => {
  for (const mode of ['binary', 'structured'] as const) {
    describe(`${mode} mode`, () => {
      it.each(payloads)('%s, every content type and extension set', (_name, data) => {
        for (const contentType of contentTypes) {
          for (const extensions of extensionSets) {
            const e = input(data, { contentType, ...(extensions ? { extensions } : {}) });
            expectSame(toHttpMessage(e, mode), toHttpMessageViaSdk(e, mode));
          }
        }
      });

      it.each([
        ['a subject', { subject: 'row 7' }],
        ['no event-topic (SQS)', { legacy: { namespace: 'sqstriggers.kubeless.io' }, id: '4a1e-9c3b', source: '/apis/v1/namespaces/ns/sqstriggers/t#queue', type: 'io.kubeless.sqs.message' }],
        ['the epoch', { time: new Date(0) }],
        ['a time before 1970', { time: new Date(-1) }],
        ['year 9999', { time: new Date('9999-12-31T23:59:59.999Z') }],
        ['year 0', { time: new Date('0000-01-01T00:00:00.000Z') }],
        ['a URL source', { source: 'https://example.com/orders?x=1#t' }],
        ['a long id', { id: `partition:2147483647/offset:${'9'.repeat(19)}` }],
        ['an id, a subject and a topic that need percent-encoding', { id: 'id with space/ü', subject: 'row "7" 100%', legacy: { namespace: 'kafkatriggers.kubeless.io', topic: 'tö pic' } }],
        ['a year past 9999 (no time)', { time: new Date('+010000-01-01T00:00:00.000Z') }],
        ['a year before 0 (no time)', { time: new Date('-000001-01-01T00:00:00.000Z') }],
        ['an invalid date (no time)', { time: new Date(Number.NaN) }],
        ['an empty content type (detected)', { contentType: '' }],
        ['a content type with a line break (detected)', { contentType: 'text/plain\r\nx-evil: 1' }],
        ['a content type with non-ASCII (detected)', { contentType: 'text/plain; charset=ütf-8' }],
        ['headers too large for binary mode (structured)', { extensions: { partitionkey: 'k'.repeat(9000) } }],
        ['more headers than binary mode allows (structured)', { extensions: Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`kafkaheaderh${String(i)}`, 'v'])) }],
        ['a time out of range and an encoded id (structured, no time)', { id: 'ü', time: new Date(8.65e15), extensions: { partitionkey: 'ü'.repeat(5000) } }],
      ] as [string, Partial<EventInput>][])('with %s', (_name, extra) => {
        for (const [, data] of payloads.slice(0, 6)) {
          const e = input(data, extra);
          expectSame(toHttpMessage(e, mode), toHttpMessageViaSdk(e, mode));
        }
      });

      it('the SDK reads the message back as the same event', () => {
        const m = toHttpMessage(input(enc('{"a":1}'), { extensions: { kafkakey: 'k', kafkaoffset: '42' } }), mode);
        const ev = HTTP.toEvent({ headers: m.headers, body: bodyBytes(m.body).toString('utf8') });
        const one = Array.isArray(ev) ? ev[0] : ev;
        expect(one?.id).toBe('partition:3/offset:42');
        expect(one?.kafkakey).toBe('k');
        expect(one?.data).toEqual({ a: 1 });
      });
    });
  }

  // Anything the hot path does not vouch for goes through the SDK, which throws as it always did.
  it.each([
    ['an invalid extension name', { extensions: { 'X-Trace-Id': 'abc' } }],
    ['an extension with an underscore', { extensions: { under_score: 'abc' } }],
    ['an empty subject', { subject: '' }],
    ['an empty source', { source: '' }],
    ['a source with a space', { source: '/a b' }],
    ['an empty type', { type: '' }],
  ] as [string, Partial<EventInput>][])('rejects %s exactly as the SDK does', (_name, extra) => {
    for (const mode of ['binary', 'structured'] as const) {
      const e = input(enc('{"a":1}'), extra);
      let sdkError: unknown;
      try {
        toHttpMessageViaSdk(e, mode);
      } catch (err) {
        sdkError = err;
      }
      expect(sdkError).toBeInstanceOf(Error);
      expect(() => toHttpMessage(e, mode)).toThrow((sdkError as Error).message);
    }
  });

  it('lets an extension named like a CloudEvents attribute go through the SDK (same result as before)', () => {
    for (const name of ['schemaurl', 'datacontentencoding']) {
      const e = input(enc('x'), { extensions: { [name]: 'v' } });
      for (const mode of ['binary', 'structured'] as const) {
        let sdk: HttpMessage | Error;
        try {
          sdk = toHttpMessageViaSdk(e, mode);
        } catch (err) {
          sdk = err as Error;
        }
        if (sdk instanceof Error) expect(() => toHttpMessage(e, mode)).toThrow(sdk.message);
        else expectSame(toHttpMessage(e, mode), sdk);
      }
    }
  });

  it('goes structured at exactly the same header size and count as the SDK path', () => {
    let structured = 0;
    for (let size = 7700; size <= 8200; size += 3) {
      for (const value of ['k', 'ü']) {
        const e = input(enc('{"a":1}'), { extensions: { partitionkey: value.repeat(value === 'k' ? size : Math.floor(size / 6)), kafkaoffset: '7' } });
        const fast = toHttpMessage(e, 'binary');
        expectSame(fast, toHttpMessageViaSdk(e, 'binary'));
        if (fast.headers['content-type']?.startsWith('application/cloudevents+json')) structured++;
      }
    }
    for (let n = 40; n <= 60; n++) {
      const e = input(enc('x'), { subject: 's', extensions: Object.fromEntries(Array.from({ length: n }, (_, i) => [`h${String(i)}x`, 'v'])) });
      expectSame(toHttpMessage(e, 'binary'), toHttpMessageViaSdk(e, 'binary'));
    }
    // Both sides of the bound were reached.
    expect(structured).toBeGreaterThan(0);
    expect(structured).toBeLessThan(334);
  });

  it('leaves an empty id to the SDK, which makes up a UUID as it always did', () => {
    const m = toHttpMessage(input(enc('x'), { id: '' }), 'binary');
    expect(m.headers['ce-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/u);
  });

  it('does not call the SDK per event on the hot path (the comparisons above are not the SDK against itself)', () => {
    const binary = vi.spyOn(HTTP, 'binary');
    const structured = vi.spyOn(HTTP, 'structured');
    try {
      for (const [, data] of payloads) {
        for (const mode of ['binary', 'structured'] as const) toHttpMessage(input(data, { extensions: { kafkaoffset: '42' } }), mode);
      }
      expect(binary).not.toHaveBeenCalled();
      expect(structured).not.toHaveBeenCalled();
      toHttpMessageViaSdk(input(enc('x')), 'binary');
      expect(binary).toHaveBeenCalledTimes(1);
    } finally {
      binary.mockRestore();
      structured.mockRestore();
    }
  });

  it('sends the payload itself in binary mode (no copy, no string)', () => {
    const data = Buffer.from('{"a":1}');
    expect(toHttpMessage(input(data), 'binary').body).toBe(data);
  });
});

describe('detectContentType equals the reference rule on the decoded text', () => {
  it.each(payloads)('%s', (_name, data) => {
    expect(detectContentType(data)).toBe(detectContentTypeFromText(data));
  });

  it('on every short byte string over a JSON-ish alphabet', () => {
    const alphabet = [0x20, 0x09, 0x0b, 0x7b, 0x7d, 0x5b, 0x5d, 0x22, 0x31, 0x61, 0xc3, 0xa9, 0xef, 0xbb, 0xbf, 0xff];
    const check = (bytes: number[]): void => {
      const data = new Uint8Array(bytes);
      expect(detectContentType(data), JSON.stringify(bytes)).toBe(detectContentTypeFromText(data));
    };
    // Every string of up to 3 bytes: 16 + 256 + 4096 cases.
    for (const a of alphabet) {
      check([a]);
      for (const b of alphabet) {
        check([a, b]);
        for (const c of alphabet) check([a, b, c]);
      }
    }
  });
});
