/**
 * Failures are retried as configured (docs/delivery.md#retries): 503s lose nothing, Retry-After is honoured, a
 * poison message reaches the dead-letter topic after exactly retry + 1 attempts (also across a
 * rebalance), and an oversized record goes to the dead letter with a reason.
 */
import { createHash } from 'node:crypto';
import { uniqueName, withNamespace } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder, createTopic, eventually, kafkaTrigger, kubeClient, produce, readTopic, registerFunction, startController, triggersPath, type RunningController } from './harness.js';

const header = (r: { headers: Record<string, string | string[] | undefined> }, k: string): string => String(r.headers[k] ?? '');

describe('kafka-trigger failures', () => {
  const client = kubeClient();
  let ns: { name: string; cleanup: () => Promise<void> };
  const controllers: RunningController[] = [];

  beforeAll(async () => {
    ns = await withNamespace('kafka-failures');
    controllers.push(await startController(ns.name));
  }, 60_000);

  afterAll(async () => {
    for (const c of controllers) await c.stop();
    await ns.cleanup();
    client.close();
  });

  it('loses nothing when 5% of calls answer 503, and retries exactly those', async () => {
    const topic = uniqueName('flaky');
    await createTopic(topic, 4);
    const fn = new Recorder();
    const flaky = (id: string): boolean => (createHash('sha1').update(id).digest()[0] ?? 0) < 13; // ~5%
    fn.behaviour = (r, attempt) => ({ status: attempt === 1 && flaky(header(r, 'ce-id')) ? 503 : 200 });
    await registerFunction(client, ns.name, 'flaky', fn);
    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'flaky', { topic, functionName: 'flaky', initialOffset: 'earliest', delivery: { ordering: 'unordered', maxInFlight: 32, backoffDelay: '20ms', backoffMax: '200ms' } }));
    await produce(topic, Array.from({ length: 2000 }, (_, i) => ({ value: `m${String(i)}` })));
    // Accepted = answered 200: the first attempt for a flaky id got a 503, so it needs a second request.
    const accepted = (): number => [...fn.byId.entries()].filter(([id, reqs]) => !flaky(id) || reqs.length >= 2).length;
    await eventually('2000 accepted', () => Promise.resolve(accepted() >= 2000 ? true : undefined), 90_000);
    const failedFirst = [...fn.byId.entries()].filter(([id]) => flaky(id));
    expect(failedFirst.length).toBeGreaterThan(40);
    for (const [, reqs] of failedFirst) expect(reqs.length).toBeGreaterThanOrEqual(2);
    const values = new Set(fn.received.map((r) => r.body.toString()));
    expect(values.size).toBe(2000);
    await fn.close();
  }, 120_000);

  it('does not call again before Retry-After (429, Retry-After: 2)', async () => {
    const topic = uniqueName('throttled');
    await createTopic(topic, 1);
    const fn = new Recorder();
    fn.behaviour = (_r, attempt) => (attempt === 1 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 200 });
    await registerFunction(client, ns.name, 'throttled', fn);
    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'throttled', { topic, functionName: 'throttled', initialOffset: 'earliest', delivery: { backoffDelay: '10ms' } }));
    await produce(topic, [{ value: 'once' }]);
    const reqs = await eventually('second attempt', () => Promise.resolve((fn.byId.get('partition:0/offset:0')?.length ?? 0) >= 2 ? fn.byId.get('partition:0/offset:0') : undefined), 30_000);
    const gap = (reqs[1]?.at ?? 0) - (reqs[0]?.at ?? 0);
    expect(gap).toBeGreaterThanOrEqual(2000);
    expect(gap).toBeLessThan(6000);
    await fn.close();
  }, 40_000);

  it('dead-letters a poison message after exactly retry + 1 attempts, across a rebalance, with the error in headers', async () => {
    const topic = uniqueName('poison');
    const dlq = `${topic}-dlq`;
    await createTopic(topic, 1);
    await createTopic(dlq, 1);
    const fn = new Recorder();
    fn.behaviour = (r) => ({ status: r.body.toString() === 'poison' ? 500 : 200 });
    await registerFunction(client, ns.name, 'poisoned', fn);
    // Linear 1.5 s between attempts leaves time for a rebalance between them.
    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'poisoned', { topic, functionName: 'poisoned', initialOffset: 'earliest', delivery: { retry: 3, backoffPolicy: 'linear', backoffDelay: '1500ms', backoffMax: '1500ms', deadLetter: dlq } }));
    await produce(topic, [{ value: 'poison', key: 'k1', headers: { origin: 'test' } }, { value: 'fine' }]);
    await eventually('first attempt', () => Promise.resolve((fn.byId.get('partition:0/offset:0')?.length ?? 0) >= 1 ? true : undefined), 30_000);
    // A second replica joins: the group rebalances while the message waits for its retry.
    controllers.push(await startController(ns.name));
    const records = await readTopic(dlq, 1, 60_000);
    expect(records).toHaveLength(1);
    const rec = records[0];
    expect(rec?.value?.toString()).toBe('poison');
    expect(rec?.key?.toString()).toBe('k1');
    const h = Object.fromEntries(Object.entries(rec?.headers ?? {}).map(([k, v]) => [k, String(v)]));
    expect(h).toMatchObject({ origin: 'test', 'kubeless-error-reason': 'http_500', 'kubeless-attempts': '4', 'kubeless-source-topic': topic, 'kubeless-source-offset': '0' });
    expect(fn.byId.get('partition:0/offset:0')).toHaveLength(4);
    // The next message went through after the poison one.
    await eventually('offset 1 delivered', () => Promise.resolve(fn.byId.has('partition:0/offset:1') ? true : undefined), 20_000);
    await fn.close();
  }, 120_000);

  it('sends a record over the size limit to the dead letter with a reason, without calling the function', async () => {
    const topic = uniqueName('big');
    const dlq = `${topic}-dlq`;
    await createTopic(topic, 1);
    await createTopic(dlq, 1);
    const fn = new Recorder();
    await registerFunction(client, ns.name, 'small', fn);
    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'big', { topic, functionName: 'small', initialOffset: 'earliest', delivery: { deadLetter: dlq } }));
    await produce(topic, [{ value: Buffer.alloc(100 * 1024, 1) }, { value: 'small' }]);
    const records = await readTopic(dlq, 1, 30_000);
    const h = Object.fromEntries(Object.entries(records[0]?.headers ?? {}).map(([k, v]) => [k, String(v)]));
    expect(h['kubeless-error-reason']).toBe('event_too_large');
    expect(records[0]?.value?.length).toBe(100 * 1024);
    await eventually('small one delivered', () => Promise.resolve(fn.byId.has('partition:0/offset:1') ? true : undefined), 20_000);
    expect(fn.byId.has('partition:0/offset:0')).toBe(false);
    await fn.close();
  }, 60_000);
});
