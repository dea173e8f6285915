/**
 * Any bytes in a key or header are delivered (issue 19): records whose keys are binary
 * (`00 01 ff 0a`, as Confluent Schema Registry keys start), CJK text and 2 KiB of random bytes,
 * and whose headers hold invalid UTF-8 and CR/LF, then a plain record, all reach the function in
 * order under the default settings (ordered, block on exhaustion): none stalls its partition. The
 * function gets each key byte-exact (`partitionkey` percent-encoded as the CloudEvents HTTP
 * binding requires, or `partitionkeyb64` for bytes that are not UTF-8), and the official
 * cloudevents SDK accepts every request.
 */
import { randomBytes } from 'node:crypto';
import { uniqueName, withNamespace } from '@kubeless/stack';
import { HTTP } from 'cloudevents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder, createTopic, eventually, kafkaTrigger, kubeClient, produce, registerFunction, startController, triggersPath, type Received, type RunningController } from './harness.js';

/** The bytes of an extension as the function gets them: `<name>b64` (base64) or `<name>` (percent-encoded UTF-8). */
function extensionBytes(r: Received, name: string): Buffer | undefined {
  const b64 = r.headers[`ce-${name}b64`];
  if (typeof b64 === 'string') return Buffer.from(b64, 'base64');
  const text = r.headers[`ce-${name}`];
  return typeof text === 'string' ? Buffer.from(decodeURIComponent(text), 'utf8') : undefined;
}

describe('kafka-trigger: any key and header bytes', () => {
  const client = kubeClient();
  let ns: { name: string; cleanup: () => Promise<void> };
  let controller: RunningController;

  beforeAll(async () => {
    ns = await withNamespace('kafka-bytes');
    controller = await startController(ns.name);
  }, 60_000);

  afterAll(async () => {
    await controller.stop();
    await ns.cleanup();
    client.close();
  });

  it('delivers binary, CJK and random keys and odd headers in order, byte-exact, each accepted by the cloudevents SDK', async () => {
    const fn = new Recorder();
    await registerFunction(client, ns.name, 'bytes', fn);
    const topic = uniqueName('bytes');
    await createTopic(topic, 1);
    const keys = [Buffer.from([0x00, 0x01, 0xff, 0x0a]), Buffer.from('東京のキー', 'utf8'), randomBytes(2048), Buffer.from('plain-key')];
    const headers = [
      { trace: Buffer.from([0xc3, 0x28, 0xff]) },
      { trace: 'line one\r\nline two' },
      { trace: 'Москва 100% "quoted"' },
      {},
    ];
    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'bytes', { topic, functionName: 'bytes', initialOffset: 'earliest' }));
    await produce(topic, [
      ...keys.map((key, i) => ({ key, value: `record ${String(i)}`, headers: headers[i] as Record<string, string> })),
      { value: 'a plain record after them' },
    ]);
    await eventually('all 5 records', () => Promise.resolve(fn.ids.size >= 5), 40_000);
    const got = [...fn.byId.values()].map((l) => l[0] as Received).sort((a, b) => Number(a.headers['ce-kafkaoffset']) - Number(b.headers['ce-kafkaoffset']));
    expect(got.map((r) => r.body.toString())).toEqual(['record 0', 'record 1', 'record 2', 'record 3', 'a plain record after them']);
    keys.forEach((key, i) => {
      expect(extensionBytes(got[i] as Received, 'partitionkey')?.equals(key), `key ${String(i)} byte-exact`).toBe(true);
    });
    expect(extensionBytes(got[0] as Received, 'kafkaheadertrace')?.equals(Buffer.from([0xc3, 0x28, 0xff]))).toBe(true);
    expect(extensionBytes(got[1] as Received, 'kafkaheadertrace')?.toString('utf8')).toBe('line one\r\nline two');
    expect(extensionBytes(got[2] as Received, 'kafkaheadertrace')?.toString('utf8')).toBe('Москва 100% "quoted"');
    for (const r of got) {
      const event = HTTP.toEvent({ headers: r.headers, body: r.body });
      expect(Array.isArray(event)).toBe(false);
    }
    // No retries were needed: every record was delivered once.
    expect(fn.received).toHaveLength(5);
    await fn.close();
  }, 90_000);
});
