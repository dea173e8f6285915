/**
 * sqs-trigger: its configuration and one runControllerProcess.
 * SQSTriggers -> long-poll receivers on every replica (competing
 * consumers) -> CloudEvents to the functions; the Lease holder writes status.
 */
import { commonShape, deliveryFrom, deliveryShape, env, leaseShape, loadConfig } from '@kubeless/config';
import { runControllerProcess } from '@kubeless/controller';
import { memoryBudgetBytes } from '@kubeless/delivery';
import { buildSqsTrigger } from './assemble.js';

const config = loadConfig({
  ...commonShape,
  /** The default region; a trigger's `region` (or its AWS queue URL) wins. */
  SQS_REGION: env.string().default('us-east-1'),
  /** An endpoint override for every trigger without its own (an SQS-compatible server). */
  SQS_ENDPOINT: env.string().regex(/^https?:\/\/.+/u, 'must be an http(s) URL').optional(),
  /**
   * Which namespaces may use the controller's AWS identity (its env credentials or pod identity),
   * for which queues (JSON, the chart's `tenancy.sharedIdentity`). Empty: none; every trigger then
   * brings its own credentialsSecret.
   */
  SHARED_IDENTITY_GRANTS: env.identityGrants().prefault(''),
  /** How often the credentials Secrets in use are re-read, so a rotated Secret reconnects its receivers. */
  SECRET_RESYNC_INTERVAL: env.duration().prefault('10s'),
  /** Sockets per SQS client: long polls hold one each. */
  SQS_MAX_SOCKETS: env.int(4, 4096).default(256),
  /** The longest a confirmed delivery waits for its DeleteMessageBatch to fill (10 entries). */
  SQS_DELETE_FLUSH_INTERVAL: env.duration().prefault('100ms'),
  ...deliveryShape,
  /**
   * Bytes of messages this process may hold across all its triggers (received, in delivery,
   * waiting for a retry or a delete); receivers stop polling while it is full. Default: 40% (MEMORY_BUDGET_SHARE) of
   * MEMORY_LIMIT_BYTES, else 256 MiB.
   */
  MEMORY_BUDGET_BYTES: env.int(1 << 20, Number.MAX_SAFE_INTEGER).optional(),
  /** The container's memory limit (the chart sets it from the pod's resources.limits.memory). */
  MEMORY_LIMIT_BYTES: env.int(1, Number.MAX_SAFE_INTEGER).optional(),
  /** Bytes of messages one trigger may hold (at most the memory budget). */
  MAX_BYTES_IN_FLIGHT: env.int(1 << 20, Number.MAX_SAFE_INTEGER).default(64 * 1024 * 1024),
  /**
   * How long a stop waits for deliveries in flight. Shorter than the pod's grace period (30 s):
   * the last deletes (up to 3 s), the status controllers and the Lease need the rest.
   */
  DRAIN_TIMEOUT: env.duration().prefault('20s'),
  STATUS_INTERVAL: env.duration().prefault('10s'),
  ...leaseShape('kubeless-sqs-trigger'),
});
const budgetBytes = memoryBudgetBytes(config.MEMORY_BUDGET_BYTES, config.MEMORY_LIMIT_BYTES);
const delivery = deliveryFrom(config);

await runControllerProcess({
  name: 'sqs-trigger',
  config,
  // After the receivers' drain and flush: the status reconciles in flight get what is left of the grace period.
  shutdownTimeoutMs: 4000,
  logFields: { memoryBudgetBytes: budgetBytes },
  // Triggers without a credentials Secret use the SDK's default provider chain (env, IRSA, Pod
  // Identity), if their namespace and queue are granted it (SHARED_IDENTITY_GRANTS). Stopped in
  // the Manager's order: receivers first (long polls end, deliveries drain, deletes flush), then
  // the status controller and the caches.
  assemble: (service) =>
    buildSqsTrigger({
      ...service,
      ...delivery,
      region: config.SQS_REGION,
      endpoint: config.SQS_ENDPOINT,
      grants: config.SHARED_IDENTITY_GRANTS,
      secretResyncMs: config.SECRET_RESYNC_INTERVAL,
      maxSockets: config.SQS_MAX_SOCKETS,
      drainTimeoutMs: config.DRAIN_TIMEOUT,
      flushTimeoutMs: 3000,
      memoryBudgetBytes: budgetBytes,
      maxTriggerBytes: Math.min(config.MAX_BYTES_IN_FLIGHT, budgetBytes),
      deleteFlushMs: config.SQS_DELETE_FLUSH_INTERVAL,
      statusIntervalMs: config.STATUS_INTERVAL,
    }),
});
