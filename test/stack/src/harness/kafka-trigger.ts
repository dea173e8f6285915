/**
 * Test support for the kafka-trigger against the real stack (shared by its own tests, test/chaos
 * and test/e2e; the recording functions are in recorder.ts): the controller in-process or as a child process, and
 * Kafka helpers (topics, producing, reading a dead-letter topic).
 */
import type { ChildProcess } from 'node:child_process';
import { parseIdentityGrants } from '@kubeless/api';
import { KubeClient } from '@kubeless/controller';
import type { Registry } from '@kubeless/observability';
import { TEST_ENDPOINT_MANAGER, spawnController as spawnStackController, stackIdentityGrants } from '../controllers.js';
import { eventually, stackEnv } from '../testing.js';
import { startInProcess } from './in-process.js';
import kafkajs from 'kafkajs';
import { buildKafkaTrigger, mendKafkajsIdleLoop, type KafkaTriggerOptions } from '@kubeless/kafka-trigger';

const { Kafka, logLevel } = kafkajs;

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
    // Short long polls: tests restart consumers often and a stop waits for the fetch in flight.
    fetchMaxWaitMs: 1000,
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

/** An in-process kafka-trigger watching `namespace` (startInProcess). */
export function startController(namespace: string, overrides: Partial<KafkaTriggerOptions> = {}): Promise<RunningController> {
  return startInProcess('kafka-trigger', (ctx) => buildKafkaTrigger({ ...ctx, ...testOptions(namespace), ...overrides }));
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

/** A kafkajs client of the tests' own, on the same mended kafkajs as the trigger (no 1 ms idle loop per connection). */
export function kafka(): InstanceType<typeof Kafka> {
  mendKafkajsIdleLoop();
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
