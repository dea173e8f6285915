import { resolveDelivery, type DeliverySpec } from '@kubeless/api';
import type { KubeObject } from '@kubeless/controller';
import { createRegistry, type Registry } from '@kubeless/observability';
import { afterEach, describe, expect, it } from 'vitest';
import { Deliverer, DeliveryClient, DeliveryError, EndpointSliceResolver, deliveryMetrics, type EventInput } from '../src/index.js';
import { MemoryCache, startServer, type Handler, type TestServer } from './helpers.js';

const target = { namespace: 'team-a', name: 'hello' };
const labels = { kind: 'kafka', namespace: 'team-a', trigger: 'orders' };
const fnLabels = { ...labels, function: 'hello' };

const event = (data: string | Uint8Array, id = 'partition:0/offset:1'): EventInput => ({
  id,
  source: '/apis/v1/namespaces/team-a/kafkatriggers/orders#orders',
  type: 'io.kubeless.kafka.message',
  time: new Date('2024-05-06T07:08:09.000Z'),
  data: typeof data === 'string' ? new TextEncoder().encode(data) : data,
  legacy: { namespace: 'kafkatriggers.kubeless.io', topic: 'orders' },
});

let server: TestServer | undefined;
let client: DeliveryClient | undefined;

afterEach(async () => {
  await client?.close();
  await server?.close();
  client = undefined;
  server = undefined;
});

interface Setup {
  server: TestServer;
  deliverer: Deliverer;
  registry: Registry;
  slices: MemoryCache<KubeObject>;
}

/** A real server, reached through the EndpointSlice resolver over an in-memory cache. */
async function setup(handler: Handler, spec: DeliverySpec = {}, maxEventBytes = 1024): Promise<Setup> {
  server = await startServer(handler);
  client = new DeliveryClient({ userAgent: 'kubeless-test' });
  const services = new MemoryCache<KubeObject>();
  const slices = new MemoryCache<KubeObject>();
  services.set({ metadata: { namespace: 'team-a', name: 'hello' }, spec: { ports: [{ name: 'http-function-port', port: 8080, targetPort: 8080 }] } });
  slices.set({
    metadata: { namespace: 'team-a', name: 'hello-x1', labels: { 'kubernetes.io/service-name': 'hello' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
    ports: [{ name: 'http-function-port', port: Number(server.url.port) }],
  });
  const registry = createRegistry({ defaultMetrics: false });
  const deliverer = new Deliverer({
    client,
    resolver: new EndpointSliceResolver(services, slices),
    target,
    delivery: resolveDelivery(spec, 5000),
    maxEventBytes,
    metrics: deliveryMetrics(registry),
    labels,
  });
  return { server, deliverer, registry, slices };
}

/** A sample's value for the given labels (0 when never set); `name_count` reads a histogram's count. */
async function value(registry: Registry, name: string, want: Record<string, string> = fnLabels): Promise<number> {
  const metricName = name.replace(/_count$/u, '');
  const metric = registry.getSingleMetric(metricName);
  if (!metric) throw new Error(`no metric ${metricName}`);
  const data = await metric.get();
  const match = data.values.find((v) => {
    const l = v.labels as Record<string, unknown>;
    return ((v as { metricName?: string }).metricName ?? metricName) === name && Object.entries(want).every(([k, x]) => l[k] === x);
  });
  return match?.value ?? 0;
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

const ok: Handler = (_req, res) => {
  res.writeHead(200).end();
};

describe('Deliverer.attempt', () => {
  it('delivers a binary CloudEvent to a ready endpoint and counts it', async () => {
    const { server: s, deliverer, registry } = await setup(ok);
    await deliverer.attempt(event('{"n":1}'), 1);
    expect(s.requests).toHaveLength(1);
    const r = s.requests[0]!;
    expect(r.headers['ce-id']).toBe('partition:0/offset:1');
    expect(r.headers['ce-source']).toBe('/apis/v1/namespaces/team-a/kafkatriggers/orders#orders');
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['event-topic']).toBe('orders');
    expect(r.body.toString()).toBe('{"n":1}');
    expect(await value(registry, 'kubeless_delivery_delivered_total')).toBe(1);
    expect(await value(registry, 'kubeless_delivery_duration_seconds_count')).toBe(1);
    expect(await value(registry, 'kubeless_delivery_in_flight')).toBe(0);
    expect(await value(registry, 'kubeless_delivery_retried_total')).toBe(0);
    expect(await registry.getSingleMetricAsString('kubeless_delivery_delivered_total')).toMatch(
      /kubeless_delivery_delivered_total\{kind="kafka",namespace="team-a",trigger="orders",function="hello"\} 1/u,
    );
  });

  it('sends a structured CloudEvent when the trigger says so', async () => {
    const { server: s, deliverer } = await setup(ok, { eventMode: 'structured' });
    await deliverer.attempt(event('plain text'), 1);
    const r = s.requests[0]!;
    expect(r.headers['content-type']).toMatch(/^application\/cloudevents\+json/u);
    expect(JSON.parse(r.body.toString())).toMatchObject({ id: 'partition:0/offset:1', data: 'plain text' });
  });

  it('refuses an event over maxEventBytes without any request (EventTooLarge, not retriable)', async () => {
    const { server: s, deliverer, registry } = await setup(ok, {}, 16);
    const e = await failure(deliverer.attempt(event(new Uint8Array(17)), 1));
    expect(e.kind).toBe('EventTooLarge');
    expect(e.retriable).toBe(false);
    expect(e.message).toMatch(/17 bytes.*16/u);
    expect(s.requests).toHaveLength(0);
    expect(s.connections()).toBe(0);
    expect(await value(registry, 'kubeless_delivery_failed_attempts_total', { ...fnLabels, reason: 'event_too_large' })).toBe(1);
    expect(await value(registry, 'kubeless_delivery_in_flight')).toBe(0);
    // Exactly at the limit is fine.
    await deliverer.attempt(event(new Uint8Array(16)), 1);
    expect(s.requests).toHaveLength(1);
  });

  it('counts failed attempts by reason and retries by attempt number', async () => {
    let answer = 503;
    const { deliverer, registry } = await setup((_req, res) => {
      res.writeHead(answer).end();
    });
    const e1 = await failure(deliverer.attempt(event('x'), 1));
    expect(e1.retriable).toBe(true);
    expect(e1.status).toBe(503);
    await failure(deliverer.attempt(event('x'), 2));
    answer = 400;
    const e3 = await failure(deliverer.attempt(event('x'), 3));
    expect(e3.retriable).toBe(false);
    answer = 200;
    await deliverer.attempt(event('x'), 4);
    expect(await value(registry, 'kubeless_delivery_failed_attempts_total', { ...fnLabels, reason: 'http_503' })).toBe(2);
    expect(await value(registry, 'kubeless_delivery_failed_attempts_total', { ...fnLabels, reason: 'http_400' })).toBe(1);
    expect(await value(registry, 'kubeless_delivery_retried_total')).toBe(3);
    expect(await value(registry, 'kubeless_delivery_delivered_total')).toBe(1);
    expect(await value(registry, 'kubeless_delivery_duration_seconds_count')).toBe(1); // successes only
  });

  it('fails with a retriable NoEndpoints when the function has no ready endpoint', async () => {
    const { server: s, deliverer, registry, slices } = await setup(ok);
    slices.delete('team-a', 'hello-x1');
    const e = await failure(deliverer.attempt(event('x'), 1));
    expect(e.kind).toBe('NoEndpoints');
    expect(e.retriable).toBe(true);
    expect(s.requests).toHaveLength(0);
    expect(await value(registry, 'kubeless_delivery_failed_attempts_total', { ...fnLabels, reason: 'no_endpoints' })).toBe(1);
    expect(await value(registry, 'kubeless_delivery_in_flight')).toBe(0);
  });

  it('shows the attempt in flight while the function works', async () => {
    let release: (() => void) | undefined;
    const { deliverer, registry } = await setup((_req, res) => {
      release = () => res.writeHead(200).end();
    });
    const p = deliverer.attempt(event('x'), 1);
    const deadline = Date.now() + 5000;
    while (!release && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(await value(registry, 'kubeless_delivery_in_flight')).toBe(1);
    release?.();
    await p;
    expect(await value(registry, 'kubeless_delivery_in_flight')).toBe(0);
  });

  it('uses the trigger timeout', async () => {
    const { deliverer, registry } = await setup(() => {
      // Never answer.
    }, { timeout: '200ms' });
    const started = performance.now();
    const e = await failure(deliverer.attempt(event('x'), 1));
    expect(e.kind).toBe('Timeout');
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await value(registry, 'kubeless_delivery_failed_attempts_total', { ...fnLabels, reason: 'timeout' })).toBe(1);
  });

  it('stops with Aborted when the signal aborts, and the in-flight gauge returns to 0', async () => {
    const { deliverer, registry } = await setup(() => {
      // Never answer.
    });
    const ac = new AbortController();
    setTimeout(() => {
      ac.abort();
    }, 50);
    const e = await failure(deliverer.attempt(event('x'), 1, ac.signal));
    expect(e.kind).toBe('Aborted');
    expect(await value(registry, 'kubeless_delivery_in_flight')).toBe(0);
  });

  it('paces attempts at the trigger rate limit without stacking the waits', async () => {
    const { server: s, deliverer } = await setup(ok, { rateLimit: 10, ordering: 'unordered' });
    const started = performance.now();
    const done: number[] = [];
    await Promise.all(
      Array.from({ length: 14 }, (_, i) =>
        deliverer.attempt(event('x', `partition:0/offset:${String(i)}`), 1).then(() => done.push(performance.now() - started)),
      ),
    );
    expect(s.requests).toHaveLength(14);
    done.sort((a, b) => a - b);
    // A burst of 10, then one every 100 ms: the last goes after ~400 ms (after 1 s if the waits added up).
    expect(done[13]).toBeGreaterThanOrEqual(380);
    expect(done[13]).toBeLessThan(700);
  });
});

describe('Deliverer retry policy', () => {
  it('exhausted(n) is true after retry + 1 failed attempts', async () => {
    const { deliverer } = await setup(ok, { retry: 3 });
    expect([1, 2, 3, 4, 5].map((n) => deliverer.exhausted(n))).toEqual([false, false, false, true, true]);
    const none = await setup(ok, { retry: 0 });
    expect(none.deliverer.exhausted(1)).toBe(true);
  });

  it('delayBeforeRetry honours the Retry-After of a real 429', async () => {
    const { deliverer } = await setup((_req, res) => {
      res.writeHead(429, { 'retry-after': '2' }).end();
    }, { backoffDelay: '100ms', backoffMax: '1s' });
    const e = await failure(deliverer.attempt(event('x'), 1));
    expect(e.retryAfterMs).toBe(2000);
    // The jittered backoff is under 100 ms here; the function asked for 2 s.
    for (let i = 0; i < 20; i++) expect(deliverer.delayBeforeRetry(e, 1)).toBe(2000);
  });

  it('delayBeforeRetry keeps a longer backoff, and ignores what is not a DeliveryError', async () => {
    const { deliverer } = await setup(ok, { backoffPolicy: 'linear', backoffDelay: '3s', backoffMax: '10s' });
    const e = new DeliveryError('HttpStatus', 'function answered 503', { retriable: true, status: 503, retryAfterMs: 1000 });
    expect(deliverer.delayBeforeRetry(e, 1)).toBe(3000);
    expect(deliverer.delayBeforeRetry(e, 2)).toBe(6000);
    expect(deliverer.delayBeforeRetry(e, 9)).toBe(10_000);
    expect(deliverer.delayBeforeRetry(new Error('x'), 2)).toBe(6000);
  });

  it('delayBeforeRetry stays under the exponential ceiling without Retry-After', async () => {
    const { deliverer } = await setup(ok, { backoffDelay: '1s', backoffMax: '5s' });
    const e = new DeliveryError('Connection', 'refused', { retriable: true });
    for (let i = 0; i < 50; i++) {
      expect(deliverer.delayBeforeRetry(e, 1)).toBeLessThan(1000);
      expect(deliverer.delayBeforeRetry(e, 10)).toBeLessThan(5000);
    }
  });

  it('counts dead-lettered and dropped events by reason', async () => {
    const { deliverer, registry } = await setup(ok);
    deliverer.recordDeadLetter('http_400');
    deliverer.recordDeadLetter('http_400');
    deliverer.recordDrop('timeout');
    expect(await value(registry, 'kubeless_delivery_dead_lettered_total', { ...fnLabels, reason: 'http_400' })).toBe(2);
    expect(await value(registry, 'kubeless_delivery_dropped_total', { ...fnLabels, reason: 'timeout' })).toBe(1);
  });

  it('deliveryMetrics gives one set per registry', () => {
    const a = createRegistry({ defaultMetrics: false });
    const b = createRegistry({ defaultMetrics: false });
    expect(deliveryMetrics(a)).toBe(deliveryMetrics(a));
    expect(deliveryMetrics(a)).not.toBe(deliveryMetrics(b));
    expect(a.getSingleMetric('kubeless_delivery_failed_attempts_total')).toBeDefined();
  });
});
