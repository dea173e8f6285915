/**
 * Test support for the sqs-trigger against the real stack (ElasticMQ, the API server), shared by
 * its own tests, test/chaos and test/e2e (the recording functions are in recorder.ts): the controller in-process or as a child process, and SQS
 * helpers (queues, batched concurrent sends, reading a queue, its depth).
 */
import type { ChildProcess } from 'node:child_process';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  DeleteMessageBatchCommand,
  SQSClient,
  SendMessageBatchCommand,
  type Message,
  type MessageAttributeValue,
} from '@aws-sdk/client-sqs';
import { parseIdentityGrants } from '@kubeless/api';
import { KubeClient } from '@kubeless/controller';
import type { Registry } from '@kubeless/observability';
import { STACK_AWS_CREDENTIALS, TEST_ENDPOINT_MANAGER, spawnController as spawnStackController, stackIdentityGrants } from '../controllers.js';
import { stackEnv, uniqueName } from '../testing.js';
import { startInProcess } from './in-process.js';
import { buildSqsTrigger, type SqsTriggerOptions, type SqsTriggerParts } from '@kubeless/sqs-trigger';

/** ElasticMQ accepts any credentials: the ones the stack's spawned controllers use. */
export const TEST_CREDENTIALS = STACK_AWS_CREDENTIALS;

/** The test's own client, as the admin. */
export function kubeClient(): KubeClient {
  return KubeClient.fromKubeconfig(stackEnv().KUBECONFIG, { userAgent: 'kubeless-test/sqs-trigger' });
}

let sqsClient: SQSClient | undefined;
export function sqs(): SQSClient {
  sqsClient ??= new SQSClient({ region: stackEnv().SQS_REGION, endpoint: stackEnv().SQS_ENDPOINT, credentials: TEST_CREDENTIALS });
  return sqsClient;
}

/** Creates a queue (a unique name from `prefix`; `.fifo` added for FIFO) and returns its URL. */
export async function createQueue(prefix: string, attributes: Record<string, string> = {}): Promise<string> {
  const fifo = attributes.FifoQueue === 'true';
  const name = `${uniqueName(prefix)}${fifo ? '.fifo' : ''}`;
  const out = await sqs().send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  return out.QueueUrl ?? '';
}

export interface TestMessage {
  body: string;
  attributes?: Record<string, MessageAttributeValue>;
  groupId?: string;
}

/**
 * Sends in SendMessageBatch calls of 10, `concurrency` calls at once; returns the MessageIds in
 * the order of `messages`. FIFO messages are sent in order, one batch at a time per call chain.
 */
export async function sendMessages(queueUrl: string, messages: TestMessage[], concurrency = 16): Promise<string[]> {
  const ids: string[] = new Array<string>(messages.length).fill('');
  const batches: number[] = [];
  for (let i = 0; i < messages.length; i += 10) batches.push(i);
  const fifo = queueUrl.endsWith('.fifo');
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < batches.length) {
      const start = batches[next++] ?? 0;
      const slice = messages.slice(start, start + 10);
      const out = await sqs().send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: slice.map((m, j) => ({
            Id: `e${String(j)}`,
            MessageBody: m.body,
            ...(m.attributes ? { MessageAttributes: m.attributes } : {}),
            ...(fifo ? { MessageGroupId: m.groupId ?? 'g', MessageDeduplicationId: `d${String(start + j)}` } : {}),
          })),
        }),
      );
      if (out.Failed && out.Failed.length > 0) throw new Error(`send failed: ${JSON.stringify(out.Failed[0])}`);
      for (const s of out.Successful ?? []) ids[start + Number((s.Id ?? 'e0').slice(1))] = s.MessageId ?? '';
    }
  };
  await Promise.all(Array.from({ length: fifo ? 1 : concurrency }, worker));
  return ids;
}

/** Reads (and deletes) messages of `queueUrl` until `count` arrived or the timeout passed. */
export async function readQueue(queueUrl: string, count: number, timeoutMs = 20_000): Promise<Message[]> {
  const out: Message[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < count && Date.now() < deadline) {
    const r = await sqs().send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'] }));
    const ms = r.Messages ?? [];
    out.push(...ms);
    if (ms.length > 0) await sqs().send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: ms.map((m, i) => ({ Id: `d${String(i)}`, ReceiptHandle: m.ReceiptHandle })) }));
  }
  return out;
}

/** Visible and in-flight message counts of a queue. */
export async function queueCounts(queueUrl: string): Promise<{ visible: number; inFlight: number }> {
  const a = (await sqs().send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }))).Attributes ?? {};
  return { visible: Number(a.ApproximateNumberOfMessages ?? 0), inFlight: Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) };
}

/** An SQSTrigger object. */
export function sqsTrigger(ns: string, name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'kubeless.io/v1beta1', kind: 'SQSTrigger', metadata: { name, namespace: ns }, spec };
}

export const triggersPath = (ns: string): string => `/apis/kubeless.io/v1beta1/namespaces/${ns}/sqstriggers`;

/** A credentials Secret with the ElasticMQ test keys. */
export async function createCredentialsSecret(client: KubeClient, ns: string, name: string, data: Record<string, string> = { aws_access_key_id: 'x', aws_secret_access_key: 'x' }): Promise<void> {
  await client.create(`/api/v1/namespaces/${ns}/secrets`, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: ns },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  });
}

/** Settings for a controller under test: quick status, syncs and retries; the stack's ElasticMQ. */
export function testOptions(namespace: string): Omit<SqsTriggerOptions, 'client' | 'logger'> {
  return {
    watchNamespace: namespace,
    region: stackEnv().SQS_REGION,
    endpoint: stackEnv().SQS_ENDPOINT,
    defaultCredentials: TEST_CREDENTIALS,
    // The namespace under test may use the controller's identity on any queue (tenancy.test.ts tests the rules).
    grants: parseIdentityGrants(stackIdentityGrants(namespace)),
    trustedEndpointManagers: [TEST_ENDPOINT_MANAGER],
    secretResyncMs: 2000,
    endpointMode: 'endpointslice',
    maxEventBytes: 256 * 1024,
    drainTimeoutMs: 5000,
    deleteFlushMs: 100,
    statusIntervalMs: 1000,
    syncIntervalMs: 1000,
    retryAfterMs: 1000,
  };
}

export interface RunningController {
  registry: Registry;
  /** The process's memory budget, when the options set one. */
  budget: SqsTriggerParts['budget'];
  stop: () => Promise<void>;
}

/** An in-process sqs-trigger watching `namespace` (startInProcess). */
export async function startController(namespace: string, overrides: Partial<SqsTriggerOptions> = {}): Promise<RunningController> {
  const c = await startInProcess('sqs-trigger', (ctx) => buildSqsTrigger({ ...ctx, ...testOptions(namespace), ...overrides }));
  return { registry: c.registry, budget: c.parts.budget, stop: c.stop };
}

/** The controller as its own process on its ServiceAccount (for SIGKILL tests); credentials through the default provider chain (env); in EndpointSlice mode, to reach the test's recording functions. */
export function spawnController(namespace: string, identity: string, extraEnv: Record<string, string> = {}): ChildProcess {
  return spawnStackController('sqs-trigger', { watchNamespace: namespace, podNamespace: namespace, identity, env: { ENDPOINT_MODE: 'endpointslice', STATUS_INTERVAL: '1s', ...extraEnv } }).child;
}

/** Resolves when the child has exited. */
export function waitExit(c: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) resolve();
    else
      c.once('exit', () => {
        resolve();
      });
  });
}

/** The header value as one string. */
export const header = (r: { headers: Record<string, string | string[] | undefined> }, k: string): string => String(r.headers[k] ?? '');
