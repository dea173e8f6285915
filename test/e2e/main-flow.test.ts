/**
 * The talk's main flow, end to end, against the real stack: the five controllers run as pods,
 * installed with the chart (a release of this file's own, with the chart's ServiceAccounts and
 * RBAC, watching this file's namespace), the stack's node runs the function pods
 * as containers of the runtime images built here, the triggers reach them by their Services' DNS
 * names (CoreDNS, kube-proxy), and everything goes through the real `kubeless` CLI.
 *
 * A Python and a Node.js function labelled foo=bar,bar=baz; one KafkaTrigger and one SQSTrigger
 * selecting them by label; an HTTPTrigger routed by the real Traefik. Each function must have
 * received each event (read back from its own log through `kubeless function logs`), and every
 * trigger must report Ready.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { rmSync } from 'node:fs';
import { CreateQueueCommand, DeleteQueueCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STACK_AWS_CREDENTIALS, stackEnv, withNamespace } from '@kubeless/stack';
import { extraEnv, functionPods, getJson, installControllers, kubelessOk, logsContaining, tempFiles, untilTraefik, viaTraefik, waitReady, type TestRelease } from './helpers.js';

const run = randomBytes(3).toString('hex');
let ns: { name: string; cleanup: () => Promise<void> };
let controllers: TestRelease | undefined;
let queueUrl = '';
const topic = `e2e-orders-${run}`;
const host = `foo-${run}.e2e.test`;
const sqs = new SQSClient({ region: stackEnv().SQS_REGION, endpoint: stackEnv().SQS_ENDPOINT, credentials: STACK_AWS_CREDENTIALS });

// Each function logs what it received, with the event id, and answers the data.
const dir = tempFiles('e2e-main', {
  'foo.py': "def handler(event, context):\n    print('e2e-event', event['data'], event['event-id'], flush=True)\n    return event['data']\n",
  'bar.js': "module.exports = { handler: (event) => { console.log('e2e-event', String(event.data), event['event-id']); return event.data; } };\n",
});

beforeAll(async () => {
  ns = await withNamespace('e2e-main');
  // The five controllers as pods: the chart installed for this namespace.
  controllers = await installControllers(ns.name, {
    kafkaTrigger: { extraEnv: extraEnv({ STATUS_INTERVAL: '1s' }) },
    sqsTrigger: { extraEnv: extraEnv({ STATUS_INTERVAL: '1s' }) },
  });
  const n = ['-n', ns.name];
  // Everything at once: the triggers select by label, so they may come before the functions.
  await Promise.all([
    kubelessOk(['function', 'deploy', 'foo', '--from-file', path.join(dir, 'foo.py'), '--handler', 'foo.handler', '--runtime', 'python3.11', '--label', 'foo=bar,bar=baz', ...n, '--wait']),
    kubelessOk(['function', 'deploy', 'bar', '--from-file', path.join(dir, 'bar.js'), '--handler', 'bar.handler', '--runtime', 'nodejs24', '--label', 'foo=bar,bar=baz', ...n, '--wait']),
    (async () => {
      await kubelessOk(['topic', 'create', topic]);
      await kubelessOk(['trigger', 'kafka', 'create', 'orders', '--trigger-topic', topic, '--function-selector', 'foo=bar', '--initial-offset', 'earliest', ...n]);
    })(),
    (async () => {
      queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `e2e-orders-${run}` }))).QueueUrl ?? '';
      await kubelessOk(['trigger', 'sqs', 'create', 'orders', '--queue-url', queueUrl, '--function-selector', 'foo=bar', ...n]);
    })(),
  ]);
  // The CLI checks that the function of an HTTP trigger exists.
  await kubelessOk(['trigger', 'http', 'create', 'foo', '--function-name', 'foo', '--gateway', 'traefik', '--hostname', host, '--path', 'orders', ...n]);
});

afterAll(async () => {
  await controllers?.uninstall();
  await kubelessOk(['topic', 'delete', topic]).catch(() => undefined);
  if (queueUrl) await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => undefined);
  sqs.destroy();
  await ns.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('the main flow', () => {
  it('deploys a Python and a Node.js function with the labels; their pods carry them', async () => {
    const ls = await kubelessOk(['function', 'ls', '-n', ns.name]);
    expect(ls).toMatch(/^bar\s+\S+\s+bar\.handler\s+nodejs24\s+1\/1 READY$/m);
    expect(ls).toMatch(/^foo\s+\S+\s+foo\.handler\s+python3\.11\s+1\/1 READY$/m);
    for (const fn of ['foo', 'bar']) {
      const f = await getJson(ns.name, 'functions.kubeless.io', fn);
      expect(f.metadata.labels).toEqual({ 'created-by': 'kubeless', function: fn, foo: 'bar', bar: 'baz' });
      const pods = await functionPods(ns.name, fn);
      expect(pods.map((p) => p.metadata.labels)).toEqual([expect.objectContaining({ foo: 'bar', bar: 'baz' })]);
    }
  });

  it('a KafkaTrigger selecting foo=bar delivers a published message to both functions', async () => {
    await waitReady(ns.name, 'kafkatriggers.kubeless.io', 'orders');
    await kubelessOk(['topic', 'publish', '--topic', topic, '--data', `kafka-${run}`]);
    // The CloudEvent id of the first record of partition 0 reached each runtime.
    await Promise.all(['foo', 'bar'].map((fn) => logsContaining(ns.name, fn, [`e2e-event kafka-${run} partition:0/offset:0`])));
    const t = await waitReady(ns.name, 'kafkatriggers.kubeless.io', 'orders');
    expect([...(t.status.functions as string[])].sort()).toEqual(['bar', 'foo']);
  });

  it('an SQSTrigger selecting foo=bar delivers a queued message to both functions', async () => {
    await waitReady(ns.name, 'sqstriggers.kubeless.io', 'orders');
    const sent = await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: `sqs-${run}` }));
    expect(sent.MessageId).toBeTruthy();
    // The event id is the SQS MessageId: this message, through the trigger.
    await Promise.all(['foo', 'bar'].map((fn) => logsContaining(ns.name, fn, [`e2e-event sqs-${run} ${sent.MessageId ?? ''}`])));
    const t = await waitReady(ns.name, 'sqstriggers.kubeless.io', 'orders');
    expect([...(t.status.functions as string[])].sort()).toEqual(['bar', 'foo']);
  });

  it('an HTTPTrigger routes a request through Traefik to the function', async () => {
    const t = await waitReady(ns.name, 'httptriggers.kubeless.io', 'foo');
    expect(t.status.url).toBe(`http://${host}/orders`);
    const res = await untilTraefik(
      'the route through Traefik',
      () => viaTraefik(host, '/orders', { method: 'POST', body: `http-${run}`, headers: { 'content-type': 'text/plain' } }),
      (r) => r.status === 200,
    );
    expect(res.body).toBe(`http-${run}`);
    await logsContaining(ns.name, 'foo', [`e2e-event http-${run}`]);
    // And the CLI's own call, through the API server's service proxy, to the Node.js function.
    expect((await kubelessOk(['function', 'call', 'bar', '--data', `call-${run}`, '-n', ns.name])).trim()).toBe(`call-${run}`);
    await logsContaining(ns.name, 'bar', [`e2e-event call-${run}`]);
  });

  it('every function and trigger reports Ready', async () => {
    for (const fn of ['foo', 'bar']) await waitReady(ns.name, 'functions.kubeless.io', fn);
    await waitReady(ns.name, 'kafkatriggers.kubeless.io', 'orders');
    await waitReady(ns.name, 'sqstriggers.kubeless.io', 'orders');
    await waitReady(ns.name, 'httptriggers.kubeless.io', 'foo');
  });
});
