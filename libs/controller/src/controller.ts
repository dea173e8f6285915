import { setMaxListeners } from 'node:events';
import type { Condition } from '@kubeless/api';
import { Counter, Gauge, Histogram, type Logger, type Registry } from '@kubeless/observability';
import { setCondition } from './conditions.js';
import { ApiError, TerminalError, isBug, isNotFound } from './errors.js';
import type { Recorder } from './events.js';
import type { Informer } from './informer.js';
import type { KubeClient, KubeObject } from './kube-client.js';
import { controllerOf } from './owner.js';
import { objectPath, type ResourceType } from './resources.js';
import { WorkQueue, type WorkQueueOptions } from './workqueue.js';

/** A primary object with a status the reconciler writes. */
export type Reconcilable = KubeObject & { status?: { observedGeneration?: number; conditions?: Condition[] } };

export interface ReconcileContext {
  /** Aborts when the controller stops; thread it through every call. */
  signal: AbortSignal;
  logger: Logger;
  record: (type: 'Normal' | 'Warning', reason: string, message: string) => void;
}

export interface ReconcileResult {
  /** Reconcile again after this many ms even without a change (e.g. to poll something outside the API). */
  requeueAfterMs?: number;
}

export interface Watch {
  informer: Informer;
  /** Keys (`namespace/name`) of the primary objects a change of `obj` concerns. */
  map: (obj: KubeObject) => string[];
}

/**
 * Watches on `sources` whose every change concerns all the primary objects of the changed object's
 * namespace (e.g. a Function, its Service or an EndpointSlice for the triggers that select by label).
 */
export function namespaceWatches(primary: Pick<Informer, 'list'>, sources: readonly Informer[]): Watch[] {
  const map = (obj: KubeObject): string[] => {
    const ns = obj.metadata?.namespace;
    return ns === undefined ? [] : primary.list(ns).map((t) => `${ns}/${t.metadata?.name ?? ''}`);
  };
  return sources.map((informer) => ({ informer, map }));
}

/**
 * Watches on children that carry a controller owner reference to a `kind` object
 * (controller-runtime's EnqueueRequestForOwner): a change of one concerns that owner, in the
 * child's namespace; a child without such a reference concerns nobody.
 */
export function ownerWatches(kind: string, sources: readonly Informer[]): Watch[] {
  const map = (child: KubeObject): string[] => {
    const ref = controllerOf(child, kind);
    return ref ? [`${child.metadata?.namespace ?? ''}/${ref.name}`] : [];
  };
  return sources.map((informer) => ({ informer, map }));
}

export interface ControllerOptions<T extends Reconcilable> {
  /** Used in metrics, logs and Events. */
  name: string;
  resource: ResourceType;
  client: KubeClient;
  informer: Informer<T>;
  watches?: Watch[];
  /**
   * Converges the world to `obj` and sets `obj.status` (a private deep copy). Throw TerminalError
   * to stop retrying (Ready becomes False with its reason); anything else is retried.
   */
  reconcile: (obj: T, ctx: ReconcileContext) => Promise<ReconcileResult | undefined>;
  /**
   * Only for state outside the API server (owner references cover children): finalize runs
   * before the object may go, then the finalizer is removed.
   */
  finalizer?: { name: string; finalize: (obj: T, ctx: ReconcileContext) => Promise<void> };
  recorder?: Recorder;
  logger: Logger;
  registry?: Registry;
  concurrency?: number;
  queue?: WorkQueueOptions;
  /** Re-queue every cached object this often (level-based safety net); undefined never. */
  resyncPeriodMs?: number;
  /**
   * Skip primary updates that change nothing but status (controller-runtime's
   * GenerationChangedPredicate, plus labels, annotations, finalizers and deletion): a reconciler
   * whose status moves by itself (a lag) would otherwise re-queue itself on its own writes.
   */
  ignoreStatusOnlyUpdates?: boolean;
}

/** What a primary update must change to be worth a reconcile when status-only updates are ignored. */
function specStamp(o: KubeObject): string {
  const m = o.metadata ?? {};
  return canonical([m.generation, m.deletionTimestamp, m.labels, m.annotations, m.finalizers]);
}

const keyOf = (o: KubeObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

/** Stable JSON (sorted keys), to compare statuses. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === 'object' && !Array.isArray(val)
      ? Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : val,
  );
}

interface Metrics {
  reconciles: Counter<'controller' | 'result'>;
  duration: Histogram<'controller'>;
  depth: Gauge<'controller'>;
  retries: Counter<'controller'>;
  statusWrites: Counter<'controller'>;
}

const metricsByRegistry = new WeakMap<Registry, Metrics>();
function metricsFor(registry: Registry | undefined): Metrics | undefined {
  if (!registry) return undefined;
  let m = metricsByRegistry.get(registry);
  if (!m) {
    m = {
      reconciles: new Counter({ name: 'kubeless_reconcile_total', help: 'Reconciles by result (success, error, terminal).', labelNames: ['controller', 'result'], registers: [registry] }),
      duration: new Histogram({
        name: 'kubeless_reconcile_duration_seconds',
        help: 'Reconcile duration.',
        labelNames: ['controller'],
        buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers: [registry],
      }),
      depth: new Gauge({ name: 'kubeless_workqueue_depth', help: 'Keys waiting in the work queue.', labelNames: ['controller'], registers: [registry] }),
      retries: new Counter({ name: 'kubeless_workqueue_retries_total', help: 'Keys re-queued with backoff.', labelNames: ['controller'], registers: [registry] }),
      statusWrites: new Counter({ name: 'kubeless_status_writes_total', help: 'Status subresource writes.', labelNames: ['controller'], registers: [registry] }),
    };
    metricsByRegistry.set(registry, m);
  }
  return m;
}

/**
 * The reconcile runner (knative's generated wrapper, controller-runtime's controller): watches
 * the primary kind and mapped secondary kinds, queues keys, and for each key reads the object
 * from the cache, deep-copies it, runs finalizers, calls `reconcile`, and writes `status` only
 * when it changed (with `observedGeneration`). Errors: TerminalError stops (Ready False, Warning
 * Event); bugs (TypeError, RangeError) are logged and not retried; anything else is retried
 * with per-key exponential backoff under a global token bucket. One key never runs twice at
 * once; at most `concurrency` keys run together.
 */
export class Controller<T extends Reconcilable> {
  readonly queue: WorkQueue;
  readonly #o: ControllerOptions<T>;
  readonly #metrics: Metrics | undefined;
  #abort = new AbortController();
  #workers: Promise<void>[] = [];
  #running = false;
  #resync: NodeJS.Timeout | undefined;

  constructor(options: ControllerOptions<T>) {
    this.#o = options;
    this.queue = new WorkQueue(options.queue);
    this.#metrics = metricsFor(options.registry);
    const enqueue = (o: KubeObject): void => {
      this.queue.add(keyOf(o));
    };
    const stamps = new Map<string, string>();
    options.informer.on('add', (o) => {
      if (options.ignoreStatusOnlyUpdates) stamps.set(keyOf(o), specStamp(o));
      enqueue(o);
    });
    options.informer.on('update', (o) => {
      if (options.ignoreStatusOnlyUpdates) {
        const key = keyOf(o);
        const stamp = specStamp(o);
        if (stamps.get(key) === stamp) return;
        stamps.set(key, stamp);
      }
      enqueue(o);
    });
    options.informer.on('delete', (o) => {
      stamps.delete(keyOf(o));
      enqueue(o);
    });
    for (const w of options.watches ?? []) {
      const mapped = (o: KubeObject): void => {
        for (const k of w.map(o)) this.queue.add(k);
      };
      w.informer.on('add', mapped);
      w.informer.on('update', mapped);
      w.informer.on('delete', mapped);
    }
  }

  get running(): boolean {
    return this.#running;
  }

  /** Starts the workers; keys queued before (by informer events) are processed now. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#abort = new AbortController();
    // Every request in flight listens on this signal: many at once is expected, not a leak.
    setMaxListeners(0, this.#abort.signal);
    // Everything in the cache is reconciled once on start (informer adds may predate us).
    for (const o of this.#o.informer.list()) this.queue.add(keyOf(o));
    const n = this.#o.concurrency ?? 4;
    this.#workers = Array.from({ length: n }, () => this.#worker());
    if (this.#o.resyncPeriodMs !== undefined && this.#o.resyncPeriodMs > 0) {
      this.#resync = setInterval(() => {
        for (const o of this.#o.informer.list()) this.queue.add(keyOf(o));
      }, this.#o.resyncPeriodMs);
      this.#resync.unref();
    }
  }

  /** Stops handing out keys, aborts reconciles in flight and waits for them. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearInterval(this.#resync);
    this.queue.shutdown();
    this.#abort.abort();
    await Promise.all(this.#workers);
  }

  async #worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      this.#metrics?.depth.set({ controller: this.#o.name }, this.queue.length);
      try {
        await this.#process(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  async #process(key: string): Promise<void> {
    const [namespace = '', name = ''] = key.split('/');
    const logger = this.#o.logger.child({ namespace, name });
    const cached = this.#o.informer.get(namespace || undefined, name);
    if (!cached) {
      this.queue.forget(key);
      return;
    }
    const obj = structuredClone(cached);
    const before = structuredClone(cached.status ?? {}) as Record<string, unknown>;
    const ctx: ReconcileContext = {
      signal: this.#abort.signal,
      logger,
      record: (type, reason, message) => this.#o.recorder?.(obj, type, reason, message),
    };
    const end = this.#metrics?.duration.startTimer({ controller: this.#o.name });
    let result: 'success' | 'error' | 'terminal' = 'success';
    try {
      if (await this.#handleFinalizer(obj, ctx)) {
        this.queue.forget(key);
        return;
      }
      const res = await this.#o.reconcile(obj, ctx);
      this.queue.forget(key);
      if (res?.requeueAfterMs !== undefined) this.queue.addAfter(key, res.requeueAfterMs);
    } catch (err) {
      if (this.#abort.signal.aborted) return;
      if (err instanceof TerminalError) {
        result = 'terminal';
        this.queue.forget(key);
        this.#markFailed(obj, err.reason, err.message);
        logger.warn({ err, reason: err.reason }, 'reconcile failed permanently');
        ctx.record('Warning', err.reason, err.message);
      } else if (isBug(err)) {
        result = 'terminal';
        this.queue.forget(key);
        this.#markFailed(obj, 'InternalError', (err as Error).message);
        logger.error({ err }, 'reconcile hit a bug; not retrying');
      } else {
        result = 'error';
        const delay = this.queue.addRateLimited(key);
        this.#metrics?.retries.inc({ controller: this.#o.name });
        const reason = err instanceof ApiError ? `Api${err.reason || String(err.status)}` : 'ReconcileError';
        logger.warn({ err, retryInMs: delay, retries: this.queue.retries(key) }, 'reconcile failed; retrying');
        ctx.record('Warning', reason, err instanceof Error ? err.message : String(err));
      }
    } finally {
      end?.();
      this.#metrics?.reconciles.inc({ controller: this.#o.name, result });
    }
    await this.#writeStatus(obj, before, logger);
  }

  #markFailed(obj: T, reason: string, message: string): void {
    obj.status ??= {};
    obj.status.conditions ??= [];
    const ready = obj.status.conditions.find((c) => c.type === 'Ready');
    // Keep a more specific reason the reconciler already wrote.
    if (ready?.status === 'False') return;
    setCondition(obj.status.conditions, { type: 'Ready', status: 'False', reason, message });
  }

  /** True when the object is being deleted (and was handled here). */
  async #handleFinalizer(obj: T, ctx: ReconcileContext): Promise<boolean> {
    const fin = this.#o.finalizer;
    const finalizers = obj.metadata?.finalizers ?? [];
    const deleting = obj.metadata?.deletionTimestamp !== undefined;
    if (!fin) return deleting;
    const path = objectPath(this.#o.resource, obj.metadata?.namespace, obj.metadata?.name ?? '');
    if (deleting) {
      if (finalizers.includes(fin.name)) {
        await fin.finalize(obj, ctx);
        await this.#o.client.mergePatch(path, { metadata: { finalizers: finalizers.filter((f) => f !== fin.name), resourceVersion: obj.metadata?.resourceVersion } }, ctx.signal);
      }
      return true;
    }
    if (!finalizers.includes(fin.name)) {
      await this.#o.client.mergePatch(path, { metadata: { finalizers: [...finalizers, fin.name], resourceVersion: obj.metadata?.resourceVersion } }, ctx.signal);
    }
    return false;
  }

  async #writeStatus(obj: T, before: Record<string, unknown>, logger: Logger): Promise<void> {
    if (obj.metadata?.deletionTimestamp) return;
    obj.status ??= {};
    if (obj.metadata?.generation !== undefined) obj.status.observedGeneration = obj.metadata.generation;
    if (canonical(obj.status) === canonical(before)) return;
    // Keys the reconciler dropped are removed explicitly (null), since a merge patch keeps them.
    const after = obj.status as Record<string, unknown>;
    const removed = Object.fromEntries(Object.keys(before).filter((k) => !(k in after)).map((k) => [k, null]));
    const path = objectPath(this.#o.resource, obj.metadata?.namespace, obj.metadata?.name ?? '', 'status');
    try {
      // A merge patch of the whole status: this controller owns it; lists are replaced whole.
      await this.#o.client.mergePatch(path, { status: { ...removed, ...obj.status } });
      this.#metrics?.statusWrites.inc({ controller: this.#o.name });
    } catch (err) {
      if (isNotFound(err)) return;
      logger.warn({ err }, 'status write failed; retrying');
      this.queue.addRateLimited(keyOf(obj));
    }
  }
}
