/**
 * Visibility and retries (issue 6): the heartbeat keeps a slow delivery invisible, a failed message
 * returns after the trigger's backoff (not the queue's visibility timeout), dead-lettering happens
 * after exactly retry + 1 deliveries (the trigger's queue; receives given back unprocessed behind a
 * failing FIFO head do not count, issue 19) or maxReceiveCount (the queue's redrive policy), and a
 * graceful stop ends long polls at once, deletes what it delivered and ends within the pod's grace
 * period.
 */
import { withNamespace } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Recorder,
  createQueue,
  spawnController,
  waitExit,
  eventually,
  header,
  kubeClient,
  queueCounts,
  readQueue,
  registerFunction,
  sendMessages,
  sqs,
  sqsTrigger,
  startController,
  triggersPath,
  type RunningController,
} from './harness.js';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { parseIdentityGrants, type Function as KubelessFunction, type SQSTrigger } from '@kubeless/api';
import { Deliverer, DeliveryClient } from '@kubeless/delivery';
import { createLogger } from '@kubeless/observability';
import { stackEnv, stackIdentityGrants } from '@kubeless/stack';
import { Connections, TriggerReceiver, planTrigger } from '../../src/index.js';
import { TEST_CREDENTIALS } from './harness.js';

const attr = (m: { MessageAttributes?: Record<string, { StringValue?: string }> } | undefined, k: string): string | undefined => m?.MessageAttributes?.[k]?.StringValue;

describe('sqs-trigger failures', () => {
  const client = kubeClient();
  let ns: { name: string; cleanup: () => Promise<void> };
  let controller: RunningController;

  beforeAll(async () => {
    ns = await withNamespace('sqs-failures');
    controller = await startController(ns.name);
  }, 60_000);

  afterAll(async () => {
    await controller.stop();
    await ns.cleanup();
    client.close();
  });

  it('delivers each message once to a function taking 3x the queue visibility timeout (heartbeat)', async () => {
    const queueUrl = await createQueue('slow', { VisibilityTimeout: '2' });
    const fn = new Recorder();
    fn.behaviour = () => ({ status: 200, delayMs: 6000 });
    await registerFunction(client, ns.name, 'slow', fn);
    await client.create(triggersPath(ns.name), sqsTrigger(ns.name, 'slow', { queueUrl, functionName: 'slow', delivery: { maxInFlight: 10, timeout: '20s' } }));
    const ids = await sendMessages(queueUrl, Array.from({ length: 5 }, (_, i) => ({ body: `slow-${String(i)}` })));
    await eventually('5 answered', () => Promise.resolve(fn.ids.size >= 5 && fn.inFlight === 0 ? true : undefined), 30_000);
    await eventually('queue empty', async () => {
      const c = await queueCounts(queueUrl);
      return c.visible === 0 && c.inFlight === 0 ? true : undefined;
    }, 10_000);
    // Past two more visibility timeouts: nothing came back.
    await new Promise((r) => setTimeout(r, 4000));
    for (const id of ids) expect(fn.byId.get(id), id).toHaveLength(1);
    expect(fn.received).toHaveLength(5);
    await fn.close();
  }, 60_000);

  it("returns a failed message after the trigger's backoff, not the queue's visibility timeout", async () => {
    const queueUrl = await createQueue('backoff', { VisibilityTimeout: '30' });
    const fn = new Recorder();
    fn.behaviour = (_r, attempt) => ({ status: attempt === 1 ? 503 : 200 });
    await registerFunction(client, ns.name, 'backoff', fn);
    await client.create(triggersPath(ns.name), sqsTrigger(ns.name, 'backoff', { queueUrl, functionName: 'backoff', delivery: { backoffPolicy: 'linear', backoffDelay: '2s', backoffMax: '10s' } }));
    const [id] = await sendMessages(queueUrl, [{ body: 'retry me' }]);
    const reqs = await eventually('second delivery', () => Promise.resolve((fn.byId.get(id ?? '')?.length ?? 0) >= 2 ? fn.byId.get(id ?? '') : undefined), 25_000);
    const gap = (reqs[1]?.at ?? 0) - (reqs[0]?.at ?? 0);
    expect(gap).toBeGreaterThanOrEqual(1900);
    expect(gap).toBeLessThan(6000);
    expect(header(reqs[1] ?? { headers: {} }, 'ce-sqsreceivecount')).toBe('2');
    await eventually('deleted after success', async () => {
      const c = await queueCounts(queueUrl);
      return c.visible === 0 && c.inFlight === 0 ? true : undefined;
    }, 10_000);
    await fn.close();
  }, 40_000);

  it("moves a poison message to the trigger's dead-letter queue after exactly retry + 1 receives, with the error as attributes", async () => {
    const queueUrl = await createQueue('poison', { VisibilityTimeout: '30' });
    const dlqUrl = await createQueue('poison-dlq');
    const fn = new Recorder();
    fn.behaviour = (r) => ({ status: r.body.toString() === 'poison' ? 500 : r.body.toString() === 'bad request' ? 400 : 200 });
    await registerFunction(client, ns.name, 'poisoned', fn);
    await client.create(
      triggersPath(ns.name),
      sqsTrigger(ns.name, 'poisoned', { queueUrl, functionName: 'poisoned', delivery: { retry: 2, backoffPolicy: 'linear', backoffDelay: '1s', backoffMax: '1s', deadLetter: dlqUrl.split('/').pop() } }),
    );
    const [poisonId, fineId, badId] = await sendMessages(queueUrl, [{ body: 'poison', attributes: { origin: { DataType: 'String', StringValue: 'test' } } }, { body: 'fine' }, { body: 'bad request' }]);
    const dead = await readQueue(dlqUrl, 2, 30_000);
    expect(dead.map((m) => m.Body).sort()).toEqual(['bad request', 'poison']);
    const poison = dead.find((m) => m.Body === 'poison');
    expect(attr(poison, 'kubeless-error-reason')).toBe('http_500');
    expect(attr(poison, 'kubeless-attempts')).toBe('3');
    expect(attr(poison, 'kubeless-event-id')).toBe(poisonId);
    expect(attr(poison, 'kubeless-function')).toBe('poisoned');
    expect(attr(poison, 'kubeless-trigger')).toBe(`${ns.name}/poisoned`);
    expect(attr(poison, 'origin')).toBe('test');
    expect(fn.byId.get(poisonId ?? '')).toHaveLength(3);
    // A 400 is not retried: dead-lettered after its first receive.
    const bad = dead.find((m) => m.Body === 'bad request');
    expect(attr(bad, 'kubeless-error-reason')).toBe('http_400');
    expect(fn.byId.get(badId ?? '')).toHaveLength(1);
    expect(fn.byId.get(fineId ?? '')).toHaveLength(1);
    // The delivery metrics count them, labelled as SQS: once the trigger has ElasticMQ's answer to
    // its send, which may come after the test read the message from the dead-letter queue (ci56).
    const counted = (reason: string): RegExp => new RegExp(`kubeless_delivery_dead_lettered_total\\{kind="sqs",namespace="${ns.name}",trigger="poisoned",function="poisoned",reason="${reason}"\\} 1\n`, 'u');
    const metrics = await eventually('both dead letters counted', async () => {
      const text = await controller.registry.metrics();
      return counted('http_500').test(text) && counted('http_400').test(text) ? text : undefined;
    }, 5_000);
    expect(metrics).toMatch(counted('http_500'));
    expect(metrics).toMatch(counted('http_400'));
    await eventually('source queue empty', async () => {
      const c = await queueCounts(queueUrl);
      return c.visible === 0 && c.inFlight === 0 ? true : undefined;
    }, 10_000);
    await fn.close();
  }, 60_000);

  it('a failing FIFO head makes its followers wait, and each follower still gets retry + 1 deliveries of its own before its dead letter', async () => {
    const queueUrl = await createQueue('heads', { FifoQueue: 'true', VisibilityTimeout: '30' });
    const dlqUrl = await createQueue('heads-dlq', { FifoQueue: 'true' });
    const fn = new Recorder();
    // Every message of the group fails: each one in turn is the failing head of the others.
    fn.behaviour = () => ({ status: 503 });
    await registerFunction(client, ns.name, 'heads', fn);
    await client.create(
      triggersPath(ns.name),
      sqsTrigger(ns.name, 'heads', { queueUrl, functionName: 'heads', delivery: { retry: 2, backoffPolicy: 'linear', backoffDelay: '1s', backoffMax: '1s', deadLetter: dlqUrl.split('/').pop() } }),
    );
    const ids = await sendMessages(queueUrl, Array.from({ length: 4 }, (_, i) => ({ body: `m${String(i)}`, groupId: 'g' })));
    const dead = await readQueue(dlqUrl, 4, 60_000);
    // In order, each after exactly 3 deliveries of its own (counted at the function, per message id).
    expect(dead.map((m) => m.Body)).toEqual(['m0', 'm1', 'm2', 'm3']);
    expect(ids.map((id) => fn.byId.get(id)?.length ?? 0)).toEqual([3, 3, 3, 3]);
    expect(dead.map((m) => attr(m, 'kubeless-attempts'))).toEqual(['3', '3', '3', '3']);
    // The followers waited: every delivery of a message came before the first of the next one.
    for (let i = 1; i < ids.length; i++) {
      const before = fn.byId.get(ids[i - 1] ?? '') ?? [];
      const after = fn.byId.get(ids[i] ?? '') ?? [];
      expect(Math.max(...before.map((r) => r.at))).toBeLessThanOrEqual(Math.min(...after.map((r) => r.at)));
    }
    await eventually('source queue empty', async () => {
      const c = await queueCounts(queueUrl);
      return c.visible === 0 && c.inFlight === 0 ? true : undefined;
    }, 10_000);
    await fn.close();
  }, 90_000);

  it("leaves a poison message to the queue's redrive policy (maxReceiveCount) when the trigger names no dead letter", async () => {
    const redriveUrl = await createQueue('redrive-dlq');
    const arn = (await sqs().send(new GetQueueAttributesCommand({ QueueUrl: redriveUrl, AttributeNames: ['QueueArn'] }))).Attributes?.QueueArn ?? '';
    const queueUrl = await createQueue('redrive', { VisibilityTimeout: '30', RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn, maxReceiveCount: 3 }) });
    const fn = new Recorder();
    fn.behaviour = () => ({ status: 500 });
    await registerFunction(client, ns.name, 'redriven', fn);
    // retry 10: the trigger alone would keep trying; the queue's policy moves it after 3 receives.
    await client.create(triggersPath(ns.name), sqsTrigger(ns.name, 'redriven', { queueUrl, functionName: 'redriven', delivery: { retry: 10, backoffPolicy: 'linear', backoffDelay: '1s', backoffMax: '1s' } }));
    const [id] = await sendMessages(queueUrl, [{ body: 'always fails' }]);
    const moved = await readQueue(redriveUrl, 1, 30_000);
    expect(moved.map((m) => m.MessageId)).toEqual([id]);
    expect(fn.byId.get(id ?? '')).toHaveLength(3);
    await fn.close();
  }, 60_000);

  it('a stop racing a start leaves nothing polling; a restart while delivering loses nothing', async () => {
    // A short visibility timeout: a long poll aborted by a stop may already hold messages.
    const queueUrl = await createQueue('race', { VisibilityTimeout: '3' });
    const fn = new Recorder();
    await fn.listen();
    const logger = createLogger({ name: 'race', level: 'silent' });
    const grants = parseIdentityGrants(stackIdentityGrants(ns.name));
    const connections = new Connections({ client, logger, defaultCredentials: TEST_CREDENTIALS, grants });
    const http = new DeliveryClient({ userAgent: 'race-test' });
    const trigger = { apiVersion: 'kubeless.io/v1beta1', kind: 'SQSTrigger', metadata: { namespace: ns.name, name: 'race' }, spec: { queueUrl, functionName: 'f', receivers: 2 } } as unknown as SQSTrigger;
    const f = { metadata: { namespace: ns.name, name: 'f' }, spec: { runtime: 'nodejs24', handler: 'h.f', function: '' } } as unknown as KubelessFunction;
    const spec = planTrigger(trigger, [f], { region: stackEnv().SQS_REGION, endpoint: stackEnv().SQS_ENDPOINT, grants }).receiver;
    if (!spec) throw new Error('no receiver planned');
    // The function's address directly: this test is about the receiver, not endpoint resolution.
    const resolver = { resolve: () => new URL(`http://${fn.lastAddress ?? ''}/`) };
    const receiver = (): TriggerReceiver =>
      new TriggerReceiver({
        spec,
        connections,
        deliverer: (t) => new Deliverer({ client: http, resolver, target: { namespace: ns.name, name: t.function }, delivery: t.delivery, maxEventBytes: 1 << 20, labels: { kind: 'sqs', namespace: ns.name, trigger: 'race' } }),
        logger,
        drainTimeoutMs: 5000,
        deleteFlushMs: 50,
      });
    try {
      // Stop while the queue is still being resolved: the start must not begin polling after it.
      const raced = receiver();
      const started = raced.start();
      await Promise.all([raced.stop(), raced.stop()]);
      await started;
      expect(raced.state.running).toBe(false);
      await expect(raced.start()).rejects.toThrow(/stopped/u);
      await sendMessages(queueUrl, [{ body: 'nobody polls' }]);
      await new Promise((r) => setTimeout(r, 1500));
      expect(fn.received).toHaveLength(0);
      expect(await queueCounts(queueUrl)).toEqual({ visible: 1, inFlight: 0 });
      // Restart loops while messages flow (what a spec change or a controller restart does).
      const N = 300;
      await sendMessages(queueUrl, Array.from({ length: N - 1 }, (_, i) => ({ body: String(i) })));
      for (let i = 0; i < 5; i++) {
        const r = receiver();
        await r.start();
        await new Promise((res) => setTimeout(res, 100));
        await r.stop();
      }
      const last = receiver();
      await last.start();
      await eventually(`${String(N)} delivered`, () => Promise.resolve(fn.ids.size >= N ? true : undefined), 30_000);
      await eventually('queue empty', async () => {
        const c = await queueCounts(queueUrl);
        return c.visible === 0 && c.inFlight === 0 ? true : undefined;
      }, 5000);
      await last.stop();
      // Graceful stops flushed their deletes: nothing delivered came back.
      expect(fn.received.length - fn.ids.size).toBe(0);
    } finally {
      connections.close();
      await http.close();
      await fn.close();
    }
  }, 60_000);

  it('stops at once with long polls in flight, flushing deletes so delivered messages do not come back', async () => {
    // Its own namespace and controller: the one it stops serves nothing else.
    const own = await withNamespace('sqs-shutdown');
    // Short, so what the aborted long polls had received comes back soon; an unflushed delete still
    // shows: its message cannot leave the queue without being delivered again (a duplicate).
    const queueUrl = await createQueue('shutdown', { VisibilityTimeout: '10' });
    const fn = new Recorder();
    fn.behaviour = () => ({ status: 200, delayMs: 20 });
    await registerFunction(client, own.name, 'shutdown', fn);
    await client.create(triggersPath(own.name), sqsTrigger(own.name, 'shutdown', { queueUrl, functionName: 'shutdown', receivers: 4, delivery: { maxInFlight: 20 } }));
    let first = await startController(own.name);
    try {
      const N = 400;
      await sendMessages(queueUrl, Array.from({ length: N }, (_, i) => ({ body: String(i) })));
      await eventually('100 delivered', () => Promise.resolve(fn.ids.size >= 100 ? true : undefined), 30_000);
      const t0 = Date.now();
      await first.stop();
      const stopMs = Date.now() - t0;
      const atStop = fn.ids.size;
      first = await startController(own.name);
      await eventually(`${String(N)} delivered`, () => Promise.resolve(fn.ids.size >= N ? true : undefined), 60_000);
      // An unflushed delete would leave its message in flight for the visibility timeout, then deliver it twice.
      await eventually('queue empty', async () => {
        const c = await queueCounts(queueUrl);
        return c.visible === 0 && c.inFlight === 0 ? true : undefined;
      }, 5000);
      const duplicates = fn.received.length - fn.ids.size;
      console.info(`sqs shutdown: stop took ${String(stopMs)} ms with ${String(atStop)} delivered; ${String(duplicates)} duplicates after restart`);
      // Long polls (20 s) were aborted; in-flight deliveries (20 ms) drained.
      expect(stopMs).toBeLessThan(3000);
      expect(duplicates).toBe(0);
    } finally {
      await first.stop();
      await fn.close();
      await own.cleanup();
    }
  }, 90_000);

  it('a SIGTERMed controller process deletes what it delivered during the drain and exits well within the 30 s grace period', async () => {
    const own = await withNamespace('sqs-grace');
    const queueUrl = await createQueue('grace', { VisibilityTimeout: '30' });
    const fn = new Recorder();
    // One delivery outlasts any drain; five finish 3 s into it.
    fn.behaviour = (r) => ({ status: 200, delayMs: r.body.toString() === 'hang' ? 60_000 : 3000 });
    await registerFunction(client, own.name, 'grace', fn);
    await client.create(triggersPath(own.name), sqsTrigger(own.name, 'grace', { queueUrl, functionName: 'grace', delivery: { maxInFlight: 20, timeout: '120s' } }));
    // The chart's settings: DRAIN_TIMEOUT is not set.
    const child = spawnController(own.name, 'grace-0');
    try {
      const [hang] = await sendMessages(queueUrl, [{ body: 'hang' }]);
      await eventually('hang in delivery', () => Promise.resolve(fn.byId.has(hang ?? '') ? true : undefined), 30_000);
      const slow = await sendMessages(queueUrl, Array.from({ length: 5 }, (_, i) => ({ body: `slow-${String(i)}` })));
      await eventually('6 in delivery', () => Promise.resolve(fn.inFlight >= 6 ? true : undefined), 20_000);
      const t0 = Date.now();
      child.kill('SIGTERM');
      // While the process still drains (the hang holds it), what finished is deleted already.
      await eventually('slow ones deleted during the drain', async () => {
        const c = await queueCounts(queueUrl);
        return c.visible + c.inFlight === 1 ? true : undefined;
      }, 10_000);
      expect(child.exitCode).toBeNull();
      await waitExit(child);
      const exitMs = Date.now() - t0;
      console.info(`sqs grace: exited ${String(exitMs)} ms after SIGTERM`);
      // Drain 20 s, then the last deletes, the status controllers and the Lease, all inside 30 s.
      expect(exitMs).toBeLessThan(25_000);
      expect(child.exitCode).toBe(0);
      for (const id of slow) expect(fn.byId.get(id), id).toHaveLength(1);
      const c = await queueCounts(queueUrl);
      expect(c.visible + c.inFlight).toBe(1);
    } finally {
      child.kill('SIGKILL');
      await waitExit(child);
      await fn.close();
      await own.cleanup();
    }
  }, 90_000);
});
