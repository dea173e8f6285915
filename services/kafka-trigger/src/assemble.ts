/**
 * Assembles the kafka-trigger from the kit: informers (KafkaTriggers, Functions, and the
 * functions' Services and EndpointSlices for delivery), the consumers as a runnable on every
 * replica, and the leader-only status controller, for a Manager (`manager.addAll`). Used by
 * main.ts and by the integration tests.
 */
import type { IdentityGrants } from '@kubeless/api';
import { resourceByKind, type Controller, type Informer, type Parts, type Runnable, type ServiceOptions, type Supervisor } from '@kubeless/controller';
import { DEFAULT_MEMORY_BUDGET_BYTES, EventTrigger, MemoryBudget, memoryBudgetMetrics, type DeliverySettings } from '@kubeless/delivery';
import { Counter, Gauge } from '@kubeless/observability';
import { Connections } from './connections.js';
import type { KafkaAuth } from './kafka.js';
import { planTrigger, type ConsumerSpec } from './plan.js';
import { TriggerConsumer, type ConsumerState } from './runner/consumer.js';
import { kafkajsDeadLetterSink } from './runner/kafkajs.js';
import { statusReconciler, type KafkaTriggerObject } from './reconcile.js';

export interface KafkaTriggerOptions extends ServiceOptions, DeliverySettings {
  /** The controller's brokers and auth (a trigger may name its own). */
  brokers: string[];
  auth: KafkaAuth;
  /** The namespaces (and their topics) that may use `brokers` with `auth`; every other one brings its own authSecret. */
  grants: IdentityGrants;
  /** How often the auth Secrets in use are re-read, so a rotated one reconnects its consumers (10 s). */
  secretResyncMs?: number | undefined;
  clientId: string;
  maxBytesInFlight: number;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
  partitionsConcurrency: number;
  /**
   * The most one fetch asks of a partition (default 256 KiB; Kafka still returns a larger first
   * batch). Each fetch on the wire holds this much of the memory budget per partition, so with
   * 1,000 idle consumers on one replica, 1 MiB made three quarters of them wait their turn to fetch.
   */
  maxFetchBytesPerPartition?: number | undefined;
  /** How long an idle fetch waits at the broker (see the runner's ConsumerOptions). Default 5 s. */
  fetchMaxWaitMs?: number | undefined;
  maxFetchBytes: number;
  /**
   * Bytes of messages all consumers of this process may hold at once (fetched batches, deliveries
   * in flight, messages waiting for a retry): a fetch goes out only when its bound fits. 256 MiB.
   */
  memoryBudgetBytes?: number | undefined;
  drainTimeoutMs: number;
  statusIntervalMs: number;
  /** How often consumers are re-synced even without a change (retries failed starts). */
  syncIntervalMs?: number;
}

export interface KafkaTriggerParts extends Parts {
  informers: Informer[];
  /** The status writer, run by the leader only. */
  controllers: [Controller<KafkaTriggerObject>];
  /**
   * The consumers, on every replica: once the caches synced they follow them (secrets re-read,
   * consumers started, changed, stopped); on stop they drain, commit and leave their groups, then
   * the clients close.
   */
  runnables: [Runnable];
  supervisor: Supervisor<ConsumerSpec, ConsumerState, TriggerConsumer>;
  /** The process's memory budget, shared by its consumers. */
  budget: MemoryBudget;
}

export function buildKafkaTrigger(o: KafkaTriggerOptions): KafkaTriggerParts {
  const kafka = new EventTrigger<KafkaTriggerObject>({ ...o, kind: 'kafka', resource: resourceByKind('KafkaTrigger', 'kubeless.io'), userAgent: `kubeless-kafka-trigger/${o.clientId}` });
  // Read at each scrape from the running consumers: a partition that moved to another replica, or
  // a stopped consumer (deleted trigger, changed topic), no longer shows its last value.
  const lagSources = new Set<TriggerConsumer>();
  if (o.registry) {
    new Gauge({
      name: 'kubeless_kafka_consumer_lag',
      help: 'Messages behind the high watermark, per partition this replica consumes (after its last batch).',
      labelNames: ['namespace', 'trigger', 'function', 'topic', 'partition'] as const,
      registers: [o.registry],
      collect() {
        this.reset();
        for (const c of lagSources) for (const l of c.lag()) this.set(l.labels, l.value);
      },
    });
  }
  const budget = new MemoryBudget(o.memoryBudgetBytes ?? DEFAULT_MEMORY_BUDGET_BYTES);
  if (o.registry) memoryBudgetMetrics(o.registry, budget, 'kubeless_kafka_memory_budget', 'Consumers of this replica waiting for room in the memory budget to fetch (their partitions are paused).');
  const commitCounter = o.registry
    ? new Counter({ name: 'kubeless_kafka_offset_commits_total', help: 'Offset commits this replica made (each frees the commit-window room of the deliveries it covers).', labelNames: ['namespace', 'trigger', 'function'] as const, registers: [o.registry] })
    : undefined;
  // The status reads every trigger of a connection shares are kept half a status interval (at most 2 s).
  const connections = new Connections({ client: o.client, defaultAuth: o.auth, logger: o.logger, clientId: o.clientId, statusCacheMs: Math.min(2000, o.statusIntervalMs / 2) });
  const defaults = { brokers: o.brokers, grants: o.grants, serviceProblem: kafka.delivery.endpoints.serviceProblem };

  const create = async (spec: ConsumerSpec): Promise<TriggerConsumer> => {
    const conn = await connections.get(spec.namespace, spec.connection);
    return new TriggerConsumer({
      spec,
      port: conn.port,
      deadLetter: kafkajsDeadLetterSink(conn.producer),
      deliverer: kafka.delivery.deliverer(spec.namespace, spec.trigger, spec),
      logger: o.logger,
      maxBytesInFlight: o.maxBytesInFlight,
      sessionTimeoutMs: o.sessionTimeoutMs,
      heartbeatIntervalMs: o.heartbeatIntervalMs,
      rebalanceTimeoutMs: o.rebalanceTimeoutMs,
      partitionsConcurrency: o.partitionsConcurrency,
      fetchMaxWaitMs: o.fetchMaxWaitMs,
      maxFetchBytes: o.maxFetchBytes,
      maxFetchBytesPerPartition: Math.min(o.maxFetchBytes, o.maxFetchBytesPerPartition ?? 256 * 1024),
      drainTimeoutMs: o.drainTimeoutMs,
      lagSources,
      commitCounter,
      budget,
    });
  };
  const consumers = kafka.runners<ConsumerSpec, ConsumerState, TriggerConsumer>({
    name: 'kafka-consumers',
    plan: (t, fns) => planTrigger(t, fns, defaults).consumers,
    secretOf: (c) => (c.connection.credentials === 'secret' ? c.connection.authSecret : undefined),
    withSecretVersion: (c, secretVersion) => ({ ...c, connection: { ...c.connection, secretVersion } }),
    create,
    idleState: { running: false, joined: false },
    describe: (spec) => ({ topics: spec.topics, groupId: spec.groupId }),
    close: () => connections.close(),
  });
  const controller = kafka.statusController({
    reconcile: statusReconciler({
      functions: kafka.functions,
      connections,
      defaults,
      intervalMs: o.statusIntervalMs,
      // Only a consumer that could not start counts as failed: kafkajs retries transient errors
      // (a coordinator loading, a broker restarting) by itself, and those show as Joining.
      consumerError: (key) => consumers.supervisor.state(key)?.error,
      scaler: kafka.scaler,
    }),
    // status.lag moves with every message: our own status writes must not re-queue the trigger.
    ignoreStatusOnlyUpdates: true,
  });
  return { informers: kafka.informers, controllers: [controller], runnables: [consumers.runnable], supervisor: consumers.supervisor, budget };
}
