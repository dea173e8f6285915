/**
 * Assembles the cronjob-trigger from the kit: informers (CronJobTriggers, Functions, and the
 * functions' Services and EndpointSlices for delivery) and the scheduler as a leader-only
 * runnable, for a Manager (`manager.addAll`). Used by main.ts and the tests. The trigger holds no credential of any kind: it only calls the function its
 * `function-name` names in its own namespace, through the delivery library's resolver, which
 * refuses a Service that routes out of the namespace (tenancy.ts).
 */
import type { Function as KubelessFunction } from '@kubeless/api';
import { EventRecorder, Informer, resourceByKind, type KubeClient, type KubeObject, type Parts, type Runnable } from '@kubeless/controller';
import { DeliveryClient, deliveryMetrics, functionEndpoints, type TlsFiles } from '@kubeless/delivery';
import type { Logger, Registry } from '@kubeless/observability';
import { cronMetrics } from './metrics.js';
import { CRONJOB_TRIGGER_RESOURCE, Scheduler, type CronJobTriggerObject } from './scheduler.js';

export interface CronjobTriggerOptions {
  client: KubeClient;
  logger: Logger;
  registry?: Registry | undefined;
  watchNamespace?: string | undefined;
  instance?: string | undefined;
  /** `service` (DNS name and port, the default) or `endpointslice` (ready endpoints directly). */
  endpointMode: 'service' | 'endpointslice';
  clusterDomain?: string | undefined;
  /** EndpointSlice managers trusted beside the endpointslice controller (a mesh's). */
  trustedEndpointManagers?: readonly string[] | undefined;
  /** mTLS to functions: https with these files. */
  deliveryTls?: TlsFiles | undefined;
  maxEventBytes: number;
  /** Plans every trigger at least this often. Default 30 s. */
  resyncMs?: number | undefined;
  /** How long a stop waits for attempts in flight before it leaves them to the next leader. Default 20 s. */
  drainTimeoutMs?: number | undefined;
  clock?: () => Date;
}

export interface CronjobTriggerParts extends Parts {
  informers: Informer[];
  /**
   * The scheduler, run by the leader only: started on taking the Lease, aborted on losing it (no
   * write after the renew deadline), drained on stop (then the delivery client closes).
   */
  runnables: [Runnable];
  scheduler: Scheduler;
}

export function buildCronjobTrigger(o: CronjobTriggerOptions): CronjobTriggerParts {
  const opts = { namespace: o.watchNamespace, logger: o.logger };
  const triggers = new Informer<CronJobTriggerObject>(o.client, CRONJOB_TRIGGER_RESOURCE, opts);
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
  const http = new DeliveryClient({ userAgent: `kubeless-cronjob-trigger/${o.instance ?? 'local'}`, tls: o.deliveryTls, logger: o.logger });
  const recorder = new EventRecorder(o.client, { component: 'kubeless-cronjob-trigger', instance: o.instance, logger: o.logger });
  const scheduler = new Scheduler({
    client: o.client,
    triggers,
    functions,
    resolver: endpoints.resolver,
    serviceProblem: endpoints.serviceProblem,
    http,
    deliveryMetrics: o.registry ? deliveryMetrics(o.registry) : undefined,
    metrics: o.registry ? cronMetrics(o.registry) : undefined,
    recorder: recorder.record,
    logger: o.logger.child({ controller: 'cronjobtrigger' }),
    maxEventBytes: o.maxEventBytes,
    resyncMs: o.resyncMs,
    clock: o.clock,
  });
  // A change of a function's Service or of a hand-made EndpointSlice concerns the triggers of its namespace.
  for (const source of endpoints.sources) {
    for (const e of ['add', 'update', 'delete'] as const) {
      source.on(e, (obj) => {
        const ns = obj.metadata?.namespace ?? '';
        for (const t of triggers.list(ns)) scheduler.enqueue(`${ns}/${t.metadata.name ?? ''}`);
      });
    }
  }
  const leading: Runnable = {
    name: 'cronjob-scheduler',
    needLeaderElection: true,
    start: () => {
      scheduler.start();
    },
    stop: async () => {
      await scheduler.stop(o.drainTimeoutMs ?? 20_000);
      await http.close();
    },
    abort: () => {
      scheduler.abortAll();
    },
  };
  return { informers: [triggers, functions, ...endpoints.informers], runnables: [leading], scheduler };
}
