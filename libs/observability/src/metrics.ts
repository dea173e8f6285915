import { Registry, collectDefaultMetrics } from 'prom-client';

export { Counter, Gauge, Histogram, Summary, Registry } from 'prom-client';

/**
 * A registry for one process, with Node's default metrics unless disabled, under their standard
 * names (`process_cpu_seconds_total`, `nodejs_eventloop_lag_seconds`, ...: what the usual Node.js
 * dashboards and alerts query) or `prefix` when given. Each process owns its registry, so tests
 * can run several components side by side.
 */
export function createRegistry(options: { prefix?: string; defaultMetrics?: boolean; labels?: Record<string, string> } = {}): Registry {
  const registry = new Registry();
  if (options.labels) registry.setDefaultLabels(options.labels);
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, ...(options.prefix ? { prefix: options.prefix } : {}) });
  return registry;
}
