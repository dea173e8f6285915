import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolveDelivery, type DeliverySpec } from '@kubeless/api';
import type { KubeObject } from '@kubeless/controller';
import { createRegistry, type Registry } from '@kubeless/observability';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Deliverer,
  DeliveryClient,
  DeliveryError,
  EndpointSliceResolver,
  MIN_RETRY_DELAY_MS,
  deliveryMetrics,
  describeFailure,
  setBytesExtension,
  type EventInput,
  type HttpMessage,
} from '../src/index.js';
import { decodeExtensions, startCloudEventsServer, type CloudEventsServer, type ReceivedEvent } from './cloudevents-server.js';
import { MemoryCache } from './helpers.js';

// Every test here goes over real sockets (port 0) to a server that runs the official SDK's
// HTTP.toEvent on what it got: a key, header or attribute of any bytes must arrive, decodable.

const labels = { kind: 'kafka', namespace: 'team-a', trigger: 'orders' };

let server: CloudEventsServer | undefined;
let client: DeliveryClient | undefined;
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  await client?.close();
  await server?.close();
  for (const c of closers.splice(0)) await c();
  client = undefined;
  server = undefined;
});

const event = (extra: Partial<EventInput> = {}): EventInput => ({
  id: 'partition:0/offset:1',
  source: '/apis/v1/namespaces/team-a/kafkatriggers/orders#orders',
  type: 'io.kubeless.kafka.message',
  time: new Date('2024-05-06T07:08:09.000Z'),
  data: Buffer.from('{"n":1}'),
  legacy: { namespace: 'kafkatriggers.kubeless.io', topic: 'orders' },
  ...extra,
});

/** A Deliverer to `url` (an EndpointSlice over an in-memory cache, as in the local stack). */
function delivererTo(url: URL, spec: DeliverySpec = {}, maxEventBytes = 1 << 20): { deliverer: Deliverer; registry: Registry } {
  client = new DeliveryClient({ userAgent: 'kubeless-test' });
  const services = new MemoryCache<KubeObject>();
  const slices = new MemoryCache<KubeObject>();
  services.set({ metadata: { namespace: 'team-a', name: 'hello' }, spec: { ports: [{ name: 'http-function-port', port: 8080, targetPort: 8080 }] } });
  slices.set({
    metadata: { namespace: 'team-a', name: 'hello-x1', labels: { 'kubernetes.io/service-name': 'hello' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
    ports: [{ name: 'http-function-port', port: Number(url.port) }],
  });
  const registry = createRegistry({ defaultMetrics: false });
  const deliverer = new Deliverer({
    client,
    resolver: new EndpointSliceResolver(services, slices),
    target: { namespace: 'team-a', name: 'hello' },
    delivery: resolveDelivery(spec, 5000),
    maxEventBytes,
    metrics: deliveryMetrics(registry),
    labels,
  });
  return { deliverer, registry };
}

async function failure(p: Promise<unknown>): Promise<DeliveryError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(DeliveryError);
    return err as DeliveryError;
  }
  throw new Error('expected the attempt to fail');
}

function only(s: CloudEventsServer): ReceivedEvent {
  expect(s.received).toHaveLength(1);
  const r = s.received[0];
  if (!r) throw new Error('nothing received');
  expect(r.error).toBeUndefined();
  return r;
}

describe('any bytes in a key, header or attribute are delivered', () => {
  for (const mode of ['binary', 'structured'] as const) {
    it(`${mode} mode: a key 00 01 ff 0a, Unicode and CR/LF values arrive and decode exactly`, async () => {
      server = await startCloudEventsServer();
      const { deliverer } = delivererTo(server.url, { eventMode: mode });
      const key = Buffer.from([0x00, 0x01, 0xff, 0x0a]);
      const values: Record<string, Buffer> = {
        kafkaheadercity: Buffer.from('Москва'),
        kafkaheadertokyo: Buffer.from('東京 🚀'),
        kafkaheaderlines: Buffer.from('line1\r\nline2'),
        kafkaheaderpercent: Buffer.from('100% "sure" %41'),
        kafkaheaderbinary: Buffer.from([0xc3, 0x28, 0x00]),
        kafkaheaderempty: Buffer.alloc(0),
      };
      const extensions: Record<string, string> = {};
      setBytesExtension(extensions, 'partitionkey', key);
      for (const [k, v] of Object.entries(values)) setBytesExtension(extensions, k, v);
      await deliverer.attempt(event({ extensions, subject: 'Zürich "7"' }), 1);
      const r = only(server);
      expect(r.mode).toBe(mode);
      const got = decodeExtensions(r);
      expect(got.get('partitionkey')?.equals(key)).toBe(true);
      for (const [k, v] of Object.entries(values)) expect(got.get(k)?.equals(v), k).toBe(true);
      const subject = r.event?.subject ?? '';
      expect(mode === 'binary' ? decodeURIComponent(subject) : subject).toBe('Zürich "7"');
      expect(r.event?.id).toBe('partition:0/offset:1');
    });
  }

  it('a text key is partitionkey, percent-encoded in binary mode (the runtimes decode it once)', async () => {
    server = await startCloudEventsServer();
    const { deliverer } = delivererTo(server.url);
    const extensions: Record<string, string> = {};
    setBytesExtension(extensions, 'partitionkey', Buffer.from('Москва'));
    await deliverer.attempt(event({ extensions }), 1);
    const r = only(server);
    expect(r.headers['ce-partitionkey']).toBe('%D0%9C%D0%BE%D1%81%D0%BA%D0%B2%D0%B0');
    expect(r.headers).not.toHaveProperty('ce-partitionkeyb64');
  });

  it('a time out of range (a Kafka timestamp in nanoseconds) is left out, and the event delivered', async () => {
    server = await startCloudEventsServer();
    const { deliverer } = delivererTo(server.url);
    await deliverer.attempt(event({ time: new Date(1_700_000_000_000_000_000) }), 1);
    const r = only(server);
    expect(r.headers).not.toHaveProperty('ce-time');
    expect(r.headers).not.toHaveProperty('event-time');
  });

  it("metadata too large for the function's headers goes in a structured body, which Node's default server accepts", async () => {
    server = await startCloudEventsServer();
    const { deliverer } = delivererTo(server.url);
    const key = Buffer.from('ключ'.repeat(3000)); // 24 KB of UTF-8, 72 KB percent-encoded
    const extensions: Record<string, string> = {};
    setBytesExtension(extensions, 'partitionkey', key);
    await deliverer.attempt(event({ extensions }), 1);
    const r = only(server);
    expect(r.mode).toBe('structured');
    expect(decodeExtensions(r).get('partitionkey')?.equals(key)).toBe(true);
    expect(r.event?.data).toEqual({ n: 1 });
  });
});

describe('deterministic local failures are not retried', () => {
  it('an undici InvalidArgumentError (a header value it will not send) is InvalidEvent, not a retriable Connection error', async () => {
    server = await startCloudEventsServer();
    client = new DeliveryClient({ userAgent: 'kubeless-test' });
    const bad: HttpMessage = { headers: { 'content-type': 'text/plain', 'ce-id': '1', 'ce-partitionkey': 'Москва' }, body: 'x' };
    const e = await failure(client.send(server.url, bad, { timeoutMs: 5000 }));
    expect(e.kind).toBe('InvalidEvent');
    expect(e.retriable).toBe(false);
    expect(e.reason).toBe('invalid_event');
    expect(e.message).toMatch(/UND_ERR_INVALID_ARG invalid ce-partitionkey header/u);
    expect(server.received).toHaveLength(0);
  });

  it('an event the SDK refuses is InvalidEvent at once, counted, and nothing is sent', async () => {
    server = await startCloudEventsServer();
    const { deliverer, registry } = delivererTo(server.url);
    const e = await failure(deliverer.attempt(event({ extensions: { 'X-Not-A-Name': 'v' } }), 1));
    expect(e.kind).toBe('InvalidEvent');
    expect(e.retriable).toBe(false);
    expect(e.message).toMatch(/^event cannot be encoded as a CloudEvent: invalid extension name/u);
    expect(describeFailure(e)).toMatchObject({ reason: 'invalid_event', retriable: false });
    expect(server.received).toHaveLength(0);
    const failed = await registry.getSingleMetricAsString('kubeless_delivery_failed_attempts_total');
    expect(failed).toMatch(/reason="invalid_event"\} 1/u);
  });
});

describe('sizes', () => {
  it('checks the encoded size: binary data grows by 4/3 in a structured body (EventTooLarge, nothing sent)', async () => {
    server = await startCloudEventsServer();
    const { deliverer } = delivererTo(server.url, { eventMode: 'structured' }, 1000);
    const e = await failure(deliverer.attempt(event({ data: new Uint8Array(900).fill(0xff) }), 1));
    expect(e.kind).toBe('EventTooLarge');
    expect(e.retriable).toBe(false);
    expect(e.message).toMatch(/event of 900 bytes is \d+ bytes as a structured CloudEvent .* over the limit of 1000/u);
    expect(server.received).toHaveLength(0);
    // The same payload in binary mode fits.
    const binary = delivererTo(server.url, { eventMode: 'binary' }, 1000);
    await binary.deliverer.attempt(event({ data: new Uint8Array(900).fill(0xff) }), 1);
    expect(server.received).toHaveLength(1);
  });

  it.each([
    [413, /function answered 413: the event's body of 7 bytes is over the function's request size limit/u],
    [431, /function answered 431: the event's \d+ headers \(\d+ bytes\) are over the function's header limit/u],
  ])('a %i answer is a non-retriable EventTooLarge whose reason says so', async (status, message) => {
    server = await startCloudEventsServer(() => status);
    const { deliverer } = delivererTo(server.url);
    const e = await failure(deliverer.attempt(event(), 1));
    expect(e.kind).toBe('EventTooLarge');
    expect(e.status).toBe(status);
    expect(e.retriable).toBe(false);
    expect(e.reason).toBe('event_too_large');
    expect(e.message).toMatch(message);
  });

  it("Node's own 431 (headers over its limit) is a non-retriable EventTooLarge", async () => {
    const small = http.createServer({ maxHeaderSize: 1024 }, (_req, res) => res.writeHead(200).end());
    await new Promise<void>((resolve) => small.listen(0, '127.0.0.1', resolve));
    closers.push(async () => {
      small.closeAllConnections();
      await new Promise<void>((resolve) => small.close(() => { resolve(); }));
    });
    const url = new URL(`http://127.0.0.1:${String((small.address() as AddressInfo).port)}/`);
    const { deliverer } = delivererTo(url);
    const e = await failure(deliverer.attempt(event({ extensions: { partitionkey: 'k'.repeat(2000) } }), 1));
    expect(e.kind).toBe('EventTooLarge');
    expect(e.status).toBe(431);
    expect(e.retriable).toBe(false);
  });
});

describe('a floor under retry waits', () => {
  it('a backoff under the floor (1 ms) still waits at least MIN_RETRY_DELAY_MS, also when blocked', () => {
    const { deliverer } = delivererTo(new URL('http://127.0.0.1:1/'), { backoffDelay: '1ms', backoffMax: '1ms' });
    expect(deliverer.blockedRetryDelay()).toBe(MIN_RETRY_DELAY_MS);
    for (let retry = 1; retry < 20; retry++) expect(deliverer.delayBeforeRetry(new Error('x'), retry)).toBeGreaterThanOrEqual(MIN_RETRY_DELAY_MS);
  });
});
