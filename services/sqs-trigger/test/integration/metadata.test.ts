/**
 * Any text in a message attribute is delivered (issue 19): String attributes with non-Latin-1
 * text (Cyrillic, CJK, an emoji) and CR/LF, and a Binary attribute, reach the function as
 * extensions (`sqsattr<name>` percent-encoded as the CloudEvents HTTP binding requires;
 * `sqsattr<name>b64` for bytes), text exact, and the official cloudevents SDK accepts the request.
 */
import { withNamespace } from '@kubeless/stack';
import { HTTP } from 'cloudevents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder, createQueue, eventually, kubeClient, registerFunction, sendMessages, sqsTrigger, startController, triggersPath, type RunningController } from './harness.js';

describe('sqs-trigger: any attribute text', () => {
  const client = kubeClient();
  let ns: { name: string; cleanup: () => Promise<void> };
  let controller: RunningController;

  beforeAll(async () => {
    ns = await withNamespace('sqs-text');
    controller = await startController(ns.name);
  }, 60_000);

  afterAll(async () => {
    await controller.stop();
    await ns.cleanup();
    client.close();
  });

  it('delivers non-Latin-1 and CR/LF attribute text exact, and a Binary attribute as bytes', async () => {
    const fn = new Recorder();
    await registerFunction(client, ns.name, 'text', fn);
    const queueUrl = await createQueue('text');
    await client.create(triggersPath(ns.name), sqsTrigger(ns.name, 'text', { queueUrl, functionName: 'text' }));
    const city = 'Москва / 東京 🚀';
    const note = 'line one\r\nline two: 100% "quoted"';
    await sendMessages(queueUrl, [
      {
        body: 'with attributes',
        attributes: {
          city: { DataType: 'String', StringValue: city },
          note: { DataType: 'String', StringValue: note },
          raw: { DataType: 'Binary', BinaryValue: new Uint8Array([0x00, 0xff, 0x0a]) },
        },
      },
      { body: 'plain after it' },
    ]);
    await eventually('both delivered', () => Promise.resolve(fn.ids.size >= 2), 30_000);
    const r = fn.received.find((x) => x.body.toString() === 'with attributes');
    expect(r).toBeDefined();
    const h = r?.headers ?? {};
    expect(decodeURIComponent(String(h['ce-sqsattrcity']))).toBe(city);
    expect(decodeURIComponent(String(h['ce-sqsattrnote']))).toBe(note);
    expect(Buffer.from(String(h['ce-sqsattrrawb64']), 'base64').equals(Buffer.from([0x00, 0xff, 0x0a]))).toBe(true);
    for (const x of fn.received) expect(Array.isArray(HTTP.toEvent({ headers: x.headers, body: x.body }))).toBe(false);
    expect(fn.received).toHaveLength(2);
    await fn.close();
  }, 60_000);
});
