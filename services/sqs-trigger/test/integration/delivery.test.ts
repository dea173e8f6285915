/**
 * Every message arrives and none is deleted early (issue 6): 10,000 messages, some answered 500
 * at first, each delivered with its MessageId as the CloudEvent id and deleted only after a 2xx;
 * what a function receives (headers, attributes as extensions); FIFO order per message group with
 * groups in parallel, also across a failure inside a group.
 */
import { createHash } from 'node:crypto';
import { grantSecrets, withNamespace } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Recorder,
  createCredentialsSecret,
  createQueue,
  eventually,
  header,
  kubeClient,
  queueCounts,
  registerFunction,
  sendMessages,
  sqsTrigger,
  startController,
  triggersPath,
  type RunningController,
} from './harness.js';

const N = 10_000;

describe('sqs-trigger delivery', () => {
  const client = kubeClient();
  let ns: { name: string; cleanup: () => Promise<void> };
  let controller: RunningController;

  beforeAll(async () => {
    ns = await withNamespace('sqs-delivery');
    // The controller runs on its ServiceAccount: it reads only the Secrets granted by name.
    await grantSecrets('sqs-trigger', ns.name, ['sqs-creds']);
    controller = await startController(ns.name);
  }, 60_000);

  afterAll(async () => {
    await controller.stop();
    await ns.cleanup();
    client.close();
  });

  it('delivers 10,000 messages at least once with the MessageId as id, deleting none before its delivery succeeded', async () => {
    const queueUrl = await createQueue('bulk');
    const fn = new Recorder();
    // ~5% answer 500 on their first delivery: they must come back (not deleted) and then succeed.
    const flaky = (id: string): boolean => (createHash('sha1').update(id).digest()[0] ?? 0) < 13;
    const answered = new Map<string, number[]>();
    fn.behaviour = (r, attempt) => {
      const id = header(r, 'ce-id');
      const status = attempt === 1 && flaky(id) ? 500 : 200;
      answered.set(id, [...(answered.get(id) ?? []), status]);
      return { status };
    };
    await registerFunction(client, ns.name, 'bulk', fn);
    await createCredentialsSecret(client, ns.name, 'sqs-creds');
    await client.create(
      triggersPath(ns.name),
      sqsTrigger(ns.name, 'bulk', { queueUrl, functionName: 'bulk', credentialsSecret: 'sqs-creds', receivers: 8, delivery: { maxInFlight: 200, backoffPolicy: 'linear', backoffDelay: '1s', backoffMax: '1s' } }),
    );
    const started = Date.now();
    const ids = await sendMessages(
      queueUrl,
      Array.from({ length: N }, (_, i) => ({ body: JSON.stringify({ i }) })),
    );
    const sentMs = Date.now() - started;
    await eventually(`${String(N)} delivered`, () => Promise.resolve([...answered.values()].filter((s) => s.includes(200)).length >= N ? true : undefined), 100_000);
    const tookMs = Date.now() - started;
    console.info(`sqs bulk: sent ${String(N)} in ${String(sentMs)} ms; all delivered after ${String(tookMs)} ms; ${String(fn.received.length)} requests, max ${String(fn.maxInFlight)} in flight`);
    // Every MessageId arrived as the id, with its own body.
    expect(new Set(ids).size).toBe(N);
    for (const [i, id] of ids.entries()) {
      const got = fn.byId.get(id);
      expect(got, id).toBeDefined();
      expect(JSON.parse(got?.[0]?.body.toString() ?? '{}')).toEqual({ i });
    }
    // The ones answered 500 came back: they were not deleted before a delivery succeeded.
    const failedFirst = ids.filter(flaky);
    expect(failedFirst.length).toBeGreaterThan(300);
    for (const id of failedFirst) {
      expect(answered.get(id)?.[0]).toBe(500);
      expect(answered.get(id)).toContain(200);
    }
    expect(fn.maxInFlight).toBeLessThanOrEqual(200);
    // Everything delivered was deleted: the queue drains.
    await eventually('queue empty', async () => {
      const c = await queueCounts(queueUrl);
      return c.visible === 0 && c.inFlight === 0 ? true : undefined;
    }, 20_000);
    // And nothing comes back later (a message delivered but not deleted would return after 30 s; a
    // failed one after its 1 s backoff).
    const before = fn.received.length;
    await new Promise((r) => setTimeout(r, 2500));
    expect(fn.received.length).toBe(before);
    const status = await eventually('status shows depth 0 and Ready', async () => {
      const t = await client.get<any>(`${triggersPath(ns.name)}/bulk`);
      return t.status?.approximateQueueDepth === 0 && t.status?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True' ? t.status : undefined;
    }, 20_000);
    expect(status.functions).toEqual(['bulk']);
    const types = Object.fromEntries(status.conditions.map((c: any) => [c.type, c.status]));
    expect(types).toMatchObject({ Ready: 'True', Valid: 'True', FunctionsResolved: 'True', CredentialsReady: 'True', QueueReachable: 'True', QueueExists: 'True', DeadLetterReady: 'True' });
    await fn.close();
  }, 150_000);

  it('sends a CloudEvent with the MessageId, the trigger source, attributes as extensions and the original kubeless headers', async () => {
    const queueUrl = await createQueue('contract');
    const fn = new Recorder();
    await registerFunction(client, ns.name, 'contract', fn, { app: 'contract' });
    await client.create(triggersPath(ns.name), sqsTrigger(ns.name, 'contract', { queueName: queueUrl.split('/').pop(), region: 'us-east-1', functionSelector: { matchLabels: { app: 'contract' } } }));
    const [jsonId, xmlId, textId] = await sendMessages(queueUrl, [
      { body: '{"hello":"world"}', attributes: { 'X-Trace': { DataType: 'String', StringValue: 'abc' }, count: { DataType: 'Number', StringValue: '7' }, raw: { DataType: 'Binary', BinaryValue: Buffer.from([1, 2, 3]) } } },
      { body: '<a/>', attributes: { 'Content-Type': { DataType: 'String', StringValue: 'application/xml' } } },
      { body: 'plain text, not JSON' },
    ]);
    await eventually('3 received', () => Promise.resolve(fn.ids.size >= 3 ? true : undefined), 30_000);
    const json = fn.byId.get(jsonId ?? '')?.[0];
    expect(json?.body.toString()).toBe('{"hello":"world"}');
    const h = json?.headers ?? {};
    expect(h['ce-id']).toBe(jsonId);
    expect(h['ce-specversion']).toBe('1.0');
    expect(h['ce-type']).toBe('io.kubeless.sqs.message');
    expect(h['ce-source']).toBe(`/apis/v1/namespaces/${ns.name}/sqstriggers/contract`);
    expect(h['content-type']).toBe('application/json');
    expect(h['ce-sqsattrxtrace']).toBe('abc');
    expect(h['ce-sqsattrcount']).toBe('7');
    // Binary attributes as <name>b64: a name ending in b64 always holds base64.
    expect(h['ce-sqsattrrawb64']).toBe(Buffer.from([1, 2, 3]).toString('base64'));
    expect(h['ce-sqsreceivecount']).toBe('1');
    expect(h['event-id']).toBe(jsonId);
    expect(h['event-namespace']).toBe('sqstriggers.kubeless.io');
    expect(h['event-topic']).toBe(queueUrl.split('/').pop());
    expect(h['event-type']).toBe('application/json');
    expect(Number.isNaN(Date.parse(String(h['ce-time'])))).toBe(false);
    expect(fn.byId.get(xmlId ?? '')?.[0]?.headers['content-type']).toBe('application/xml');
    expect(fn.byId.get(textId ?? '')?.[0]?.headers['content-type']).toBe('text/plain; charset=utf-8');
    await fn.close();
  }, 60_000);

  it('keeps FIFO order within each message group while groups run in parallel, also across a failure', async () => {
    const GROUPS = 8;
    const PER_GROUP = 40;
    const queueUrl = await createQueue('fifo', { FifoQueue: 'true' });
    const fn = new Recorder();
    // g3's 10th message fails once: the rest of g3 must wait for its redelivery.
    fn.behaviour = (r, attempt) => ({ status: r.body.toString() === 'g3:10' && attempt === 1 ? 503 : 200, delayMs: 10 });
    await registerFunction(client, ns.name, 'fifo', fn);
    await client.create(
      triggersPath(ns.name),
      sqsTrigger(ns.name, 'fifo', { queueUrl, functionName: 'fifo', receivers: 4, delivery: { maxInFlight: 50, backoffPolicy: 'linear', backoffDelay: '1s', backoffMax: '1s' } }),
    );
    const messages = [];
    for (let i = 0; i < PER_GROUP; i++) for (let g = 0; g < GROUPS; g++) messages.push({ body: `g${String(g)}:${String(i)}`, groupId: `g${String(g)}` });
    await sendMessages(queueUrl, messages);
    await eventually('all delivered', () => Promise.resolve(new Set(fn.received.map((r) => r.body.toString())).size >= GROUPS * PER_GROUP ? true : undefined), 60_000);
    const last = new Map<string, number>();
    for (const r of fn.received) {
      const [g, i] = r.body.toString().split(':') as [string, string];
      expect(Number(i), `${g} order`).toBeGreaterThanOrEqual(last.get(g) ?? 0);
      last.set(g, Number(i));
      expect(header(r, 'ce-sqsmessagegroupid')).toBe(g);
    }
    expect(last.size).toBe(GROUPS);
    expect([...last.values()].every((i) => i === PER_GROUP - 1)).toBe(true);
    // The failed one came twice, in place.
    expect(fn.received.filter((r) => r.body.toString() === 'g3:10')).toHaveLength(2);
    expect(fn.maxInFlight).toBeGreaterThan(1);
    expect(fn.maxInFlight).toBeLessThanOrEqual(GROUPS);
    await fn.close();
  }, 90_000);
});
