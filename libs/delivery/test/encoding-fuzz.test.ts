import { resolveDelivery } from '@kubeless/api';
import type { KubeObject } from '@kubeless/controller';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Deliverer,
  DeliveryClient,
  EndpointSliceResolver,
  extensionName,
  isRepresentableTime,
  setBytesExtension,
  type DeliveryError,
  type EventInput,
} from '../src/index.js';
import { decodeExtensions, startCloudEventsServer, type CloudEventsServer } from './cloudevents-server.js';
import { MemoryCache } from './helpers.js';

// Property: any Kafka-like record (key, headers and payload of arbitrary bytes, Unicode, CR/LF, %)
// is delivered by the real DeliveryClient to a real server (Node's default limits) whose
// cloudevents SDK accepts the request, and every key and header value decodes to its exact bytes
// by the documented rules (percent-decoding in binary mode, `<name>b64` for bytes). A failure of
// any kind, retriable or not, is a counterexample: valid input must be delivered.

const RUNS = 200;

/** Characters that have broken HTTP stacks before. */
const tricky = fc.constantFrom('\r', '\n', '\r\n', '%', '%25', '%zz', '"', ' ', '\t', '\u0000', '\u007f', 'é', '\u00ff', '東京', '🚀', '\ufeff', '\u2028', 'b64');
/** UTF-8 text: any code point, mixed with the tricky ones. */
const text = fc.array(fc.oneof(tricky, fc.string({ unit: 'binary', maxLength: 6 })), { maxLength: 10 }).map((parts) => Buffer.from(parts.join(''), 'utf8'));
/** Bytes of any kind: arbitrary (mostly not UTF-8), text, or big enough to push headers over the binary-mode bound. */
const bytes = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 48 }).map((b) => Buffer.from(b)) },
  { weight: 4, arbitrary: text },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1500, maxLength: 3000 }).map((b) => Buffer.from(b)) },
);
/** Header names as producers send them; unique once sanitised, so each value has its own extension. */
const headerName = fc.oneof(fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.-]{0,12}$/u), fc.constantFrom('X-Sig-B64', 'b64', 'traceparent', 'Content-Encoding'));
const header = fc.tuple(headerName, bytes);
const uniqueHeaders = { selector: ([name]: [string, Buffer]) => extensionName('kafkaheader', name) };
/** Mostly a few headers; now and then close to Python's 100 header lines (fast-check keeps arrays short unless told). */
const headers = fc.oneof(
  { weight: 5, arbitrary: fc.uniqueArray(header, { maxLength: 12, ...uniqueHeaders }) },
  { weight: 1, arbitrary: fc.uniqueArray(header, { minLength: 60, maxLength: 100, ...uniqueHeaders }) },
);
const payload = fc.oneof(
  fc.uint8Array({ maxLength: 4096 }).map((b) => Buffer.from(b)),
  text,
  fc.json().map((j) => Buffer.from(j, 'utf8')),
);
const timestamp = fc.oneof(fc.integer({ min: -62_167_219_200_000, max: 253_402_300_799_999 }), fc.constantFrom(Number.NaN, 1.7e18, 8.64e15 + 1, -8.64e15 - 1));
const contentType = fc.option(fc.constantFrom('application/json', 'text/plain', 'application/octet-stream', 'text/plain\r\nx: 1', 'тип/x', ''), { nil: undefined });
const record = fc.record({
  key: fc.option(bytes, { nil: null }),
  headers,
  payload,
  timestamp,
  contentType,
  mode: fc.constantFrom('binary' as const, 'structured' as const),
});

/** A Kafka record as the kafka-trigger builds its event, with the libs/delivery helpers. */
function buildEvent(r: { key: Buffer | null; headers: [string, Buffer][]; payload: Buffer; timestamp: number; contentType: string | undefined }, offset: number): EventInput {
  const extensions: Record<string, string> = {};
  for (const [name, value] of r.headers) setBytesExtension(extensions, extensionName('kafkaheader', name), value);
  if (r.key) setBytesExtension(extensions, 'partitionkey', r.key);
  extensions.kafkapartition = '0';
  extensions.kafkaoffset = String(offset);
  if (!isRepresentableTime(r.timestamp)) extensions.kafkatimestamp = String(r.timestamp);
  return {
    id: `partition:0/offset:${String(offset)}`,
    source: '/apis/v1/namespaces/team-a/kafkatriggers/orders#orders',
    type: 'io.kubeless.kafka.message',
    time: new Date(r.timestamp),
    data: r.payload,
    contentType: r.contentType,
    extensions,
    legacy: { namespace: 'kafkatriggers.kubeless.io', topic: 'orders' },
  };
}

let server: CloudEventsServer;
let client: DeliveryClient;
const deliverers = new Map<string, Deliverer>();

beforeAll(async () => {
  server = await startCloudEventsServer();
  client = new DeliveryClient({ userAgent: 'kubeless-fuzz' });
  const services = new MemoryCache<KubeObject>();
  const slices = new MemoryCache<KubeObject>();
  services.set({ metadata: { namespace: 'team-a', name: 'hello' }, spec: { ports: [{ name: 'http-function-port', port: 8080, targetPort: 8080 }] } });
  slices.set({
    metadata: { namespace: 'team-a', name: 'hello-x1', labels: { 'kubernetes.io/service-name': 'hello' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
    ports: [{ name: 'http-function-port', port: Number(server.url.port) }],
  });
  const resolver = new EndpointSliceResolver(services, slices);
  for (const mode of ['binary', 'structured'] as const) {
    deliverers.set(mode, new Deliverer({ client, resolver, target: { namespace: 'team-a', name: 'hello' }, delivery: resolveDelivery({ eventMode: mode }, 5000), maxEventBytes: 1 << 20, labels: { kind: 'kafka', namespace: 'team-a', trigger: 'orders' } }));
  }
});

afterAll(async () => {
  await client.close();
  await server.close();
});

describe('fuzz: any record is delivered and decodes exactly', () => {
  it(`holds for ${String(RUNS)} random records in both modes`, { timeout: 120_000 }, async () => {
    let offset = 0;
    await fc.assert(
      fc.asyncProperty(record, async (r) => {
        offset++;
        const event = buildEvent(r, offset);
        const before = server.received.length;
        try {
          await deliverers.get(r.mode)?.attempt(event, 1);
        } catch (err) {
          const e = err as DeliveryError;
          throw new Error(`not delivered: ${e.code} (retriable ${String(e.retriable)}): ${e.message}`, { cause: err });
        }
        expect(server.received).toHaveLength(before + 1);
        const got = server.received[before];
        if (!got) throw new Error('nothing received');
        expect(got.error).toBeUndefined();
        const ext = decodeExtensions(got);
        // The key, byte for byte (or none), and every header value.
        if (r.key) expect(ext.get('partitionkey')?.equals(r.key)).toBe(true);
        else expect(ext.has('partitionkey')).toBe(false);
        for (const [name, value] of r.headers) expect(ext.get(extensionName('kafkaheader', name))?.equals(value), name).toBe(true);
        expect(ext.get('kafkaoffset')?.toString()).toBe(String(offset));
        expect(got.event?.id).toBe(event.id);
        // The payload: the body itself in binary mode; in structured mode base64, text or JSON.
        if (got.mode === 'binary') {
          expect(got.body.equals(r.payload)).toBe(true);
          if (isRepresentableTime(r.timestamp)) expect(got.headers['ce-time']).toBe(new Date(r.timestamp).toISOString());
          else expect(got.headers).not.toHaveProperty('ce-time');
        } else {
          const doc = JSON.parse(got.body.toString('utf8')) as Record<string, unknown>;
          if (typeof doc.data_base64 === 'string') expect(Buffer.from(doc.data_base64, 'base64').equals(r.payload)).toBe(true);
          else if (typeof doc.data === 'string' && !String(doc.datacontenttype).includes('json')) expect(doc.data).toBe(r.payload.toString('utf8'));
          else if (r.payload.length > 0) expect(JSON.stringify(doc.data)).toBe(JSON.stringify(JSON.parse(r.payload.toString('utf8'))));
          expect('time' in doc).toBe(isRepresentableTime(r.timestamp));
        }
      }),
      { numRuns: RUNS },
    );
  });
});
