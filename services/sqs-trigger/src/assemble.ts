/**
 * Assembles the sqs-trigger from the kit: informers (SQSTriggers, Functions, and the functions'
 * Services and EndpointSlices for delivery), the receivers as a runnable on every replica
 * (competing consumers), and the leader-only status controller, for a Manager
 * (`manager.addAll`). Used by main.ts and the tests.
 */
import type { IdentityGrants } from '@kubeless/api';
import { resourceByKind, type Controller, type Informer, type Parts, type Runnable, type ServiceOptions, type Supervisor } from '@kubeless/controller';
import { EventTrigger, MemoryBudget, memoryBudgetMetrics, type DeliverySettings } from '@kubeless/delivery';
import { Connections, type AwsCredentials } from './connections.js';
import { planTrigger, type ReceiverSpec } from './plan.js';
import { AttemptLedger } from './runner/attempts.js';
import { TriggerReceiver, type ReceiverState } from './runner/receiver.js';
import { statusReconciler, type SQSTriggerObject } from './reconcile.js';

export interface SqsTriggerOptions extends ServiceOptions, DeliverySettings {
  /** The default region (a trigger or its queue URL may say otherwise). */
  region: string;
  /** The default endpoint override (`SQS_ENDPOINT`); a trigger's `endpoint` wins. */
  endpoint?: string | undefined;
  /** Credentials for triggers without a Secret; undefined = the SDK's default provider chain. */
  defaultCredentials?: AwsCredentials | undefined;
  /** The namespaces (and their queues) that may use the controller's AWS identity; every other one brings its own credentialsSecret. */
  grants: IdentityGrants;
  /** How often the credentials Secrets in use are re-read, so a rotated one reconnects its receivers (10 s). */
  secretResyncMs?: number | undefined;
  /** Sockets per SQS client (long polls hold one each). */
  maxSockets?: number | undefined;
  /** How long a stop waits for deliveries in flight (then the last deletes get `flushTimeoutMs`). */
  drainTimeoutMs: number;
  /** How long a stop waits for the last deletes after the drain (default 3 s). */
  flushTimeoutMs?: number | undefined;
  /** The longest a confirmed delivery waits for its delete batch to fill. */
  deleteFlushMs: number;
  /**
   * Bytes of messages the process may hold across all its receivers (received, in delivery,
   * waiting for a retry or a delete); a receiver without room does not poll. Default unbounded.
   */
  memoryBudgetBytes?: number | undefined;
  /** Bytes of messages one trigger may hold (default unbounded: the memory budget alone). */
  maxTriggerBytes?: number | undefined;
  statusIntervalMs: number;
  /** How often receivers are re-synced even without a change (retries failed starts). */
  syncIntervalMs?: number;
  /** How long a receiver that failed to start waits before the next try. */
  retryAfterMs?: number;
}

export interface SqsTriggerParts extends Parts {
  informers: Informer[];
  /** The status writer, run by the leader only. */
  controllers: [Controller<SQSTriggerObject>];
  /**
   * The receivers, on every replica: once the caches synced they follow them (secrets re-read,
   * receivers started, changed, stopped); on stop long polls end, deliveries drain and deletes
   * flush, then the clients close.
   */
  runnables: [Runnable];
  supervisor: Supervisor<ReceiverSpec, ReceiverState, TriggerReceiver>;
  /** The process's memory budget, when one is set (its high-water mark says what was held at most). */
  budget: MemoryBudget | undefined;
}

export function buildSqsTrigger(o: SqsTriggerOptions): SqsTriggerParts {
  const sqs = new EventTrigger<SQSTriggerObject>({ ...o, kind: 'sqs', resource: resourceByKind('SQSTrigger', 'kubeless.io'), userAgent: `kubeless-sqs-trigger/${o.instance ?? 'local'}` });
  const connections = new Connections({ client: o.client, logger: o.logger, maxSockets: o.maxSockets, defaultCredentials: o.defaultCredentials, grants: o.grants });
  const defaults = { region: o.region, endpoint: o.endpoint, grants: o.grants, serviceProblem: sqs.delivery.endpoints.serviceProblem };
  // Shared by every receiver: one memory budget per process, and attempt counts that outlive a receiver's restart.
  const budget = o.memoryBudgetBytes === undefined ? undefined : new MemoryBudget(o.memoryBudgetBytes);
  const ledger = new AttemptLedger();
  if (budget && o.registry) memoryBudgetMetrics(o.registry, budget, 'kubeless_sqs_memory_budget', 'Receivers of this replica waiting for room in the memory budget to poll.');

  const create = (spec: ReceiverSpec): Promise<TriggerReceiver> =>
    Promise.resolve(
      new TriggerReceiver({
        spec,
        connections,
        // Also for the targets a reconfigure adds: the trigger (namespace, name) never changes in place.
        deliverer: (t) => sqs.delivery.deliverer(spec.namespace, spec.trigger, t),
        logger: o.logger,
        drainTimeoutMs: o.drainTimeoutMs,
        flushTimeoutMs: o.flushTimeoutMs,
        deleteFlushMs: o.deleteFlushMs,
        ledger,
        budget,
        maxBytes: o.maxTriggerBytes,
      }),
    );
  const receivers = sqs.runners<ReceiverSpec, ReceiverState, TriggerReceiver>({
    name: 'sqs-receivers',
    plan: (t, fns) => {
      const r = planTrigger(t, fns, defaults).receiver;
      return r ? [r] : [];
    },
    secretOf: (r) => (r.queue.credentials === 'secret' ? r.queue.credentialsSecret : undefined),
    withSecretVersion: (r, secretVersion) => ({ ...r, queue: { ...r.queue, secretVersion } }),
    create,
    retryAfterMs: o.retryAfterMs,
    idleState: { running: false },
    describe: (spec) => ({ queue: spec.queue.queueUrl ?? spec.queue.queueName, functions: spec.targets.map((t) => t.function) }),
    close: () => {
      connections.close();
    },
  });
  const controller = sqs.statusController({
    reconcile: statusReconciler({
      functions: sqs.functions,
      connections,
      defaults,
      intervalMs: o.statusIntervalMs,
      stalled: (key) => receivers.supervisor.state(key)?.stalled,
      scaler: sqs.scaler,
    }),
  });
  return { informers: sqs.informers, controllers: [controller], runnables: [receivers.runnable], supervisor: receivers.supervisor, budget };
}
