/**
 * Bad settings show in the status (issue 6): a missing credentials Secret or key, a queue that does
 * not exist, an unreachable endpoint and a missing dead-letter queue each show with a reason while
 * the controller keeps serving other triggers; the approximate depth of the queue is reported and
 * delivery starts once a matching function appears.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { grantSecrets, withNamespace } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Recorder,
  createCredentialsSecret,
  createQueue,
  eventually,
  kubeClient,
  registerFunction,
  sendMessages,
  sqsTrigger,
  startController,
  triggersPath,
  type RunningController,
} from './harness.js';

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
}

describe('sqs-trigger status', () => {
  const client = kubeClient();
  let ns: { name: string; cleanup: () => Promise<void> };
  let controller: RunningController;

  const conditionOf = async (name: string, type: string): Promise<Cond | undefined> => {
    const t = await client.get<any>(`${triggersPath(ns.name)}/${name}`);
    return (t.status?.conditions as Cond[] | undefined)?.find((c) => c.type === type);
  };
  const waitCondition = (name: string, type: string, status: string): Promise<Cond> =>
    eventually(`${name} ${type}=${status}`, async () => {
      const c = await conditionOf(name, type);
      return c?.status === status ? c : undefined;
    }, 20_000);

  beforeAll(async () => {
    ns = await withNamespace('sqs-status');
    // The controller runs on its ServiceAccount: it reads only the Secrets granted by name.
    await grantSecrets('sqs-trigger', ns.name, ['half', 'does-not-exist', 'own-endpoint', 'fake-endpoint']);
    controller = await startController(ns.name);
  }, 60_000);

  afterAll(async () => {
    await controller.stop();
    await ns.cleanup();
    client.close();
  });

  it('reports the queue depth while no function matches, then delivers when one appears', async () => {
    const queueUrl = await createQueue('depth');
    await sendMessages(queueUrl, Array.from({ length: 25 }, (_, i) => ({ body: String(i) })));
    await client.create(triggersPath(ns.name), sqsTrigger(ns.name, 'depth', { queueUrl, functionSelector: { matchLabels: { app: 'later' } } }));
    const fnCond = await waitCondition('depth', 'FunctionsResolved', 'False');
    expect(fnCond.reason).toBe('NoFunctionsMatched');
    expect((await conditionOf('depth', 'Ready'))?.status).toBe('False');
    await eventually('depth 25', async () => {
      const t = await client.get<any>(`${triggersPath(ns.name)}/depth`);
      return t.status?.approximateQueueDepth === 25 ? true : undefined;
    }, 20_000);
    const fn = new Recorder();
    await registerFunction(client, ns.name, 'later', fn, { app: 'later' });
    await eventually('25 delivered', () => Promise.resolve(fn.ids.size >= 25 ? true : undefined), 20_000);
    await waitCondition('depth', 'Ready', 'True');
    await eventually('depth 0', async () => {
      const t = await client.get<any>(`${triggersPath(ns.name)}/depth`);
      return t.status?.approximateQueueDepth === 0 && (t.status?.functions as string[] | undefined)?.join() === 'later' ? true : undefined;
    }, 20_000);
    await fn.close();
  }, 60_000);

  it('reports Stalled (and Ready False) while a message keeps failing after its retries with onExhausted block, and clears it once delivered', async () => {
    const queueUrl = await createQueue('stalled', { VisibilityTimeout: '30' });
    const fn = new Recorder();
    let failing = true;
    fn.behaviour = () => ({ status: failing ? 503 : 200 });
    await registerFunction(client, ns.name, 'stuck', fn);
    await client.create(triggersPath(ns.name), sqsTrigger(ns.name, 'stalled', { queueUrl, functionName: 'stuck', delivery: { retry: 1, backoffPolicy: 'linear', backoffDelay: '1s', backoffMax: '1s' } }));
    await waitCondition('stalled', 'Stalled', 'False');
    const [id] = await sendMessages(queueUrl, [{ body: 'stuck' }]);
    const stalled = await waitCondition('stalled', 'Stalled', 'True');
    expect(stalled.reason).toBe('RetriesExhausted');
    expect(stalled.message).toContain(id ?? '');
    expect(stalled.message).toContain('503');
    const ready = await waitCondition('stalled', 'Ready', 'False');
    expect(ready.reason).toBe('Stalled');
    // Nothing was lost: it is still being retried.
    expect((fn.byId.get(id ?? '')?.length ?? 0)).toBeGreaterThanOrEqual(2);
    failing = false;
    const flowing = await waitCondition('stalled', 'Stalled', 'False');
    expect(flowing.reason).toBe('Flowing');
    await waitCondition('stalled', 'Ready', 'True');
    await fn.close();
  }, 60_000);

  it('shows a missing Secret, a missing key, a missing queue, an unreachable endpoint and a missing dead-letter queue, while other triggers keep working', async () => {
    const queueUrl = await createQueue('fine');
    const fn = new Recorder();
    await registerFunction(client, ns.name, 'target', fn);
    await createCredentialsSecret(client, ns.name, 'half', { aws_access_key_id: 'x' });
    await client.create(triggersPath(ns.name), sqsTrigger(ns.name, 'nosecret', { queueUrl, functionName: 'target', credentialsSecret: 'does-not-exist' }));
    await client.create(triggersPath(ns.name), sqsTrigger(ns.name, 'nokey', { queueUrl, functionName: 'target', credentialsSecret: 'half' }));
    await client.create(triggersPath(ns.name), sqsTrigger(ns.name, 'noqueue', { queueName: 'no-such-queue', region: 'us-east-1', functionName: 'target' }));
    // Its own endpoint: with its own credentials only (the controller's never go to an endpoint a trigger chose).
    await createCredentialsSecret(client, ns.name, 'own-endpoint');
    await client.create(triggersPath(ns.name), sqsTrigger(ns.name, 'unreachable', { queueName: 'anything', region: 'us-east-1', endpoint: 'http://127.0.0.1:1', functionName: 'target', credentialsSecret: 'own-endpoint' }));
    await client.create(triggersPath(ns.name), sqsTrigger(ns.name, 'nodlq', { queueUrl: await createQueue('nodlq'), functionName: 'target', delivery: { deadLetter: 'no-such-dlq' } }));
    const good = await createQueue('good');
    await client.create(triggersPath(ns.name), sqsTrigger(ns.name, 'good', { queueUrl: good, functionName: 'target' }));

    const secret = await waitCondition('nosecret', 'CredentialsReady', 'False');
    expect(secret.reason).toBe('SecretNotFound');
    expect(secret.message).toContain('does-not-exist');
    const key = await waitCondition('nokey', 'CredentialsReady', 'False');
    expect(key.reason).toBe('SecretKeyMissing');
    expect(key.message).toContain('aws_secret_access_key');
    const queue = await waitCondition('noqueue', 'QueueExists', 'False');
    expect(queue.reason).toBe('QueueNotFound');
    const unreachable = await waitCondition('unreachable', 'QueueReachable', 'False');
    expect(unreachable.reason).toBe('Unreachable');
    const dlq = await waitCondition('nodlq', 'DeadLetterReady', 'False');
    expect(dlq.reason).toBe('DeadLetterQueueMissing');
    for (const name of ['nosecret', 'nokey', 'noqueue', 'unreachable', 'nodlq']) {
      const ready = await waitCondition(name, 'Ready', 'False');
      expect(ready.message, name).not.toBe('');
    }
    // The controller keeps serving the healthy trigger meanwhile.
    const [id] = await sendMessages(good, [{ body: 'still flowing' }]);
    await eventually('good trigger delivers', () => Promise.resolve(fn.byId.has(id ?? '') ? true : undefined), 20_000);
    await waitCondition('good', 'Ready', 'True');
    // Fixing the Secret fixes the trigger.
    await createCredentialsSecret(client, ns.name, 'does-not-exist');
    await waitCondition('nosecret', 'Ready', 'True');
    await fn.close();
  }, 90_000);

  it("never shows the AWS role ARN or account id of an AccessDenied, nor the text of an answer that is not SQS's, in status", async () => {
    const ROLE = 'arn:aws:sts::123456789012:assumed-role/kubeless-sqs-trigger/i-0abc';
    let answer: (res: http.ServerResponse) => void = () => undefined;
    // An endpoint of the trigger's own: first one that refuses the credentials as AWS does, then
    // an internal page (an SSRF probe) with something secret on it.
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        answer(res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
    answer = (res) => {
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-query-error': 'AccessDenied;Sender' });
      res.end(JSON.stringify({ __type: 'com.amazon.coral.service#AccessDeniedException', message: `User: ${ROLE} is not authorized to perform: sqs:getqueueurl on resource: arn:aws:sqs:us-east-1:123456789012:orders` }));
    };
    try {
      await createCredentialsSecret(client, ns.name, 'fake-endpoint');
      await client.create(triggersPath(ns.name), sqsTrigger(ns.name, 'denied', { queueName: 'orders', region: 'us-east-1', endpoint, functionName: 'target', credentialsSecret: 'fake-endpoint' }));
      const denied = await waitCondition('denied', 'CredentialsReady', 'False');
      expect(denied.reason).toBe('AccessDenied');
      expect(denied.message).toContain('not authorized to perform: sqs:getqueueurl');
      const everything = async (): Promise<string> => JSON.stringify((await client.get<any>(`${triggersPath(ns.name)}/denied`)).status);
      expect(await everything()).not.toMatch(/123456789012|assumed-role|arn:aws:s/u);
      answer = (res) => {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<html>internal admin console, token=s3cr3t</html>');
      };
      const odd = await waitCondition('denied', 'QueueReachable', 'False');
      expect(odd.reason).toBe('SqsError');
      expect(odd.message).toContain('HTTP 200');
      expect(await everything()).not.toMatch(/<html|s3cr3t|internal admin/u);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  }, 60_000);
});
