/**
 * kafka-trigger: its configuration and one runControllerProcess.
 * KafkaTriggers -> one consumer group per (trigger, function)
 * on every replica -> CloudEvents to the functions; the Lease holder writes status.
 */
import { commonShape, deliveryFrom, deliveryShape, env, leaseShape, loadConfig } from '@kubeless/config';
import { runControllerProcess } from '@kubeless/controller';
import { memoryBudgetBytes } from '@kubeless/delivery';
import { buildKafkaTrigger } from './assemble.js';
import { authFromEnv } from './kafka.js';

const config = loadConfig({
  ...commonShape,
  /** Default bootstrap brokers (a trigger may name its own), as the original: `KAFKA_BROKERS`. */
  KAFKA_BROKERS: env.list().default(['kafka.kubeless:9092']),
  KAFKA_CLIENT_ID: env.string().default('kubeless-kafka-trigger'),
  KAFKA_ENABLE_TLS: env.bool().default(false),
  KAFKA_CACERTS: env.string().optional(),
  KAFKA_CERT: env.string().optional(),
  KAFKA_KEY: env.string().optional(),
  KAFKA_INSECURE: env.bool().default(false),
  KAFKA_ENABLE_SASL: env.bool().default(false),
  KAFKA_SASL_MECHANISM: env.enum(['plain', 'scram-sha-256', 'scram-sha-512']).default('plain'),
  KAFKA_USERNAME: env.string().optional(),
  KAFKA_PASSWORD: env.string().optional(),
  /**
   * Which namespaces may use the brokers and credentials above, and for which topics (JSON, the
   * chart's `tenancy.sharedIdentity`). Empty: none; every trigger then brings its own authSecret.
   */
  SHARED_IDENTITY_GRANTS: env.identityGrants().prefault(''),
  /** How often the auth Secrets in use are re-read, so a rotated Secret reconnects its consumers. */
  SECRET_RESYNC_INTERVAL: env.duration().prefault('10s'),
  /** A mounted Secret with the broker credentials, same keys as a trigger's authSecret (sasl.mechanism, username, password, ca.crt, tls.crt, tls.key, tls). */
  KAFKA_AUTH_DIR: env.string().optional(),
  KAFKA_SESSION_TIMEOUT: env.duration().prefault('30s'),
  /**
   * kafkajs heartbeats between fetches: above the 5 s long poll, an idle consumer heartbeats every
   * other fetch (a third of the idle requests of 1,000 triggers went to heartbeats at 3 s); a fifth
   * of the session timeout, so a rebalance is still seen within 10 s.
   */
  KAFKA_HEARTBEAT_INTERVAL: env.duration().prefault('6s'),
  KAFKA_REBALANCE_TIMEOUT: env.duration().prefault('60s'),
  KAFKA_PARTITIONS_CONCURRENCY: env.int(1, 1024).default(16),
  /** How long an idle fetch waits at the broker: each consumer's idle cost is one fetch per wait (held under a third of the session timeout). */
  KAFKA_FETCH_MAX_WAIT: env.duration().prefault('5s'),
  KAFKA_MAX_FETCH_BYTES: env.int(1024, 1 << 30).default(4 * 1024 * 1024),
  /** The most one fetch asks of one partition: each fetch on the wire holds this much of MEMORY_BUDGET_BYTES per partition. */
  KAFKA_MAX_FETCH_BYTES_PER_PARTITION: env.int(1024, 1 << 30).default(256 * 1024),
  ...deliveryShape,
  MAX_BYTES_IN_FLIGHT: env.int(1024, 2 ** 31).default(64 * 1024 * 1024),
  /**
   * Bytes of messages all consumers of this process may hold at once (fetches on the wire, batches
   * being delivered or waiting for a retry); over it, consumers pause fetching and take turns.
   * Unset: 40% (MEMORY_BUDGET_SHARE) of MEMORY_LIMIT_BYTES (the container's memory limit, which the chart passes through
   * the downward API), else 256 MiB.
   */
  MEMORY_BUDGET_BYTES: env.int(1024 * 1024, Number.MAX_SAFE_INTEGER).optional(),
  MEMORY_LIMIT_BYTES: env.int(1, Number.MAX_SAFE_INTEGER).optional(),
  /** Under the pod's terminationGracePeriodSeconds (30 s by default), so commits and the group leave still happen. */
  DRAIN_TIMEOUT: env.duration().prefault('20s'),
  STATUS_INTERVAL: env.duration().prefault('10s'),
  ...leaseShape('kubeless-kafka-trigger'),
});
const delivery = deliveryFrom(config);

await runControllerProcess({
  name: 'kafka-trigger',
  config,
  shutdownTimeoutMs: config.DRAIN_TIMEOUT,
  // Stopped in the Manager's order: consumers first (drain, commit, leave the groups), then the
  // status controller and the caches.
  assemble: (service) =>
    buildKafkaTrigger({
      ...service,
      ...delivery,
      brokers: config.KAFKA_BROKERS,
      auth: authFromEnv(config),
      grants: config.SHARED_IDENTITY_GRANTS,
      secretResyncMs: config.SECRET_RESYNC_INTERVAL,
      clientId: config.KAFKA_CLIENT_ID,
      maxBytesInFlight: config.MAX_BYTES_IN_FLIGHT,
      sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT,
      heartbeatIntervalMs: config.KAFKA_HEARTBEAT_INTERVAL,
      rebalanceTimeoutMs: config.KAFKA_REBALANCE_TIMEOUT,
      partitionsConcurrency: config.KAFKA_PARTITIONS_CONCURRENCY,
      fetchMaxWaitMs: config.KAFKA_FETCH_MAX_WAIT,
      maxFetchBytesPerPartition: config.KAFKA_MAX_FETCH_BYTES_PER_PARTITION,
      maxFetchBytes: config.KAFKA_MAX_FETCH_BYTES,
      memoryBudgetBytes: memoryBudgetBytes(config.MEMORY_BUDGET_BYTES, config.MEMORY_LIMIT_BYTES),
      drainTimeoutMs: config.DRAIN_TIMEOUT,
      statusIntervalMs: config.STATUS_INTERVAL,
    }),
});
