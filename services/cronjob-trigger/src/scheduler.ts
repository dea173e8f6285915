/**
 * The leader's scheduler: for every CronJobTrigger, plans (plan.ts) and acts in this order, one
 * trigger at a time (never two syncs of one trigger at once):
 *   1. read the trigger from the API server (a quorum read, not the cache: the claim must see the
 *      latest status, including a predecessor's last write);
 *   2. plan the status with the clock, the attempts that ended here and those still in flight here;
 *   3. write the status with the resourceVersion read (PUT of the status subresource): a 409 means
 *      another writer moved first; nothing is sent and the trigger is planned again from fresh;
 *   4. only then start the attempts the written status claimed, and abort those it replaced.
 * Attempts run in the background; each one's end is kept in memory and written by the next sync.
 *
 * If this leader dies mid-delivery, the status says attempt n of slot S was claimed and has no
 * result. The next leader (or this one restarted) finds it with no attempt of its own in flight,
 * counts attempt n as failed (its outcome is unknown: the function may have handled it), and sends
 * attempt n + 1 with the same CloudEvent id after the trigger's first backoff delay. So the slot
 * keeps one attempt sequence and one id, bounded by `retry + 1` attempts in all, and a function that
 * dedupes on the id handles it once. A leader that loses its Lease aborts its attempts (`abortAll`)
 * before its renew deadline ends, which is before any successor may take the Lease: two replicas
 * never have an attempt of one slot in flight at once, barring a process paused longer than that.
 */
import { CRON_EVENT_TYPE, functionTimeoutMs, resolveDelivery, type CronJobTrigger, type TenancyProblem, type CronJobTriggerStatus, type DeliverySpec, type Function as KubelessFunction, type ResolvedDelivery } from '@kubeless/api';
import { canonical, isConflict, isNotFound, objectPath, type Informer, type KubeClient, type KubeObject, type Recorder, type ResourceType } from '@kubeless/controller';
import { Deliverer, describeFailure, type DeliveryClient, type DeliveryMetrics, type EndpointResolver } from '@kubeless/delivery';
import type { Logger } from '@kubeless/observability';
import { planSlots, type AttemptResult, type PlannedAttempt } from './plan.js';
import { parseSchedule } from './schedule.js';
import type { CronMetrics } from './metrics.js';

export type CronJobTriggerObject = CronJobTrigger & KubeObject & { status?: CronJobTriggerStatus };

/** Where CronJobTriggers live (the controller kit's resource table predates the kind). */
export const CRONJOB_TRIGGER_RESOURCE: ResourceType = { group: 'kubeless.io', version: 'v1beta1', kind: 'CronJobTrigger', plural: 'cronjobtriggers', namespaced: true };

/** `event-namespace` of the original kubeless headers, as the original's CronJob sent it (singular). */
export const LEGACY_NAMESPACE = 'cronjobtrigger.kubeless.io';

/** The CloudEvent source of a trigger's ticks. */
export const eventSource = (namespace: string, name: string): string => `/apis/v1/namespaces/${namespace}/cronjobtriggers/${name}`;

export interface SchedulerOptions {
  client: KubeClient;
  triggers: Informer<CronJobTriggerObject>;
  functions: Informer<KubelessFunction & KubeObject>;
  resolver: EndpointResolver;
  serviceProblem: (namespace: string, name: string) => TenancyProblem | undefined;
  http: DeliveryClient;
  deliveryMetrics?: DeliveryMetrics | undefined;
  metrics?: CronMetrics | undefined;
  recorder?: Recorder | undefined;
  logger: Logger;
  maxEventBytes: number;
  /** Plans every trigger at least this often (conditions follow the caches). Default 30 s. */
  resyncMs?: number;
  /** The wait after a failed status write (other than a conflict, retried at once). Default 2 s. */
  retryMs?: number;
  clock?: () => Date;
}

interface TriggerState {
  chain: Promise<void>;
  queued: boolean;
  timer: NodeJS.Timeout | undefined;
  running: Map<string, AbortController>;
  results: AttemptResult[];
}

/** The trigger's delivery settings with the defaults; durations the CRD let through but that do not parse fall back to the defaults. */
export function cronDelivery(spec: CronJobTrigger['spec'], fn: KubelessFunction | undefined): ResolvedDelivery {
  const d: DeliverySpec = { ...(spec.delivery ?? {}), onExhausted: 'drop' };
  try {
    return resolveDelivery(d, functionTimeoutMs(fn));
  } catch {
    return resolveDelivery({ onExhausted: 'drop' }, functionTimeoutMs(fn));
  }
}

export class Scheduler {
  readonly #o: SchedulerOptions;
  readonly #states = new Map<string, TriggerState>();
  readonly #clock: () => Date;
  #abort = new AbortController();
  #running = false;
  #draining = false;
  #resync: NodeJS.Timeout | undefined;

  constructor(options: SchedulerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? (() => new Date());
    const onTrigger = (t: KubeObject): void => {
      this.enqueue(`${t.metadata?.namespace ?? ''}/${t.metadata?.name ?? ''}`);
    };
    for (const e of ['add', 'update', 'delete'] as const) options.triggers.on(e, onTrigger);
    // A function's change concerns the triggers of its namespace that name it (FunctionResolved).
    const onFunction = (f: KubeObject): void => {
      const ns = f.metadata?.namespace ?? '';
      for (const t of options.triggers.list(ns)) if (t.spec['function-name'] === f.metadata?.name) onTrigger(t);
    };
    for (const e of ['add', 'update', 'delete'] as const) options.functions.on(e, onFunction);
  }

  get running(): boolean {
    return this.#running;
  }

  /** Starts planning every trigger in the cache (the leader only). Idempotent. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#draining = false;
    this.#abort = new AbortController();
    for (const t of this.#o.triggers.list()) this.enqueue(`${t.metadata.namespace ?? ''}/${t.metadata.name ?? ''}`);
    this.#resync = setInterval(() => {
      for (const t of this.#o.triggers.list()) this.enqueue(`${t.metadata.namespace ?? ''}/${t.metadata.name ?? ''}`);
    }, this.#o.resyncMs ?? 30_000);
    this.#resync.unref();
  }

  /**
   * Graceful stop (SIGTERM, the Lease released): claims nothing more, lets attempts in flight end
   * for up to `drainMs`, writes their results, then aborts what is left (a successor continues it).
   */
  async stop(drainMs: number): Promise<void> {
    if (!this.#running) return;
    this.#draining = true;
    clearInterval(this.#resync);
    const deadline = Date.now() + drainMs;
    while (Date.now() < deadline && [...this.#states.values()].some((s) => s.running.size > 0)) await new Promise((r) => setTimeout(r, 50));
    await Promise.all([...this.#states.values()].map((s) => s.chain));
    this.abortAll();
  }

  /** Stops at once without another write (the Lease was lost): attempts in flight are aborted. */
  abortAll(): void {
    this.#running = false;
    clearInterval(this.#resync);
    this.#abort.abort();
    for (const s of this.#states.values()) {
      clearTimeout(s.timer);
      for (const ac of s.running.values()) ac.abort();
    }
  }

  /** Plans `key` (`namespace/name`) soon; a burst of calls makes one sync. */
  enqueue(key: string, afterMs = 0): void {
    if (!this.#running) return;
    const s = this.#state(key);
    if (afterMs > 0) {
      clearTimeout(s.timer);
      s.timer = setTimeout(() => {
        this.enqueue(key);
      }, Math.min(afterMs, 2_147_483_647));
      s.timer.unref();
      return;
    }
    if (s.queued) return;
    s.queued = true;
    s.chain = s.chain.then(async () => {
      s.queued = false;
      if (!this.#running) return;
      await this.#sync(key, s).catch((err: unknown) => {
        this.#o.logger.warn({ err, trigger: key }, 'cronjob trigger sync failed; retrying');
        this.enqueue(key, this.#o.retryMs ?? 2000);
      });
    });
  }

  #state(key: string): TriggerState {
    let s = this.#states.get(key);
    if (!s) {
      s = { chain: Promise.resolve(), queued: false, timer: undefined, running: new Map(), results: [] };
      this.#states.set(key, s);
    }
    return s;
  }

  async #sync(key: string, s: TriggerState): Promise<void> {
    const [ns = '', name = ''] = key.split('/');
    const path = objectPath(CRONJOB_TRIGGER_RESOURCE, ns, name);
    let t: CronJobTriggerObject;
    try {
      t = await this.#o.client.get<CronJobTriggerObject>(path, this.#abort.signal);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      // Deleted: its attempts stop, its state goes.
      for (const ac of s.running.values()) ac.abort();
      clearTimeout(s.timer);
      this.#states.delete(key);
      return;
    }
    if (t.metadata.deletionTimestamp) return;
    const fnName = t.spec['function-name'];
    const fn = this.#o.functions.get(ns, fnName);
    const exists = fn !== undefined && !fn.metadata.deletionTimestamp;
    const delivery = cronDelivery(t.spec, fn);
    const results = [...s.results];
    const now = this.#clock();
    const plan = planSlots({
      trigger: t,
      now,
      schedule: parseSchedule(t.spec.schedule, t.spec.timeZone),
      delivery,
      functionExists: exists,
      functionProblem: exists ? this.#o.serviceProblem(ns, fnName) : undefined,
      running: new Set(s.running.keys()),
      results,
      draining: this.#draining,
    });
    let written: CronJobTriggerObject = t;
    if (canonical(plan.status) !== canonical(t.status ?? {})) {
      try {
        written = await this.#o.client.replace<CronJobTriggerObject>(objectPath(CRONJOB_TRIGGER_RESOURCE, ns, name, 'status'), { ...t, status: plan.status }, this.#abort.signal);
      } catch (err) {
        if (isNotFound(err)) return;
        if (isConflict(err)) {
          // Another writer (a predecessor's last write, a user's edit) moved first: plan again from what it wrote.
          this.#o.metrics?.conflicts.inc();
          this.enqueue(key, 100);
          return;
        }
        throw err;
      }
    }
    // The status is written: the results it recorded are consumed, the attempts it claimed start.
    s.results.splice(0, results.length);
    for (const id of plan.abort) s.running.get(id)?.abort();
    for (const a of plan.start) this.#attempt(key, s, written, a, delivery);
    for (const e of plan.events) this.#o.recorder?.(written, e.type, e.reason, e.message);
    this.#o.metrics?.record(ns, name, plan, t.status);
    if (plan.wakeAt) this.enqueue(key, Math.max(0, plan.wakeAt.getTime() - this.#clock().getTime()));
  }

  #attempt(key: string, s: TriggerState, t: CronJobTriggerObject, a: PlannedAttempt, delivery: ResolvedDelivery): void {
    const ns = t.metadata.namespace ?? '';
    const name = t.metadata.name ?? '';
    const ac = new AbortController();
    s.running.get(a.id)?.abort();
    s.running.set(a.id, ac);
    const payload = t.spec.payload;
    const deliverer = new Deliverer({
      client: this.#o.http,
      resolver: this.#o.resolver,
      target: { namespace: ns, name: t.spec['function-name'] },
      delivery,
      maxEventBytes: this.#o.maxEventBytes,
      metrics: this.#o.deliveryMetrics,
      labels: { kind: 'cronjob', namespace: ns, trigger: name },
    });
    const event = {
      id: a.id,
      source: eventSource(ns, name),
      type: CRON_EVENT_TYPE,
      time: new Date(Date.parse(a.slot)),
      data: payload === undefined ? new Uint8Array() : Buffer.from(JSON.stringify(payload)),
      contentType: payload === undefined ? undefined : 'application/json',
      legacy: { namespace: LEGACY_NAMESPACE },
    };
    const signal = AbortSignal.any([ac.signal, this.#abort.signal]);
    const log = this.#o.logger.child({ namespace: ns, name, slot: a.slot, attempt: a.attempt });
    deliverer
      .attempt(event, a.attempt, signal)
      .then(
        () => {
          s.results.push({ id: a.id, attempt: a.attempt, ok: true });
          this.#o.metrics?.attempts.inc({ namespace: ns, trigger: name, result: 'success' });
        },
        (err: unknown) => {
          // Aborted (replaced, or this replica stopped leading): no result; a successor continues.
          if (signal.aborted) return;
          const f = describeFailure(err);
          log.warn({ err, reason: f.reason }, 'scheduled delivery attempt failed');
          this.#o.metrics?.attempts.inc({ namespace: ns, trigger: name, result: 'failure' });
          s.results.push({ id: a.id, attempt: a.attempt, ok: false, message: f.message, retriable: f.retriable, delayMs: deliverer.delayBeforeRetry(err, a.attempt) });
        },
      )
      .finally(() => {
        if (s.running.get(a.id) === ac) s.running.delete(a.id);
        this.enqueue(key);
      });
  }
}
