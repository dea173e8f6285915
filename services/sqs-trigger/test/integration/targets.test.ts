/**
 * A change of a trigger's targets is applied to its running receiver in place: no stop, so no
 * long poll is aborted on the client while ElasticMQ (like SQS) keeps it open and hands it the next
 * message, which then stays invisible for the visibility timeout (30 s here). A function that
 * gains the selected label gets the next message within seconds, and one that loses it gets no more.
 */
import { Writable } from 'node:stream';
import { withNamespace } from '@kubeless/stack';
import { createLogger } from '@kubeless/observability';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder, createQueue, eventually, kubeClient, registerFunction, sendMessages, sqsTrigger, startController, triggersPath, type RunningController } from './harness.js';

interface LogLine {
  msg: string;
  runner?: string;
  functions?: string[];
}

/** Well under the 30 s visibility timeout a message taken by an aborted long poll would wait. */
const DEADLINE_MS = 10_000;

describe('sqs-trigger: a change of targets', () => {
  const client = kubeClient();
  const lines: LogLine[] = [];
  let ns: { name: string; cleanup: () => Promise<void> };
  let controller: RunningController;

  beforeAll(async () => {
    ns = await withNamespace('sqs-targets');
    // The controller's own log, read back: which runners it started, stopped, reconfigured.
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString('utf8').split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as LogLine);
        cb();
      },
    });
    controller = await startController(ns.name, { logger: createLogger({ name: 'sqs-trigger-test', level: 'info', destination }) });
  }, 60_000);

  afterAll(async () => {
    await controller.stop();
    await ns.cleanup();
    client.close();
  });

  it('reaches a function that gained the label within seconds, without restarting the receiver', async () => {
    const key = `${ns.name}/orders`;
    const of = (msg: string, from = 0): LogLine[] => lines.slice(from).filter((l) => l.msg === msg && l.runner === key);
    /** The receiver runs for exactly `fns` since log line `from`: reconfigured in place (or, before the fix, restarted). */
    const runsFor = (fns: string[], from: number): Promise<true> =>
      eventually(`receiver for [${fns.join(', ')}]`, () => Promise.resolve([...of('runner reconfigured', from), ...of('runner started', from)].some((l) => JSON.stringify(l.functions) === JSON.stringify(fns)) || undefined), 20_000);

    const queueUrl = await createQueue('targets', { VisibilityTimeout: '30' });
    const foo = new Recorder();
    const bar = new Recorder();
    await registerFunction(client, ns.name, 'foo', foo, { foo: 'bar' });
    await client.create(triggersPath(ns.name), sqsTrigger(ns.name, 'orders', { queueUrl, functionSelector: { matchLabels: { foo: 'bar' } }, visibilityTimeout: '30s' }));
    await runsFor(['foo'], 0);
    // A first message through: the receiver is polling (and back in a long poll after it).
    const [first] = await sendMessages(queueUrl, [{ body: 'first' }]);
    await eventually('foo got the first message', () => Promise.resolve(foo.byId.has(first ?? '') || undefined), 20_000);

    // bar gains the label: the targets grow to [bar, foo]; the next message goes to both, at once.
    const grown = lines.length;
    await registerFunction(client, ns.name, 'bar', bar, { foo: 'bar' });
    await runsFor(['bar', 'foo'], grown);
    const sentAt = Date.now();
    const [second] = await sendMessages(queueUrl, [{ body: 'second' }]);
    await eventually('both got the second message', () => Promise.resolve((foo.byId.has(second ?? '') && bar.byId.has(second ?? '')) || undefined), DEADLINE_MS);
    const tookMs = Date.now() - sentAt;
    console.info(`sqs targets: [foo] -> [bar, foo], the next message reached both after ${String(tookMs)} ms`);
    expect(tookMs).toBeLessThan(DEADLINE_MS);
    // One receiver all along: started once, never stopped, reconfigured.
    expect(of('runner started')).toHaveLength(1);
    expect(of('stopping runner')).toEqual([]);
    expect(of('runner reconfigured').map((l) => l.functions)).toEqual([['bar', 'foo']]);

    // bar loses the label: the targets shrink to [foo], in place too; bar gets nothing more.
    const shrunk = lines.length;
    await client.mergePatch(`/apis/kubeless.io/v1beta1/namespaces/${ns.name}/functions/bar`, { metadata: { labels: { foo: null } } });
    await runsFor(['foo'], shrunk);
    const [third] = await sendMessages(queueUrl, [{ body: 'third' }]);
    await eventually('foo got the third message', () => Promise.resolve(foo.byId.has(third ?? '') || undefined), DEADLINE_MS);
    // Delivery to every target is concurrent: had bar still been one, it would have it by now.
    await new Promise((r) => setTimeout(r, 500));
    expect(bar.byId.has(third ?? '')).toBe(false);
    expect(of('runner started')).toHaveLength(1);
    expect(of('stopping runner')).toEqual([]);
    expect(of('runner reconfigured').map((l) => l.functions)).toEqual([['bar', 'foo'], ['foo']]);
    // Every message was deleted once delivered: none comes back.
    expect(foo.byId.get(first ?? '')).toHaveLength(1);
    expect(foo.byId.get(second ?? '')).toHaveLength(1);
    expect(bar.byId.get(second ?? '')).toHaveLength(1);
    await foo.close();
    await bar.close();
  }, 120_000);
});
