/**
 * Assembles the kafka-trigger from the kit: informers (KafkaTriggers, Functions, and the
 * functions' Services and EndpointSlices for delivery), the consumers as a runnable on every
 * replica, and the leader-only status controller, for a Manager (`manager.addAll`). Used by
 * main.ts and by the integration tests.
 */
import type { Function as KubelessFunction, IdentityGrants } from '@kubeless/api';
import { Controller, EventRecorder, FunctionScaler, Informer, autoscalesIn, SecretVersions, Supervisor, namespaceWatches, resourceByKind, type KubeClient, type KubeObject, type Parts, type Runnable } from '@kubeless/controller';
import { DEFAULT_ACTIVATION_TIMEOUT_MS, DEFAULT_MEMORY_BUDGET_BYTES, Deliverer, DeliveryClient, MemoryBudget, deliveryMetrics, functionEndpoints, functionReady, memoryBudgetMetrics, type TlsFiles } from '@kubeless/delivery';
import { Counter, Gauge, type Logger, type Registry } from '@kubeless/observability';
import { Connections } from './connections.js';
import type { KafkaAuth } from './kafka.js';
import { planTrigger, type ConsumerSpec } from './plan.js';
import { TriggerConsumer, type ConsumerState } from './runner/consumer.js';
import { kafkajsDeadLetterSink } from './runner/kafkajs.js';
import { statusReconciler, type KafkaTriggerObject } from './reconcile.js';

export interface KafkaTriggerOptions {
  client: KubeClient;
  logger: Logger;
  registry?: Registry | undefined;
  watchNamespace?: string | undefined;
  instance?: string | undefined;
  /** The controller's brokers and auth (a trigger may name its own). */
  brokers: string[];
  auth: KafkaAuth;
  /** The namespaces (and their topics) that may use `brokers` with `auth`; every other one brings its own authSecret. */
  grants: IdentityGrants;
  /** EndpointSlice managers trusted beside the endpointslice controller (a mesh's). */
  trustedEndpointManagers?: readonly string[] | undefined;
  /** How often the auth Secrets in use are re-read, so a rotated one reconnects its consumers (10 s). */
  secretResyncMs?: number | undefined;
  clientId: string;
  /** `service` (DNS name and port, the default) or `endpointslice` (ready endpoints directly). */
  endpointMode: 'service' | 'endpointslice';
  clusterDomain?: string | undefined;
  /** mTLS to functions: https with these files. */
  deliveryTls?: TlsFiles | undefined;
  maxEventBytes: number;
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
  const opts = { namespace: o.watchNamespace, logger: o.logger };
  const triggers = new Informer<KafkaTriggerObject>(o.client, resourceByKind('KafkaTrigger', 'kubeless.io'), opts);
  const functions = new Informer<KubelessFunction & KubeObject>(o.client, resourceByKind('Function', 'kubeless.io'), opts);
  const endpoints = functionEndpoints({
    client: o.client,
    logger: o.logger,
    watchNamespace: o.watchNamespace,
    endpointMode: o.endpointMode,
    tls: o.deliveryTls !== undefined,
    clusterDomain: o.clusterDomain,
    trustedEndpointManagers: o.trustedEndpointManagers,
  });
  const resolver = endpoints.resolver;
  const informers: Informer[] = [triggers, functions, ...endpoints.informers];
  const http = new DeliveryClient({ userAgent: `kubeless-kafka-trigger/${o.clientId}`, tls: o.deliveryTls, logger: o.logger });
  const metrics = o.registry ? deliveryMetrics(o.registry) : undefined;
  // A deleted trigger's delivery series leave the scrape with it (issue 24, 7g).
  if (metrics)
    triggers.on('delete', (t) => {
      const ref = { kind: 'kafka', namespace: t.metadata.namespace ?? '', trigger: t.metadata.name ?? '' };
      metrics.forget(ref).catch((err: unknown) => {
        o.logger.warn({ err, ...ref }, 'could not drop the delivery metrics of a deleted trigger');
      });
    });
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
  const defaults = { brokers: o.brokers, grants: o.grants, serviceProblem: endpoints.serviceProblem };
  const secrets = new SecretVersions({ client: o.client, logger: o.logger, intervalMs: o.secretResyncMs });

  const create = async (spec: ConsumerSpec): Promise<TriggerConsumer> => {
    const conn = await connections.get(spec.namespace, spec.connection);
    const deliverer = new Deliverer({
      client: http,
      resolver,
      target: { namespace: spec.namespace, name: spec.function },
      delivery: spec.delivery,
      maxEventBytes: o.maxEventBytes,
      metrics,
      labels: { kind: 'kafka', namespace: spec.namespace, trigger: spec.trigger },
      activation: spec.activates ? { ready: functionReady(functions, resolver, { namespace: spec.namespace, name: spec.function }), timeoutMs: DEFAULT_ACTIVATION_TIMEOUT_MS } : undefined,
    });
    return new TriggerConsumer({
      spec,
      port: conn.port,
      deadLetter: kafkajsDeadLetterSink(conn.producer),
      deliverer,
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
  const desired = (): ConsumerSpec[] => {
    const fns = functions.list();
    return triggers.list().flatMap((t) =>
      planTrigger(t, fns, defaults).consumers.flatMap((c) => {
        if (c.connection.credentials !== 'secret' || !c.connection.authSecret) return [c];
        // A consumer on a Secret carries its version: a rotated Secret restarts it with the new
        // data. It starts once the first read told the version (milliseconds), not before, so
        // that first read does not restart it.
        const secretVersion = secrets.version(c.namespace, c.connection.authSecret);
        return secretVersion === undefined ? [] : [{ ...c, connection: { ...c.connection, secretVersion } }];
      }),
    );
  };
  // Runners follow the caches: at once on a change (bursts coalesce), and every syncIntervalMs.
  const supervisor = new Supervisor<ConsumerSpec, ConsumerState, TriggerConsumer>({
    create,
    logger: o.logger,
    idleState: { running: false, joined: false },
    describe: (spec) => ({ topics: spec.topics, groupId: spec.groupId }),
    desired,
    sources: [triggers, functions, secrets, ...endpoints.sources],
    syncIntervalMs: o.syncIntervalMs ?? 5000,
  });

  const recorder = new EventRecorder(o.client, { component: 'kubeless-kafka-trigger', instance: o.instance, logger: o.logger });
  const controller = new Controller<KafkaTriggerObject>({
    name: 'kafkatrigger',
    resource: resourceByKind('KafkaTrigger', 'kubeless.io'),
    client: o.client,
    informer: triggers,
    watches: [
      // A function change, or a change of a function's Service or hand-made EndpointSlices, concerns
      // every trigger of its namespace (selectors are evaluated in the plan).
      ...namespaceWatches(triggers, [functions, ...endpoints.sources]),
    ],
    reconcile: statusReconciler({
      functions: () => functions.list(),
      connections,
      defaults,
      intervalMs: o.statusIntervalMs,
      // Only a consumer that could not start counts as failed: kafkajs retries transient errors
      // (a coordinator loading, a broker restarting) by itself, and those show as Joining.
      consumerError: (key) => supervisor.state(key)?.error,
      scaler: new FunctionScaler({ client: o.client, kind: 'kafkatrigger', autoscales: autoscalesIn(triggers) }),
    }),
    recorder: recorder.record,
    logger: o.logger.child({ controller: 'kafkatrigger' }),
    registry: o.registry,
    // status.lag moves with every message: our own status writes must not re-queue the trigger.
    ignoreStatusOnlyUpdates: true,
  });

  const consumers: Runnable = {
    name: 'kafka-consumers',
    needLeaderElection: false,
    start: () => {
      secrets.start();
      supervisor.start();
    },
    stop: async () => {
      secrets.stop();
      await supervisor.stop();
      await connections.close();
      await http.close();
    },
  };
  return { informers, controllers: [controller], runnables: [consumers], supervisor, budget };
}
