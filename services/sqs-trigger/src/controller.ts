/**
 * Assembles the sqs-trigger from the kit: informers (SQSTriggers, Functions, and the functions'
 * Services and EndpointSlices for delivery), the receiver supervisor that runs on every replica
 * (competing consumers), and the leader-only status controller. Used by main.ts and the tests.
 */
import type { Function as KubelessFunction } from '@kubeless/api';
import { Controller, EventRecorder, Informer, Supervisor, resourceByKind, type KubeClient, type KubeObject } from '@kubeless/controller';
import {
  Deliverer,
  DeliveryClient,
  EndpointSliceResolver,
  ServiceDnsResolver,
  deliveryMetrics,
  type EndpointResolver,
  type TlsFiles,
} from '@kubeless/delivery';
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
  const owned = { ...opts, labelSelector: 'created-by=kubeless' };
  const triggers = new Informer<SQSTriggerObject>(o.client, resourceByKind('SQSTrigger', 'kubeless.io'), opts);
  const functions = new Informer<KubelessFunction & KubeObject>(o.client, resourceByKind('Function', 'kubeless.io'), opts);
  const services = new Informer(o.client, resourceByKind('Service'), owned);
  const informers: Informer[] = [triggers, functions, services];
  const scheme = o.deliveryTls ? 'https' : 'http';
  let resolver: EndpointResolver;
  if (o.endpointMode === 'endpointslice') {
    const slices = new Informer(o.client, resourceByKind('EndpointSlice', 'discovery.k8s.io'), owned);
    informers.push(slices);
    resolver = new EndpointSliceResolver(services, slices, { scheme });
  } else {
    resolver = new ServiceDnsResolver(services, { scheme, clusterDomain: o.clusterDomain });
  }
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
  let timer: NodeJS.Timeout | undefined;
  let interval: NodeJS.Timeout | undefined;
  let started = false;
  const schedule = (): void => {
    if (!started || timer) return;
    // Coalesce bursts of events into one sync.
    timer = setTimeout(() => {
      timer = undefined;
      supervisor.sync(desired());
    }, 50);
  };
  for (const inf of [triggers, functions as unknown as Informer]) {
    inf.on('add', schedule);
    inf.on('update', schedule);
    inf.on('delete', schedule);
  }

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
      // Idempotent: a second call must not leave a second resync timer behind.
      if (started) return;
      started = true;
      supervisor.sync(desired());
      interval = setInterval(() => {
        supervisor.sync(desired());
      }, o.syncIntervalMs ?? 5000);
      interval.unref();
    },
    stop: async () => {
      started = false;
      clearTimeout(timer);
      clearInterval(interval);
      await supervisor.stopAll();
      connections.close();
      await http.close();
    },
  };
}
