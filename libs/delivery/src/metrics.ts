import { Counter, Gauge, Histogram, type Registry } from '@kubeless/observability';

type Labels = 'kind' | 'namespace' | 'trigger' | 'function';

/**
 * The delivery metrics both triggers export (SPEC §4, issue 5): delivered, failed attempts (by
 * reason), retried, dead-lettered and dropped counts, a latency histogram of successful attempts,
 * and the number in flight. One set per registry.
 */
export interface DeliveryMetrics {
  delivered: Counter<Labels>;
  failed: Counter<Labels | 'reason'>;
  retried: Counter<Labels>;
  deadLettered: Counter<Labels | 'reason'>;
  dropped: Counter<Labels | 'reason'>;
  latency: Histogram<Labels>;
  inFlight: Gauge<Labels>;
}

const byRegistry = new WeakMap<Registry, DeliveryMetrics>();

export function deliveryMetrics(registry: Registry): DeliveryMetrics {
  let m = byRegistry.get(registry);
  if (m) return m;
  const labelNames: Labels[] = ['kind', 'namespace', 'trigger', 'function'];
  m = {
    delivered: new Counter({ name: 'kubeless_delivery_delivered_total', help: 'Events the function accepted (2xx).', labelNames, registers: [registry] }),
    failed: new Counter({ name: 'kubeless_delivery_failed_attempts_total', help: 'Delivery attempts that failed, by reason.', labelNames: [...labelNames, 'reason'], registers: [registry] }),
    retried: new Counter({ name: 'kubeless_delivery_retried_total', help: 'Attempts that were retries.', labelNames, registers: [registry] }),
    deadLettered: new Counter({ name: 'kubeless_delivery_dead_lettered_total', help: 'Events sent to the dead letter, by reason.', labelNames: [...labelNames, 'reason'], registers: [registry] }),
    dropped: new Counter({ name: 'kubeless_delivery_dropped_total', help: 'Events dropped after their retries (onExhausted: drop), by reason.', labelNames: [...labelNames, 'reason'], registers: [registry] }),
    latency: new Histogram({
      name: 'kubeless_delivery_duration_seconds',
      help: 'Duration of successful delivery attempts.',
      labelNames,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    inFlight: new Gauge({ name: 'kubeless_delivery_in_flight', help: 'Delivery attempts in flight.', labelNames, registers: [registry] }),
  };
  byRegistry.set(registry, m);
  return m;
}
