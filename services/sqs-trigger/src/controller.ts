/**
 * Assembles the sqs-trigger from the kit: informers (SQSTriggers, Functions, and the functions'
 * Services and EndpointSlices for delivery), the receiver supervisor that runs on every replica
 * (competing consumers), and the leader-only status controller. Used by main.ts and the tests.
 */
import type { Function as KubelessFunction } from '@kubeless/api';
import { Controller, EventRecorder, Informer, Supervisor, SupervisorSync, resourceByKind, type KubeClient, type KubeObject } from '@kubeless/controller';
import { Deliverer, DeliveryClient, deliveryMetrics, functionEndpoints, type TlsFiles } from '@kubeless/delivery';
import type { Logger, Registry } from '@kubeless/observability';
import { Connections, type AwsCredentials } from './connections.js';
import { planTrigger, type ReceiverSpec } from './plan.js';
import { TriggerReceiver, type ReceiverState } from './runner/receiver.js';
import { statusReconciler, type SQSTriggerObject } from './status.js';

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
  /** `service` (DNS name and port, the default) or `endpointslice` (ready endpoints directly). */
  endpointMode: 'service' | 'endpointslice';
  clusterDomain?: string | undefined;
  /** mTLS to functions: https with these files. */
  deliveryTls?: TlsFiles | undefined;
  maxEventBytes: number;
  /** Sockets per SQS client (long polls hold one each). */
  maxSockets?: number | undefined;
  drainTimeoutMs: number;
  /** The longest a confirmed delivery waits for its delete batch to fill. */
  deleteFlushMs: number;
  statusIntervalMs: number;
  /** How often receivers are re-synced even without a change (retries failed starts). */
  syncIntervalMs?: number;
  /** How long a receiver that failed to start waits before the next try. */
  retryAfterMs?: number;
}

export interface SqsTriggerParts {
  informers: Informer[];
  /** Status writer: run by the leader only. */
  controller: Controller<SQSTriggerObject>;
  supervisor: Supervisor<ReceiverSpec, ReceiverState, TriggerReceiver>;
  /** Starts keeping receivers in step with the caches (every replica). Call after the caches synced. */
  startReceivers: () => void;
  /** Stops the receivers gracefully, then the clients. */
  stop: () => Promise<void>;
}

export function buildSqsTrigger(o: SqsTriggerOptions): SqsTriggerParts {
  const opts = { namespace: o.watchNamespace, logger: o.logger };
  const triggers = new Informer<SQSTriggerObject>(o.client, resourceByKind('SQSTrigger', 'kubeless.io'), opts);
  const functions = new Informer<KubelessFunction & KubeObject>(o.client, resourceByKind('Function', 'kubeless.io'), opts);
  const endpoints = functionEndpoints({ client: o.client, logger: o.logger, watchNamespace: o.watchNamespace, endpointMode: o.endpointMode, tls: o.deliveryTls !== undefined, clusterDomain: o.clusterDomain });
  const resolver = endpoints.resolver;
  const informers: Informer[] = [triggers, functions, ...endpoints.informers];
  const http = new DeliveryClient({ userAgent: `kubeless-sqs-trigger/${o.instance ?? 'local'}`, tls: o.deliveryTls, logger: o.logger });
  const metrics = o.registry ? deliveryMetrics(o.registry) : undefined;
  const connections = new Connections({ client: o.client, logger: o.logger, maxSockets: o.maxSockets, defaultCredentials: o.defaultCredentials });
  const defaults = { region: o.region, endpoint: o.endpoint };

  const create = (spec: ReceiverSpec): Promise<TriggerReceiver> => {
    const deliverers = spec.targets.map(
      (t) =>
        new Deliverer({
          client: http,
          resolver,
          target: { namespace: spec.namespace, name: t.function },
          delivery: t.delivery,
          maxEventBytes: o.maxEventBytes,
          metrics,
          labels: { kind: 'sqs', namespace: spec.namespace, trigger: spec.trigger },
        }),
    );
    return Promise.resolve(new TriggerReceiver({ spec, connections, deliverers, logger: o.logger, drainTimeoutMs: o.drainTimeoutMs, deleteFlushMs: o.deleteFlushMs }));
  };
  const supervisor = new Supervisor<ReceiverSpec, ReceiverState, TriggerReceiver>({
    create,
    logger: o.logger,
    retryAfterMs: o.retryAfterMs,
    idleState: { running: false },
    describe: (spec) => ({ queue: spec.queue.queueUrl ?? spec.queue.queueName, functions: spec.targets.map((t) => t.function) }),
  });

  const desired = (): ReceiverSpec[] => {
    const fns = functions.list();
    return triggers.list().flatMap((t) => planTrigger(t, fns, defaults).receiver ?? []);
  };
  // Runners follow the caches: at once on a change (bursts coalesce), and every syncIntervalMs.
  const following = new SupervisorSync({ supervisor, desired, sources: [triggers, functions], intervalMs: o.syncIntervalMs ?? 5000 });

  const recorder = new EventRecorder(o.client, { component: 'kubeless-sqs-trigger', instance: o.instance, logger: o.logger });
  const controller = new Controller<SQSTriggerObject>({
    name: 'sqstrigger',
    resource: resourceByKind('SQSTrigger', 'kubeless.io'),
    client: o.client,
    informer: triggers,
    watches: [
      {
        informer: functions,
        // A function change concerns every trigger of its namespace (selectors are evaluated in the plan).
        map: (f) => triggers.list().filter((t) => t.metadata.namespace === f.metadata?.namespace).map((t) => `${t.metadata.namespace ?? ''}/${t.metadata.name ?? ''}`),
      },
    ],
    reconcile: statusReconciler({ functions: () => functions.list(), connections, defaults, intervalMs: o.statusIntervalMs, stalled: (key) => supervisor.states().get(key)?.stalled }),
    recorder: recorder.record,
    logger: o.logger.child({ controller: 'sqstrigger' }),
    registry: o.registry,
  });

  return {
    informers,
    controller,
    supervisor,
    startReceivers: () => {
      // Idempotent: a second call leaves no second resync timer behind.
      following.start();
    },
    stop: async () => {
      following.stop();
      await supervisor.stopAll();
      connections.close();
      await http.close();
    },
  };
}
