/**
 * Assembles the sqs-trigger from the kit: informers (SQSTriggers, Functions, and the functions'
 * Services and EndpointSlices for delivery), the receivers as a runnable on every replica
 * (competing consumers), and the leader-only status controller, for a Manager
 * (`manager.addAll`). Used by main.ts and the tests.
 */
import type { Function as KubelessFunction, IdentityGrants } from '@kubeless/api';
import { Controller, EventRecorder, FunctionScaler, Informer, autoscalesIn, SecretVersions, Supervisor, namespaceWatches, resourceByKind, type KubeClient, type KubeObject, type Parts, type Runnable } from '@kubeless/controller';
import { DEFAULT_ACTIVATION_TIMEOUT_MS, Deliverer, DeliveryClient, MemoryBudget, deliveryMetrics, functionEndpoints, functionReady, memoryBudgetMetrics, type TlsFiles } from '@kubeless/delivery';
import type { Logger, Registry } from '@kubeless/observability';
import { Connections, type AwsCredentials } from './connections.js';
import { planTrigger, type ReceiverSpec } from './plan.js';
import { AttemptLedger } from './runner/attempts.js';
import { TriggerReceiver, type ReceiverState } from './runner/receiver.js';
import { statusReconciler, type SQSTriggerObject } from './reconcile.js';

export interface SqsTriggerOptions {
  client: KubeClient;
  logger: Logger;
  registry?: Registry | undefined;
  watchNamespace?: string | undefined;
  instance?: string | undefined;
  /** The default region (a trigger or its queue URL may say otherwise). */
  region: string;
  /** The default endpoint override (`SQS_ENDPOINT`); a trigger's `endpoint` wins. */
  endpoint?: string | undefined;
  /** Credentials for triggers without a Secret; undefined = the SDK's default provider chain. */
  defaultCredentials?: AwsCredentials | undefined;
  /** The namespaces (and their queues) that may use the controller's AWS identity; every other one brings its own credentialsSecret. */
  grants: IdentityGrants;
  /** EndpointSlice managers trusted beside the endpointslice controller (a mesh's). */
  trustedEndpointManagers?: readonly string[] | undefined;
  /** How often the credentials Secrets in use are re-read, so a rotated one reconnects its receivers (10 s). */
  secretResyncMs?: number | undefined;
  /** `service` (DNS name and port, the default) or `endpointslice` (ready endpoints directly). */
  endpointMode: 'service' | 'endpointslice';
  clusterDomain?: string | undefined;
  /** mTLS to functions: https with these files. */
  deliveryTls?: TlsFiles | undefined;
  maxEventBytes: number;
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
  const opts = { namespace: o.watchNamespace, logger: o.logger };
  const triggers = new Informer<SQSTriggerObject>(o.client, resourceByKind('SQSTrigger', 'kubeless.io'), opts);
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
  const http = new DeliveryClient({ userAgent: `kubeless-sqs-trigger/${o.instance ?? 'local'}`, tls: o.deliveryTls, logger: o.logger });
  const metrics = o.registry ? deliveryMetrics(o.registry) : undefined;
  // A deleted trigger's delivery series leave the scrape with it (issue 24, 7g).
  if (metrics)
    triggers.on('delete', (t) => {
      const ref = { kind: 'sqs', namespace: t.metadata.namespace ?? '', trigger: t.metadata.name ?? '' };
      metrics.forget(ref).catch((err: unknown) => {
        o.logger.warn({ err, ...ref }, 'could not drop the delivery metrics of a deleted trigger');
      });
    });
  const connections = new Connections({ client: o.client, logger: o.logger, maxSockets: o.maxSockets, defaultCredentials: o.defaultCredentials, grants: o.grants });
  const defaults = { region: o.region, endpoint: o.endpoint, grants: o.grants, serviceProblem: endpoints.serviceProblem };
  const secrets = new SecretVersions({ client: o.client, logger: o.logger, intervalMs: o.secretResyncMs });
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
        deliverer: (t) =>
          new Deliverer({
            client: http,
            resolver,
            target: { namespace: spec.namespace, name: t.function },
            delivery: t.delivery,
            maxEventBytes: o.maxEventBytes,
            metrics,
            labels: { kind: 'sqs', namespace: spec.namespace, trigger: spec.trigger },
            activation: t.activates ? { ready: functionReady(functions, resolver, { namespace: spec.namespace, name: t.function }), timeoutMs: DEFAULT_ACTIVATION_TIMEOUT_MS } : undefined,
          }),
        logger: o.logger,
        drainTimeoutMs: o.drainTimeoutMs,
        flushTimeoutMs: o.flushTimeoutMs,
        deleteFlushMs: o.deleteFlushMs,
        ledger,
        budget,
        maxBytes: o.maxTriggerBytes,
      }),
    );
  const desired = (): ReceiverSpec[] => {
    const fns = functions.list();
    return triggers.list().flatMap((t) => {
      const r = planTrigger(t, fns, defaults).receiver;
      if (!r) return [];
      if (r.queue.credentials !== 'secret' || !r.queue.credentialsSecret) return [r];
      // A receiver on a Secret carries its version: a rotated Secret restarts it with the new
      // data. It starts once the first read told the version, so that read does not restart it.
      const secretVersion = secrets.version(r.namespace, r.queue.credentialsSecret);
      return secretVersion === undefined ? [] : [{ ...r, queue: { ...r.queue, secretVersion } }];
    });
  };
  // Runners follow the caches: at once on a change (bursts coalesce), and every syncIntervalMs.
  const supervisor = new Supervisor<ReceiverSpec, ReceiverState, TriggerReceiver>({
    create,
    logger: o.logger,
    retryAfterMs: o.retryAfterMs,
    idleState: { running: false },
    describe: (spec) => ({ queue: spec.queue.queueUrl ?? spec.queue.queueName, functions: spec.targets.map((t) => t.function) }),
    desired,
    sources: [triggers, functions, secrets, ...endpoints.sources],
    syncIntervalMs: o.syncIntervalMs ?? 5000,
  });

  const recorder = new EventRecorder(o.client, { component: 'kubeless-sqs-trigger', instance: o.instance, logger: o.logger });
  const controller = new Controller<SQSTriggerObject>({
    name: 'sqstrigger',
    resource: resourceByKind('SQSTrigger', 'kubeless.io'),
    client: o.client,
    informer: triggers,
    watches: [
      // A function change, or a change of a function's Service or hand-made EndpointSlices, concerns
      // every trigger of its namespace (selectors are evaluated in the plan).
      ...namespaceWatches(triggers, [functions, ...endpoints.sources]),
    ],
    reconcile: statusReconciler({ functions: () => functions.list(), connections, defaults, intervalMs: o.statusIntervalMs, stalled: (key) => supervisor.state(key)?.stalled, scaler: new FunctionScaler({ client: o.client, kind: 'sqstrigger', autoscales: autoscalesIn(triggers) }) }),
    recorder: recorder.record,
    logger: o.logger.child({ controller: 'sqstrigger' }),
    registry: o.registry,
  });

  const receivers: Runnable = {
    name: 'sqs-receivers',
    needLeaderElection: false,
    start: () => {
      secrets.start();
      supervisor.start();
    },
    stop: async () => {
      secrets.stop();
      await supervisor.stop();
      connections.close();
      await http.close();
    },
  };
  return { informers, controllers: [controller], runnables: [receivers], supervisor, budget };
}
