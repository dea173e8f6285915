/**
 * The memory bound (issue 19; docs/delivery.md#back-pressure): what one controller process holds
 * (messages received, in delivery, waiting for a retry or a delete) stays under its budget across
 * all receivers, and receivers over it stop polling until there is room again; nothing is lost
 * meanwhile.
 */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { withNamespace } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder, createQueue, eventually, kubeClient, queueCounts, registerFunction, sqs, sqsTrigger, startController, triggersPath, type RunningController } from './harness.js';

const KIB = 1024;
const BUDGET = 4 * 1024 * KIB;
const SIZE = 200 * KIB;

/** One SendMessage per body (a batch of 10 such bodies is over SQS's 256 KiB per call), `concurrency` at once. */
async function sendEach(queueUrl: string, bodies: string[], concurrency = 8): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < bodies.length) {
        const i = next++;
        const out = await sqs().send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: bodies[i] }));
        ids[i] = out.MessageId ?? '';
      }
    }),
  );
  return ids;
}

describe('sqs-trigger memory budget', () => {
  const client = kubeClient();
  let ns: { name: string; cleanup: () => Promise<void> };
  let controller: RunningController;

  beforeAll(async () => {
    ns = await withNamespace('sqs-memory');
    controller = await startController(ns.name, { memoryBudgetBytes: BUDGET });
  }, 60_000);

  afterAll(async () => {
    await controller.stop();
    await ns.cleanup();
    client.close();
  });

  it('holds 200 KiB messages to slow functions under the budget across two triggers, and delivers every one', async () => {
    const N = 60;
    const fns = [new Recorder(), new Recorder()];
    const queues: string[] = [];
    const sent: string[][] = [];
    for (const [i, fn] of fns.entries()) {
      const name = `big-${String(i)}`;
      fn.behaviour = () => ({ status: 200, delayMs: 500 });
      await registerFunction(client, ns.name, name, fn);
      const queueUrl = await createQueue(name, { VisibilityTimeout: '30' });
      queues.push(queueUrl);
      // A backlog first: without the budget each trigger would take up to 40 (4 receivers x 10) at once.
      sent.push(await sendEach(queueUrl, Array.from({ length: N }, (_, j) => `${String(j).padStart(4, '0')}${'x'.repeat(SIZE - 4)}`)));
    }
    for (const [i, queueUrl] of queues.entries()) {
      const name = `big-${String(i)}`;
      await client.create(triggersPath(ns.name), sqsTrigger(ns.name, name, { queueUrl, functionName: name, receivers: 4, batchSize: 10, delivery: { maxInFlight: 100, timeout: '20s' } }));
    }
    for (const [i, fn] of fns.entries()) {
      await eventually(`${String(N)} delivered to big-${String(i)}`, () => Promise.resolve(fn.ids.size >= N ? true : undefined), 90_000);
      expect([...fn.ids].sort()).toEqual([...(sent[i] ?? [])].sort());
      expect(fn.received.every((r) => r.body.length === SIZE)).toBe(true);
    }
    for (const q of queues) {
      await eventually('queue empty', async () => {
        const c = await queueCounts(q);
        return c.visible === 0 && c.inFlight === 0 ? true : undefined;
      }, 10_000);
    }
    // At the functions: never more bodies in delivery at once than the budget holds.
    let together = 0;
    const all = fns.flatMap((fn) => fn.received.map((r) => ({ at: r.at, end: r.at + 500 })));
    for (const r of all) together = Math.max(together, all.filter((o) => o.at <= r.at && r.at < o.end).length);
    const high = controller.budget?.highWater ?? Number.POSITIVE_INFINITY;
    console.info(`sqs memory: budget ${String(BUDGET)} B, high-water ${String(high)} B, at most ${String(together)} deliveries of ${String(SIZE)} B at once`);
    expect(together * SIZE).toBeLessThanOrEqual(BUDGET);
    expect(high).toBeLessThanOrEqual(BUDGET);
    // It was the budget that bounded them (they did run in parallel).
    expect(together).toBeGreaterThanOrEqual(4);
    // Operators see it too.
    const metrics = await controller.registry.metrics();
    expect(metrics).toContain(`kubeless_sqs_memory_budget_bytes{state="limit"} ${String(BUDGET)}`);
    expect(metrics).toContain(`kubeless_sqs_memory_budget_bytes{state="high_water"} ${String(high)}`);
    for (const fn of fns) await fn.close();
  }, 150_000);

  it("bounds one trigger's bytes on its own, below the process budget, with four receivers sharing the bound", async () => {
    const own = await withNamespace('sqs-trigger-bytes');
    const TRIGGER_BYTES = 2 * 1024 * KIB;
    const bounded = await startController(own.name, { maxTriggerBytes: TRIGGER_BYTES });
    const fn = new Recorder();
    try {
      const N = 40;
      fn.behaviour = () => ({ status: 200, delayMs: 500 });
      await registerFunction(client, own.name, 'bounded', fn);
      const queueUrl = await createQueue('bounded', { VisibilityTimeout: '30' });
      const ids = await sendEach(queueUrl, Array.from({ length: N }, (_, j) => `${String(j).padStart(4, '0')}${'y'.repeat(SIZE - 4)}`));
      await client.create(triggersPath(own.name), sqsTrigger(own.name, 'bounded', { queueUrl, functionName: 'bounded', receivers: 4, delivery: { maxInFlight: 100, timeout: '20s' } }));
      await eventually(`${String(N)} delivered`, () => Promise.resolve(fn.ids.size >= N ? true : undefined), 60_000);
      expect([...fn.ids].sort()).toEqual([...ids].sort());
      console.info(`sqs trigger bytes: bound ${String(TRIGGER_BYTES)} B, at most ${String(fn.maxInFlight)} deliveries of ${String(SIZE)} B at once`);
      expect(fn.maxInFlight * SIZE).toBeLessThanOrEqual(TRIGGER_BYTES);
      expect(fn.maxInFlight).toBeGreaterThanOrEqual(4);
    } finally {
      await bounded.stop();
      await fn.close();
      await own.cleanup();
    }
  }, 120_000);
});
