/**
 * Test support for the kafka-trigger against the real stack: recording functions (real HTTP
 * servers on pod IPs inside the stack's network namespace, published through a Service and an
 * EndpointSlice like a function pod's), the controller in-process or as a child process, and
 * Kafka helpers (topics, producing, reading a dead-letter topic).
 */
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { parseIdentityGrants } from '@kubeless/api';
import { KubeClient, Manager } from '@kubeless/controller';
import { createLogger, createRegistry, type Registry } from '@kubeless/observability';
import { TEST_ENDPOINT_MANAGER, controllerKubeconfig, eventually, spawnController as spawnStackController, stackEnv, stackIdentityGrants } from '@kubeless/stack';
import kafkajs from 'kafkajs';
import { buildKafkaTrigger, type KafkaTriggerOptions } from '../../src/index.js';

export { eventually };
const { Kafka, logLevel } = kafkajs;

export interface Received {
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  at: number;
}

/** What the function answers for one request (default 200). */
export type Behaviour = (r: Received, attempt: number) => { status: number; headers?: Record<string, string>; delayMs?: number };

let nextIp = 1;
/** A fresh address of the stand-ins' part of the pod range (AnyIP, test/stack/netns.sh), outside the node's bridge. */
const podIp = (): string => `10.244.250.${String(nextIp++)}`;

/**
 * A function that records every request. `inFlight`/`maxInFlight` count concurrent requests at the
 * function itself (what the issue asks to measure).
 */
export class Recorder {
  readonly received: Received[] = [];
  readonly byId = new Map<string, Received[]>();
  inFlight = 0;
  maxInFlight = 0;
  behaviour: Behaviour = () => ({ status: 200 });
  readonly ip = podIp();
  /** `ip:port` once listening. */
  lastAddress: string | undefined;
  #server: http.Server | undefined;

  /** Listens on the recorder's pod IP; with `tls`, as an https server (e.g. requiring client certificates). */
  async listen(tls?: https.ServerOptions): Promise<number> {
    const handler: http.RequestListener = (req, res) => {
      const chunks: Buffer[] = [];
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r: Received = { headers: req.headers, body: Buffer.concat(chunks), at: Date.now() };
        const id = String(req.headers['ce-id'] ?? '');
        const list = this.byId.get(id) ?? [];
        list.push(r);
        this.byId.set(id, list);
        this.received.push(r);
        const b = this.behaviour(r, list.length);
        const finish = (): void => {
          this.inFlight--;
          res.writeHead(b.status, b.headers ?? {});
          res.end(b.status >= 300 ? `failure ${String(b.status)}` : 'ok');
        };
        if (b.delayMs) setTimeout(finish, b.delayMs);
        else finish();
      });
    };
    this.#server = tls ? https.createServer(tls, handler) : http.createServer(handler);
    this.#server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => this.#server?.listen(0, this.ip, resolve));
    const port = (this.#server.address() as AddressInfo).port;
    this.lastAddress = `${this.ip}:${String(port)}`;
    return port;
  }

  /** Distinct event ids received. */
  get ids(): Set<string> {
    return new Set(this.byId.keys());
  }

  async close(): Promise<void> {
    this.#server?.closeAllConnections();
    const server = this.#server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
  }
}

/**
 * A Function object (no function controller runs: the recorder stands in for its pods) with the
 * Service and EndpointSlice a function pod would get.
 */
export async function registerFunction(client: KubeClient, ns: string, name: string, recorder: Recorder, labels: Record<string, string> = {}, tls?: https.ServerOptions): Promise<void> {
  const port = await recorder.listen(tls);
  await client.create(`/apis/kubeless.io/v1beta1/namespaces/${ns}/functions`, {
    apiVersion: 'kubeless.io/v1beta1',
    kind: 'Function',
    metadata: { name, namespace: ns, labels },
    spec: { runtime: 'nodejs24', handler: 'h.f', function: 'module.exports = { f: () => "ok" }', timeout: '10' },
  });
  await client.create(`/api/v1/namespaces/${ns}/services`, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns, labels: { 'created-by': 'kubeless', function: name } },
    spec: { ports: [{ name: 'http-function-port', port: 8080, targetPort: port, protocol: 'TCP' }] },
  });
  await client.create(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${name}-test`, namespace: ns, labels: { 'created-by': 'kubeless', 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': TEST_ENDPOINT_MANAGER } },
    addressType: 'IPv4',
    endpoints: [{ addresses: [recorder.ip], conditions: { ready: true } }],
    ports: [{ name: 'http-function-port', port, protocol: 'TCP' }],
  });
}

/** The test's own client; its user agent keeps its calls apart from the controller's in the audit log. */
export function kubeClient(): KubeClient {
  return KubeClient.fromKubeconfig(stackEnv().KUBECONFIG, { userAgent: 'kubeless-test/kafka-trigger' });
}

export const brokers = (): string[] => stackEnv().KAFKA_BROKERS.split(',');

/** Settings for a controller under test: quick rebalances and status. */
export function testOptions(namespace: string): Omit<KafkaTriggerOptions, 'client' | 'logger'> {
  return {
    watchNamespace: namespace,
    brokers: brokers(),
    auth: {},
    // The namespace under test may use the controller's identity on any topic (tenancy.test.ts tests the rules).
    grants: parseIdentityGrants(stackIdentityGrants(namespace)),
    trustedEndpointManagers: [TEST_ENDPOINT_MANAGER],
    secretResyncMs: 2000,
    clientId: 'kafka-trigger-test',
    endpointMode: 'endpointslice',
    maxEventBytes: 64 * 1024,
    maxBytesInFlight: 16 * 1024 * 1024,
    sessionTimeoutMs: 6000,
    heartbeatIntervalMs: 500,
    rebalanceTimeoutMs: 10_000,
    partitionsConcurrency: 8,
    maxFetchBytes: 1024 * 1024,
    drainTimeoutMs: 5000,
    statusIntervalMs: 1000,
    syncIntervalMs: 1000,
  };
}

export interface RunningController {
  registry: Registry;
  stop: () => Promise<void>;
}

/** An in-process kafka-trigger watching `namespace`. */
export async function startController(namespace: string, overrides: Partial<KafkaTriggerOptions> = {}): Promise<RunningController> {
  const logger = createLogger({ name: 'kafka-trigger-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  // On its own ServiceAccount's token (written by `stack up`), as the chart runs it.
  const client = KubeClient.fromKubeconfig(controllerKubeconfig('kafka-trigger'), { userAgent: 'kubeless-kafka-trigger/test' });
  const registry = createRegistry({ defaultMetrics: false });
  const parts = buildKafkaTrigger({ client, logger, registry, ...testOptions(namespace), ...overrides });
  const manager = new Manager({ client, logger, leaderElection: false });
  manager.addAll(parts);
  await manager.start();
  return {
    registry,
    stop: async () => {
      await manager.stop();
      client.close();
    },
  };
}

/**
 * The controller as its own process on its ServiceAccount (for SIGKILL tests), with quick
 * rebalances and status; in EndpointSlice mode, to reach the test's recording functions.
 */
export function spawnController(namespace: string, identity: string, extraEnv: Record<string, string> = {}): ChildProcess {
  return spawnStackController('kafka-trigger', {
    watchNamespace: namespace,
    podNamespace: namespace,
    identity,
    env: { ENDPOINT_MODE: 'endpointslice', KAFKA_SESSION_TIMEOUT: '6s', KAFKA_HEARTBEAT_INTERVAL: '500ms', KAFKA_REBALANCE_TIMEOUT: '10s', STATUS_INTERVAL: '1s', ...extraEnv },
  }).child;
}

export function kafka(): InstanceType<typeof Kafka> {
  return new Kafka({ clientId: 'kafka-trigger-test', brokers: brokers(), logLevel: logLevel.NOTHING });
}

/**
 * Creates `topic`; `config` sets topic configs (e.g. `max.message.bytes`). Waits until every
 * partition has its leader: kafkajs's `waitForLeaders` reads metadata once the broker answered, and
 * a broker that has not loaded the new partitions yet answers "This server does not host this
 * topic-partition" (UNKNOWN_TOPIC_OR_PARTITION), which that call does not retry; so it is retried
 * here for up to 15 s.
 */
export async function createTopic(topic: string, partitions: number, config: Record<string, string> = {}): Promise<void> {
  const admin = kafka().admin();
  await admin.connect();
  try {
    const configEntries = Object.entries(config).map(([name, value]) => ({ name, value }));
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1, configEntries }], waitForLeaders: true });
    } catch (err) {
      if (!(err instanceof Error) || !err.message.includes('does not host this topic-partition')) throw err;
    }
    await eventually(`topic ${topic} with ${String(partitions)} partition(s) led`, async () => {
      try {
        const meta = await admin.fetchTopicMetadata({ topics: [topic] });
        const parts = meta.topics[0]?.partitions ?? [];
        return parts.length === partitions && parts.every((p) => p.leader >= 0) ? true : undefined;
      } catch {
        return undefined;
      }
    }, 15_000);
  } finally {
    await admin.disconnect();
  }
}

export interface TestMessage {
  key?: string | Buffer | null;
  value: string | Buffer | null;
  partition?: number;
  headers?: Record<string, string>;
}

/** Produces in batches of 1000, acks from the leader. */
export async function produce(topic: string, messages: TestMessage[]): Promise<void> {
  const producer = kafka().producer();
  await producer.connect();
  try {
    for (let i = 0; i < messages.length; i += 1000) {
      await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 1000) });
    }
  } finally {
    await producer.disconnect();
  }
}

/** Every record of `topic` from the beginning, read until `count` arrived (or the timeout). */
export async function readTopic(topic: string, count: number, timeoutMs = 20_000): Promise<kafkajs.KafkaMessage[]> {
  const consumer = kafka().consumer({ groupId: `reader-${String(Date.now())}-${String(Math.random()).slice(2, 8)}` });
  const out: kafkajs.KafkaMessage[] = [];
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      out.push(message);
      await Promise.resolve();
    },
  });
  const deadline = Date.now() + timeoutMs;
  while (out.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  await consumer.disconnect();
  return out;
}

/** A KafkaTrigger object. */
export function kafkaTrigger(ns: string, name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'kubeless.io/v1beta1', kind: 'KafkaTrigger', metadata: { name, namespace: ns }, spec };
}

export const triggersPath = (ns: string): string => `/apis/kubeless.io/v1beta1/namespaces/${ns}/kafkatriggers`;
