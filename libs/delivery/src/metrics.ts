import { Counter, Gauge, type Registry } from '@kubeless/observability';
import type { MemoryBudget } from './budget.js';

type Labels = 'kind' | 'namespace' | 'trigger' | 'function';
type LabelSet = Record<Labels, string>;

/** Upper bounds (seconds) of the delivery latency histogram. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

/**
 * The numbers one label set (one trigger and function) bumps on every delivery: plain fields, read
 * at each scrape. prom-client validates and hashes the labels on every call, even through a
 * label-bound child: four calls per delivery cost about 4 us of the trigger's 35-60 us per event.
 */
export class HotSeries {
  readonly labels: LabelSet;
  delivered = 0;
  retried = 0;
  inFlight = 0;
  /** Per-bucket (not cumulative) counts of successful attempts' durations; the last is +Inf. */
  readonly buckets = new Float64Array(LATENCY_BUCKETS.length + 1);
  sum = 0;
  count = 0;
  /** What the scrapes already added to the prom-client counters. */
  readonly folded = { delivered: 0, retried: 0 };

  constructor(labels: LabelSet) {
    this.labels = labels;
  }

  observe(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > (LATENCY_BUCKETS[i] ?? Infinity)) i++;
    this.buckets[i] = (this.buckets[i] ?? 0) + 1;
    this.sum += seconds;
    this.count++;
  }
}

/**
 * A histogram over the HotSeries of a registry, in the shape prom-client's registry prints (the
 * same as its own Histogram: `_bucket` with `le`, `_sum`, `_count`).
 */
class SeriesHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #series: Map<string, HotSeries>;

  constructor(name: string, help: string, series: Map<string, HotSeries>) {
    this.name = name;
    this.help = help;
    this.#series = series;
  }

  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: { labels: Record<string, string | number>; value: number; metricName: string }[] }> {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const s of this.#series.values()) {
      if (s.count === 0) continue;
      let cumulative = 0;
      LATENCY_BUCKETS.forEach((le, i) => {
        cumulative += s.buckets[i] ?? 0;
        values.push({ labels: { le, ...s.labels }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    for (const s of this.#series.values()) {
      s.buckets.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}

/**
 * The delivery metrics the triggers export (docs/delivery.md#metrics; issue 5): delivered, failed attempts (by
 * reason), retried, dead-lettered and dropped counts, a latency histogram of successful attempts,
 * and the number in flight. One set per registry. The per-delivery ones (delivered, retried, in
 * flight, latency) are kept in a HotSeries per label set and read at each scrape; the rare ones
 * (failures, dead letters, drops) are prom-client counters.
 */
export interface DeliveryMetrics {
  delivered: Counter<Labels>;
  failed: Counter<Labels | 'reason'>;
  retried: Counter<Labels>;
  deadLettered: Counter<Labels | 'reason'>;
  dropped: Counter<Labels | 'reason'>;
  inFlight: Gauge<Labels>;
  /** The hot-path numbers of one label set, shared by every Deliverer with those labels. */
  series(labels: LabelSet): HotSeries;
  /**
   * Drops every series of a (deleted) trigger, whatever its function and reason, from all the
   * delivery metrics: a scrape no longer shows them. A Deliverer still draining keeps its own
   * HotSeries, which is no longer read; a failure counted after this adds its label set again.
   */
  forget(trigger: TriggerRef): Promise<void>;
}

/** One trigger, as the delivery metrics label it. */
export interface TriggerRef {
  kind: string;
  namespace: string;
  trigger: string;
}

const byRegistry = new WeakMap<Registry, DeliveryMetrics>();

export function deliveryMetrics(registry: Registry): DeliveryMetrics {
  let m = byRegistry.get(registry);
  if (m) return m;
  const labelNames: Labels[] = ['kind', 'namespace', 'trigger', 'function'];
  // As many entries as label sets, as prom-client keeps for its own metrics.
  const all = new Map<string, HotSeries>();
  const latency = new SeriesHistogram('kubeless_delivery_duration_seconds', 'Duration of successful delivery attempts.', all);
  /** A counter's collect(): adds what each series counted in `field` since the last scrape. */
  const fold = (field: 'delivered' | 'retried') =>
    function (this: Counter<Labels>): void {
      for (const s of all.values()) {
        if (s[field] > s.folded[field]) this.inc(s.labels, s[field] - s.folded[field]);
        s.folded[field] = s[field];
      }
    };
  registry.registerMetric(latency as unknown as Parameters<Registry['registerMetric']>[0]);
  const ofTrigger = (labels: Partial<Record<string, string | number>>, t: TriggerRef): boolean => labels.kind === t.kind && labels.namespace === t.namespace && labels.trigger === t.trigger;
  m = {
    delivered: new Counter({
      name: 'kubeless_delivery_delivered_total',
      help: 'Events the function accepted (2xx).',
      labelNames,
      registers: [registry],
      collect: fold('delivered'),
    }),
    failed: new Counter({ name: 'kubeless_delivery_failed_attempts_total', help: 'Delivery attempts that failed, by reason.', labelNames: [...labelNames, 'reason'], registers: [registry] }),
    retried: new Counter({
      name: 'kubeless_delivery_retried_total',
      help: 'Attempts that were retries.',
      labelNames,
      registers: [registry],
      collect: fold('retried'),
    }),
    deadLettered: new Counter({ name: 'kubeless_delivery_dead_lettered_total', help: 'Events sent to the dead letter, by reason.', labelNames: [...labelNames, 'reason'], registers: [registry] }),
    dropped: new Counter({ name: 'kubeless_delivery_dropped_total', help: 'Events dropped after their retries (onExhausted: drop), by reason.', labelNames: [...labelNames, 'reason'], registers: [registry] }),
    inFlight: new Gauge({
      name: 'kubeless_delivery_in_flight',
      help: 'Delivery attempts in flight.',
      labelNames,
      registers: [registry],
      collect() {
        for (const s of all.values()) this.set(s.labels, s.inFlight);
      },
    }),
    series(labels: LabelSet): HotSeries {
      const key = `${labels.kind}\u0000${labels.namespace}\u0000${labels.trigger}\u0000${labels.function}`;
      let s = all.get(key);
      if (!s) {
        s = new HotSeries({ kind: labels.kind, namespace: labels.namespace, trigger: labels.trigger, function: labels.function });
        all.set(key, s);
      }
      return s;
    },
    async forget(t: TriggerRef): Promise<void> {
      for (const [key, s] of all) if (ofTrigger(s.labels, t)) all.delete(key);
      // The series above are gone, so the counters' and the gauge's collect() add nothing back; every
      // label set they kept for the trigger (one per function, and reason) is removed.
      const metrics: (Counter<Labels> | Counter<Labels | 'reason'> | Gauge<Labels>)[] = [this.delivered, this.retried, this.failed, this.deadLettered, this.dropped, this.inFlight];
      for (const metric of metrics) {
        const { values } = await metric.get();
        for (const v of values) if (ofTrigger(v.labels, t)) (metric as Counter).remove(v.labels as Record<string, string>);
      }
    },
  };
  byRegistry.set(registry, m);
  return m;
}

/**
 * The gauges of a process's memory budget, read at each scrape: `<prefix>_bytes{state}` with the
 * limit, the bytes held now and the most held at once, and `<prefix>_waiting`, the runners queued
 * for room (`waitingHelp` says what waiting means for them).
 */
export function memoryBudgetMetrics(registry: Registry, budget: MemoryBudget, prefix: string, waitingHelp: string): void {
  new Gauge({
    name: `${prefix}_bytes`,
    help: 'The memory budget of this replica (MEMORY_BUDGET_BYTES), bytes of messages held (or reserved) now, and the most at once.',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      this.set({ state: 'limit' }, budget.limit);
      this.set({ state: 'used' }, budget.used);
      this.set({ state: 'high_water' }, budget.highWater);
    },
  });
  new Gauge({
    name: `${prefix}_waiting`,
    help: waitingHelp,
    registers: [registry],
    collect() {
      this.set(budget.waiting);
    },
  });
}
