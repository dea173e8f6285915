/**
 * Tenant isolation (issue 18), each attack against the real stack (ElasticMQ): the controller's
 * own AWS identity is lent to no endpoint a trigger chooses, and to no namespace or queue the
 * operator did not grant; a rotated credentials Secret takes effect within 30 s. ElasticMQ accepts
 * any key, so a recording proxy in front of it tells which access key each request was signed with.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseIdentityGrants } from '@kubeless/api';
import { grantSecrets, stackEnv, withNamespace } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder, createCredentialsSecret, createQueue, eventually, kubeClient, queueCounts, registerFunction, sendMessages, sqsTrigger, startController, triggersPath, type RunningController } from './harness.js';

type Any = any;

/** The controller's own access key in these tests. */
const CONTROLLER_KEY = 'AKIACONTROLLER0000001';

/** An HTTP proxy to ElasticMQ that records the access key id of every SigV4-signed request. */
class SigningRecorder {
  readonly keys: { key: string; at: number }[] = [];
  readonly #server = http.createServer((req, res) => {
    const key = /Credential=([^/]+)\//u.exec(req.headers.authorization ?? '')?.[1] ?? '';
    this.keys.push({ key, at: Date.now() });
    const target = new URL(stackEnv().SQS_ENDPOINT);
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${String((this.#server.address() as AddressInfo).port)}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => {
      resolve();
    }));
  }
}

const condition = async (ns: string, name: string, type: string): Promise<Any> => {
  const t = await kubeClient().get<Any>(`${triggersPath(ns)}/${name}`);
  return t.status?.conditions?.find((c: Any) => c.type === type);
};
const notReady = (ns: string, name: string) => async (): Promise<Any> => {
  const c = await condition(ns, name, 'Ready');
  return c?.status === 'False' ? c : undefined;
};
/** A queue URL as the trigger uses it, through `endpoint` (the proxy) instead of ElasticMQ directly. */
const via = (endpoint: string, queueUrl: string): string => `${endpoint}${new URL(queueUrl).pathname}`;

describe('sqs-trigger tenancy', () => {
  const client = kubeClient();
  let teamA: { name: string; cleanup: () => Promise<void> };
  let teamB: { name: string; cleanup: () => Promise<void> };
  let controller: RunningController; // watches team-b
  let queueA: string;
  let queueB: string;

  beforeAll(async () => {
    teamA = await withNamespace('team-a');
    teamB = await withNamespace('team-b');
    queueA = await createQueue('team-a-jobs');
    queueB = await createQueue('team-b-jobs');
    await sendMessages(queueA, [{ body: 'team-a job 1' }, { body: 'team-a job 2' }]);
    await grantSecrets('sqs-trigger', teamB.name, ['own-aws', 'rotating']);
    // The operator granted team-a its queue, and team-b only its own (no dead letters).
    const grants = parseIdentityGrants(JSON.stringify([{ namespace: teamA.name, queues: [queueA] }, { namespace: teamB.name, queues: [queueB.replace(/\./gu, '\\.')] }]));
    controller = await startController(teamB.name, { defaultCredentials: { accessKeyId: CONTROLLER_KEY, secretAccessKey: 'controller-secret' }, grants });
  }, 90_000);

  afterAll(async () => {
    await controller.stop();
    await teamA.cleanup();
    await teamB.cleanup();
    client.close();
  });

  it("refuses team-b the controller's identity on team-a's queue, by URL or by name, and as a dead letter; the queue keeps its messages", async () => {
    const fn = new Recorder();
    fn.behaviour = () => ({ status: 400 }); // every message would be dead-lettered at once
    await registerFunction(client, teamB.name, 'thief', fn);
    const nameA = new URL(queueA).pathname.split('/').pop() ?? '';
    await client.create(triggersPath(teamB.name), sqsTrigger(teamB.name, 'by-url', { queueUrl: queueA, functionName: 'thief' }));
    await client.create(triggersPath(teamB.name), sqsTrigger(teamB.name, 'by-name', { queueName: nameA, region: stackEnv().SQS_REGION, functionName: 'thief' }));
    await client.create(triggersPath(teamB.name), sqsTrigger(teamB.name, 'inject', { queueUrl: queueB, functionName: 'thief', delivery: { deadLetter: queueA, onExhausted: 'deadLetter', retry: 0 } }));
    const byUrl = await eventually('by-url refused', notReady(teamB.name, 'by-url'), 30_000);
    expect(byUrl.reason).toBe('QueueNotGranted');
    expect(byUrl.message).toContain(queueA);
    const byName = await eventually('by-name refused', notReady(teamB.name, 'by-name'), 30_000);
    expect(byName.reason).toBe('QueueNotGranted');
    const inject = await eventually('inject refused', notReady(teamB.name, 'inject'), 30_000);
    expect(inject.reason).toBe('DeadLetterQueueNotGranted');
    await sendMessages(queueB, [{ body: 'would be dead-lettered into team-a' }]);
    await new Promise((r) => setTimeout(r, 5000));
    expect(fn.received).toHaveLength(0);
    expect(await queueCounts(queueA)).toEqual({ visible: 2, inFlight: 0 });
    expect(await queueCounts(queueB)).toEqual({ visible: 1, inFlight: 0 });
    for (const name of ['by-url', 'by-name', 'inject']) await client.delete(`${triggersPath(teamB.name)}/${name}`);
    await fn.close();
  }, 90_000);

  it("never signs for an endpoint a trigger names without a credentialsSecret; with its own Secret it works", async () => {
    const proxy = new SigningRecorder();
    const endpoint = await proxy.listen();
    const fn = new Recorder();
    await registerFunction(client, teamB.name, 'own', fn);
    const queue = await createQueue('own-endpoint');
    await client.create(triggersPath(teamB.name), sqsTrigger(teamB.name, 'borrow', { queueUrl: via(endpoint, queue), endpoint, functionName: 'own' }));
    const refused = await eventually('borrow refused', notReady(teamB.name, 'borrow'), 30_000);
    expect(refused.reason).toBe('EndpointNeedsCredentials');
    await new Promise((r) => setTimeout(r, 2000));
    expect(proxy.keys).toEqual([]);
    await createCredentialsSecret(client, teamB.name, 'own-aws', { aws_access_key_id: 'AKIATEAMB000000000001', aws_secret_access_key: 'team-b' });
    await client.create(triggersPath(teamB.name), sqsTrigger(teamB.name, 'own', { queueUrl: via(endpoint, queue), endpoint, functionName: 'own', credentialsSecret: 'own-aws' }));
    await sendMessages(queue, [{ body: 'with its own credentials' }]);
    const got = await eventually('delivered with its own Secret', () => Promise.resolve(fn.received[0]), 40_000);
    expect(got.body.toString()).toBe('with its own credentials');
    expect(new Set(proxy.keys.map((k) => k.key))).toEqual(new Set(['AKIATEAMB000000000001']));
    await fn.close();
    await proxy.close();
  }, 90_000);

  it('picks up a rotated credentials Secret within 30 s; a Secret without its keys turns the trigger not Ready', async () => {
    const proxy = new SigningRecorder();
    const endpoint = await proxy.listen();
    const fn = new Recorder();
    await registerFunction(client, teamB.name, 'rotated', fn);
    // A short visibility timeout: a long poll aborted at the receiver's restart may hold a message.
    const queue = await createQueue('rotating', { VisibilityTimeout: '2' });
    await createCredentialsSecret(client, teamB.name, 'rotating', { aws_access_key_id: 'AKIAOLD00000000000001', aws_secret_access_key: 'old' });
    await client.create(triggersPath(teamB.name), sqsTrigger(teamB.name, 'rotating', { queueUrl: via(endpoint, queue), endpoint, functionName: 'rotated', credentialsSecret: 'rotating' }));
    await eventually('receiving with the old key', () => Promise.resolve(proxy.keys.some((k) => k.key === 'AKIAOLD00000000000001')), 30_000);
    const secretPath = `/api/v1/namespaces/${teamB.name}/secrets/rotating`;
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    const rotatedAt = Date.now();
    await client.request('PATCH', secretPath, { body: { data: { aws_access_key_id: b64('AKIANEW00000000000001'), aws_secret_access_key: b64('new') } }, contentType: 'application/merge-patch+json' });
    await eventually('receiving with the new key', () => Promise.resolve(proxy.keys.some((k) => k.key === 'AKIANEW00000000000001')), 30_000);
    expect(Date.now() - rotatedAt).toBeLessThan(30_000);
    // Once the new key is in use, the old one is not used again.
    await new Promise((r) => setTimeout(r, 3000));
    const since = Date.now() - 2000;
    expect(proxy.keys.filter((k) => k.at > since).map((k) => k.key)).not.toContain('AKIAOLD00000000000001');
    await sendMessages(queue, [{ body: 'after the rotation' }]);
    await eventually('delivered after the rotation', () => Promise.resolve(fn.received.find((r) => r.body.toString() === 'after the rotation')), 30_000);
    // A rotation that loses a key: the trigger says so instead of staying Ready.
    await client.request('PATCH', secretPath, { body: { data: { aws_access_key_id: null } }, contentType: 'application/merge-patch+json' });
    const broken = await eventually('not Ready after a bad rotation', notReady(teamB.name, 'rotating'), 30_000);
    expect(broken.reason).toBe('SecretKeyMissing');
    await fn.close();
    await proxy.close();
  }, 120_000);
});
