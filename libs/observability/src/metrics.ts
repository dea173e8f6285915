import { Registry, collectDefaultMetrics } from 'prom-client';

export { Counter, Gauge, Histogram, Summary, Registry } from 'prom-client';

/**
 * A registry for one process, with Node's default metrics under `prefix` unless disabled.
 * Each process owns its registry, so tests can run several components side by side.
 */
export function createRegistry(options: { prefix?: string; defaultMetrics?: boolean; labels?: Record<string, string> } = {}): Registry {
  const registry = new Registry();
  if (options.labels) registry.setDefaultLabels(options.labels);
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: options.prefix ?? 'kubeless_' });
  return registry;
}
