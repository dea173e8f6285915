/**
 * Reliability of the SQS trigger (issue 6; docs/delivery.md#sqs): SIGKILL of the controller
 * mid-stream loses no message; what it held (delivered but not yet deleted, or in delivery) comes
 * back after the visibility timeout, so duplicates stay within the in-flight window: per kill,
 * maxInFlight in delivery plus at most maxInFlight delivered and waiting for their (background,
 * batched) delete. Bounded in count and time; the counts are printed. The replicas run as the chart
 * runs them (issue 19): leader-elected, on a Lease of this test's namespace, two of them competing
 * for the queue while one is killed and restarted; afterwards the leader reports the trigger Ready
 * with an empty queue.
 */
import { grantLeases, withNamespace } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Recorder,
  createQueue,
  eventually,
  sqsTestClient as kubeClient,
  queueCounts,
  registerFunction,
  sendMessages,
  spawnSqsTrigger as spawnController,
  sqsTrigger,
  sqsTriggersPath as triggersPath,
  waitExit,
} from '@kubeless/stack';

const MAX_IN_FLIGHT = 50;
/** Leader election as the chart runs it, with short timings (a killed leader's Lease expires in 6 s). */
const LEADER_ELECTION = { LEADER_ELECT: 'true', LEASE_DURATION: '6s', LEASE_RENEW_DEADLINE: '4s', LEASE_RETRY_PERIOD: '1s' };

describe('sqs-trigger chaos', () => {
  const client = kubeClient();
  let ns: { name: string; cleanup: () => Promise<void> };

  beforeAll(async () => {
    ns = await withNamespace('sqs-chaos');
    // Their Lease lives in this namespace (POD_NAMESPACE), not in the chart's.
    await grantLeases('sqs-trigger', ns.name);
  });

  afterAll(async () => {
    await ns.cleanup();
    client.close();
  });

  it('loses nothing when a leader-elected replica is SIGKILLed twice during 6,000 messages beside another one', async () => {
    const N = 6000;
    const queueUrl = await createQueue('crash');
    const fn = new Recorder();
    fn.behaviour = () => ({ status: 200, delayMs: 2 });
    await registerFunction(client, ns.name, 'crash', fn);
    await client.create(
      triggersPath(ns.name),
      sqsTrigger(ns.name, 'crash', { queueUrl, functionName: 'crash', receivers: 4, visibilityTimeout: '3s', delivery: { maxInFlight: MAX_IN_FLIGHT } }),
    );
    await sendMessages(queueUrl, Array.from({ length: N }, (_, i) => ({ body: String(i) })));
    let child = spawnController(ns.name, 'crash-0', LEADER_ELECTION);
    // The steady replica: a competing consumer throughout (and the leader once the first one is gone).
    const steady = spawnController(ns.name, 'steady', LEADER_ELECTION);
    const kills: number[] = [];
    try {
      for (const at of [N * 0.25, N * 0.6]) {
        await eventually(`${String(at)} delivered`, () => Promise.resolve(fn.ids.size >= at ? true : undefined), 60_000);
        child.kill('SIGKILL');
        await waitExit(child);
        kills.push(fn.ids.size);
        child = spawnController(ns.name, `crash-${String(kills.length)}`, LEADER_ELECTION);
      }
      await eventually(`${String(N)} delivered`, () => Promise.resolve(fn.ids.size >= N ? true : undefined), 90_000);
      await eventually('queue empty', async () => {
        const c = await queueCounts(queueUrl);
        return c.visible === 0 && c.inFlight === 0 ? true : undefined;
      }, 20_000);
      // Whichever replica leads writes status: Ready, with the queue's depth at 0.
      await eventually('Ready with an empty queue', async () => {
        const t = await client.get<{ status?: { approximateQueueDepth?: number; conditions?: { type: string; status: string }[] } }>(`${triggersPath(ns.name)}/crash`);
        return t.status?.approximateQueueDepth === 0 && t.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
      }, 30_000);
    } finally {
      child.kill('SIGTERM');
      steady.kill('SIGTERM');
      await Promise.all([waitExit(child), waitExit(steady)]);
      await fn.close();
    }
    const duplicates = fn.received.length - fn.ids.size;
    console.info(`sqs crash test: ${String(N)} sent, ${String(fn.ids.size)} distinct delivered, ${String(fn.received.length)} requests, ${String(duplicates)} duplicates, kills at ${kills.join(', ')} delivered`);
    expect(new Set(fn.received.map((r) => r.body.toString())).size).toBe(N);
    expect(duplicates).toBeLessThanOrEqual(2 * MAX_IN_FLIGHT * kills.length);
  }, 180_000);
});
