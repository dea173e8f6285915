/**
 * Assembles the cronjob-trigger from the kit: informers (CronJobTriggers, Functions, and the
 * functions' Services and EndpointSlices for delivery) and the scheduler as a leader-only
 * runnable, for a Manager (`manager.addAll`). Used by main.ts and the tests. The trigger holds no credential of any kind: it only calls the function its
 * `function-name` names in its own namespace, through the delivery library's resolver, which
 * refuses a Service that routes out of the namespace (tenancy.ts).
 */
import { ServiceKit, type Informer, type Parts, type Runnable, type ServiceOptions } from '@kubeless/controller';
import { TriggerDelivery, type DeliverySettings } from '@kubeless/delivery';
import { cronMetrics } from './metrics.js';
import { CRONJOB_TRIGGER_RESOURCE, Scheduler, type CronJobTriggerObject } from './scheduler.js';

export interface CronjobTriggerOptions extends ServiceOptions, DeliverySettings {
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
  const kit = new ServiceKit(o, 'kubeless-cronjob-trigger');
  const triggers = kit.informer<CronJobTriggerObject>(CRONJOB_TRIGGER_RESOURCE);
  const delivery = new TriggerDelivery({ ...o, kind: 'cronjob', userAgent: `kubeless-cronjob-trigger/${o.instance ?? 'local'}` });
  const scheduler = new Scheduler({
    client: o.client,
    triggers,
    functions: delivery.functions,
    resolver: delivery.endpoints.resolver,
    serviceProblem: delivery.endpoints.serviceProblem,
    http: delivery.http,
    deliveryMetrics: delivery.metrics,
    metrics: o.registry ? cronMetrics(o.registry) : undefined,
    recorder: kit.recorder.record,
    logger: o.logger.child({ controller: 'cronjobtrigger' }),
    maxEventBytes: o.maxEventBytes,
    resyncMs: o.resyncMs,
    clock: o.clock,
  });
  // A deleted trigger's delivery series leave the scrape, as the kafka- and sqs-trigger's do.
  delivery.forgetDeleted(triggers);
  // A change of a function's Service or of a hand-made EndpointSlice concerns the triggers of its namespace.
  for (const source of delivery.endpoints.sources) {
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
      await delivery.close();
    },
    abort: () => {
      scheduler.abortAll();
    },
  };
  return { informers: [triggers, ...delivery.informers], runnables: [leading], scheduler };
}
