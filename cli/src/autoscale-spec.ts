/**
 * `kubeless autoscale create` as the original built it (reference/kubeless.md §2.6, §5.4), in the
 * autoscaling/v2 shape the function controller applies: cpu -> average utilisation of the CPU
 * request; qps -> the `function_calls` metric of the function's Service. Pure.
 */
import { CliError } from './errors.js';
import { parseIntFlag, parseQuantity } from './parse.js';

export const METRICS = ['cpu', 'qps'] as const;

export interface AutoscaleFlags {
  min: string;
  max: string;
  metric: string;
  value?: string;
}

/** The `spec.horizontalPodAutoscaler` of function `name`; labels are the function's. */
export function buildHpa(name: string, namespace: string, labels: Record<string, string>, f: AutoscaleFlags): Record<string, unknown> {
  const min = parseIntFlag('min', f.min, 1);
  const max = parseIntFlag('max', f.max, 1);
  if (max < min) throw new CliError(`--max (${String(max)}) must be at least --min (${String(min)})`);
  if (f.value === undefined) throw new CliError('--value is required');
  let metric: Record<string, unknown>;
  if (f.metric === 'cpu') {
    metric = { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: parseIntFlag('value', f.value, 1) } } };
  } else if (f.metric === 'qps') {
    metric = {
      type: 'Object',
      object: {
        metric: { name: 'function_calls' },
        describedObject: { apiVersion: 'v1', kind: 'Service', name },
        target: { type: 'Value', value: parseQuantity('value', f.value) },
      },
    };
  } else {
    throw new CliError(`--metric: "${f.metric}" is not one of ${METRICS.join(', ')}`);
  }
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name, namespace, labels: { ...labels } },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name }, minReplicas: min, maxReplicas: max, metrics: [metric] },
  };
}

/** `METRIC` and `VALUE` columns of `autoscale list` from an HPA's first metric (v2 or v2beta1 shape). */
export function describeMetric(spec: Record<string, unknown> | undefined): { metric: string; value: string } {
  const metrics = spec?.metrics;
  const m = obj(Array.isArray(metrics) ? (metrics[0] as unknown) : undefined);
  const resource = obj(m.resource);
  const object = obj(m.object);
  if (m.resource !== undefined) {
    const t = obj(resource.target);
    return { metric: text(resource.name), value: text(t.averageUtilization ?? t.averageValue ?? resource.targetAverageUtilization) };
  }
  if (m.object !== undefined) {
    const t = obj(object.target);
    return { metric: text(obj(object.metric).name ?? object.metricName), value: text(t.value ?? t.averageValue ?? object.targetValue) };
  }
  return { metric: text(m.type), value: '' };
}

function obj(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function text(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' ? String(v) : '';
}
