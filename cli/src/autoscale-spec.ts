/**
 * `kubeless autoscale create|delete|list`, pure parts. cpu and qps as the original built them
 * (as the original kubeless CLI's), in the autoscaling/v2 shape the function controller applies:
 * cpu -> average utilisation of the CPU request; qps -> the `function_calls` metric of the
 * function's Service. kafka-lag and sqs-depth (issue 23) set `spec.autoscaling` on the function's
 * KafkaTrigger or SQSTrigger, whose controller scales the function on the trigger's load.
 */
import { AUTOSCALING_DEFAULTS, isEmptySelector, matchesSelector, parseDuration, type AutoscalingSpec, type AutoscalingStatus, type LabelSelector } from '@kubeless/api';
import { CliError } from './errors.js';
import { parseGoDuration, parseIntFlag, parseQuantity, parseWait } from './parse.js';

/** Metrics of a HorizontalPodAutoscaler (the Function's `spec.horizontalPodAutoscaler`). */
export const HPA_METRICS = ['cpu', 'qps'] as const;
/** Metrics of a trigger's own load (the trigger's `spec.autoscaling`). */
export const EVENT_METRICS = ['kafka-lag', 'sqs-depth'] as const;
export const METRICS = [...HPA_METRICS, ...EVENT_METRICS] as const;
export type EventMetric = (typeof EVENT_METRICS)[number];
export type EventTriggerKind = 'KafkaTrigger' | 'SQSTrigger';

/** The trigger kind each event metric is read from, its CLI name and its default load per replica. */
export const EVENT_TRIGGERS: Record<EventMetric, { kind: EventTriggerKind; cli: 'kafka' | 'sqs'; defaultTarget: number }> = {
  'kafka-lag': { kind: 'KafkaTrigger', cli: 'kafka', defaultTarget: AUTOSCALING_DEFAULTS.kafkaTarget },
  'sqs-depth': { kind: 'SQSTrigger', cli: 'sqs', defaultTarget: AUTOSCALING_DEFAULTS.sqsTarget },
};
const METRIC_OF: Record<EventTriggerKind, EventMetric> = { KafkaTrigger: 'kafka-lag', SQSTrigger: 'sqs-depth' };

/** Bounds of the CRD's autoscaling block, checked here first so the message names the flag. */
const MAX_REPLICAS = 1000;
const MAX_TARGET = 1_000_000_000;

export const isEventMetric = (metric: string): metric is EventMetric => (EVENT_METRICS as readonly string[]).includes(metric);

/** Flags of `autoscale create` as commander gives them. */
export interface AutoscaleFlags {
  min: string;
  max: string;
  metric: string;
  value?: string;
  cooldown?: string;
  pollingInterval?: string;
  trigger?: string;
}

function checkMetric(metric: string): void {
  if (!(METRICS as readonly string[]).includes(metric)) throw new CliError(`--metric: "${metric}" is not one of ${METRICS.join(', ')}`);
}

/** The `spec.horizontalPodAutoscaler` of function `name`; labels are the function's. */
export function buildHpa(name: string, namespace: string, labels: Record<string, string>, f: AutoscaleFlags): Record<string, unknown> {
  checkMetric(f.metric);
  if (isEventMetric(f.metric)) throw new CliError(`--metric ${f.metric} is not a metric of a HorizontalPodAutoscaler`);
  for (const [flag, v] of [['cooldown', f.cooldown], ['polling-interval', f.pollingInterval], ['trigger', f.trigger]] as const) {
    if (v !== undefined) throw new CliError(`--${flag} works with --metric ${EVENT_METRICS.join(' or ')} only`);
  }
  const min = parseIntFlag('min', f.min);
  if (min < 1) throw new CliError(`--min must be at least 1 with --metric ${f.metric} (0 is allowed with ${EVENT_METRICS.join(' and ')})`);
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

// ---- event metrics: the trigger's spec.autoscaling ----

/**
 * The `spec.autoscaling` block of `create --metric kafka-lag|sqs-depth`: `--min` 0 to 1000 (0:
 * scale to zero), `--max` 1 to 1000 and at least `--min`, `--value` the load per replica (absent:
 * the controller's default, 10 lag or 5 messages), `--cooldown` and `--polling-interval` Go
 * durations longer than 0 (absent: 5m and 5s). Throws a `CliError` naming the flag.
 */
export function buildEventAutoscaling(f: AutoscaleFlags): AutoscalingSpec {
  checkMetric(f.metric);
  if (!isEventMetric(f.metric)) throw new CliError(`--metric ${f.metric} is not a metric of a trigger`);
  const min = parseIntFlag('min', f.min, 0, MAX_REPLICAS);
  const max = parseIntFlag('max', f.max, 1, MAX_REPLICAS);
  if (max < min) throw new CliError(`--max (${String(max)}) must be at least --min (${String(min)})`);
  const spec: AutoscalingSpec = { minReplicas: min, maxReplicas: max };
  if (f.value !== undefined) spec.targetPerReplica = parseIntFlag('value', f.value, 1, MAX_TARGET);
  if (f.cooldown !== undefined) spec.cooldown = parseInterval('cooldown', f.cooldown);
  if (f.pollingInterval !== undefined) spec.pollingInterval = parseInterval('polling-interval', f.pollingInterval);
  return spec;
}

/** A Go duration longer than 0 and within the CRD's bound (about 24.8 days). */
function parseInterval(flag: string, value: string): string {
  if (parseDuration(parseGoDuration(flag, value)) <= 0) throw new CliError(`--${flag} must be longer than 0`);
  return parseWait(flag, value);
}

/**
 * The merge patch that makes a trigger's `spec.autoscaling` exactly `spec`: fields not given are
 * sent as null, so a second `create` does not keep the first one's `--value` or `--cooldown`
 * (a merge patch merges nested objects); nothing else of the trigger is touched.
 */
export function autoscalingPatch(spec: AutoscalingSpec): { spec: { autoscaling: Record<string, unknown> } } {
  return { spec: { autoscaling: { minReplicas: null, targetPerReplica: null, cooldown: null, pollingInterval: null, ...spec } } };
}

/** The merge patch that removes a trigger's autoscaling. */
export const REMOVE_AUTOSCALING = { spec: { autoscaling: null } } as const;

/** What the autoscale commands read of a KafkaTrigger or SQSTrigger; `kind` is set by the caller from the list it came from. */
export interface EventTrigger {
  kind: EventTriggerKind;
  metadata: { name?: string; namespace?: string };
  spec: { functionName?: string; functionSelector?: LabelSelector; autoscaling?: AutoscalingSpec };
  status?: { functions?: string[]; autoscaling?: AutoscalingStatus[] };
}

/** The function as the autoscale commands read it. */
export interface FunctionRef {
  name: string;
  labels?: Record<string, string>;
  /** The Function's `spec.horizontalPodAutoscaler`, if any. */
  hpa?: unknown;
}

/** `kafkatrigger/kt`, as kubectl names objects. */
export const triggerRef = (t: EventTrigger): string => `${t.kind.toLowerCase()}/${t.metadata.name ?? ''}`;

/** True when `t` delivers to `fn`: by `functionName`, or by a non-empty selector that matches the function's labels. */
export function deliversTo(t: EventTrigger, fn: FunctionRef): boolean {
  if (t.spec.functionName !== undefined && t.spec.functionName !== '') return t.spec.functionName === fn.name;
  return !isEmptySelector(t.spec.functionSelector) && matchesSelector(t.spec.functionSelector ?? {}, fn.labels);
}

/**
 * The trigger of `triggers` (all of the metric's kind in the namespace) that `create` writes:
 * the one named `named`, which must deliver to the function, else the only one that delivers to
 * it. None, or more than one without a name, is a `CliError` that asks for `--trigger`.
 */
export function pickTrigger(metric: EventMetric, fn: FunctionRef, namespace: string, triggers: readonly EventTrigger[], named?: string): EventTrigger {
  const cli = EVENT_TRIGGERS[metric].cli;
  if (named !== undefined) {
    const t = triggers.find((x) => x.metadata.name === named);
    if (!t) throw new CliError(`${cli} trigger "${named}" not found in namespace "${namespace}"`, 'KUBELESS_CLI_NOT_FOUND');
    if (!deliversTo(t, fn)) throw new CliError(`${cli} trigger "${named}" does not deliver to function "${fn.name}"`, 'KUBELESS_CLI_CONFLICT');
    return t;
  }
  const mine = triggers.filter((t) => deliversTo(t, fn));
  const [only] = mine;
  if (mine.length === 1 && only) return only;
  if (mine.length === 0) {
    throw new CliError(`no ${cli} trigger in namespace "${namespace}" delivers to function "${fn.name}"; create one with "kubeless trigger ${cli} create", or name one with --trigger`, 'KUBELESS_CLI_NOT_FOUND');
  }
  throw new CliError(`function "${fn.name}" has ${String(mine.length)} ${cli} triggers (${mine.map((t) => t.metadata.name ?? '').join(', ')}); name the one to scale on with --trigger`, 'KUBELESS_CLI_CONFLICT');
}

/** Who sets the function's replicas now: `hpa` (its HorizontalPodAutoscaler) or a trigger's `triggerRef`. */
export function replicaOwners(fn: FunctionRef, triggers: readonly EventTrigger[]): string[] {
  const hpaName = (fn.hpa as { metadata?: { name?: string } } | undefined)?.metadata?.name;
  const owners = hpaName ? ['hpa'] : [];
  return [...owners, ...triggers.filter((t) => t.spec.autoscaling !== undefined && deliversTo(t, fn)).map(triggerRef)];
}

/**
 * The refusal of a `create` that would give the function's replicas a second owner (`writing`:
 * `hpa` or the trigger's ref; the owner being rewritten is no conflict), or undefined. An HPA
 * and a trigger, or two triggers, setting one Deployment's replicas undo each other's work.
 */
export function ownerConflict(fn: FunctionRef, owners: readonly string[], writing: string): string | undefined {
  const others = owners.filter((o) => o !== writing);
  const [first] = others;
  if (first === undefined) return undefined;
  const how = (o: string): string => (o === 'hpa' ? `"kubeless autoscale delete ${fn.name}"` : `"kubeless autoscale delete ${fn.name} --trigger ${o.slice(o.indexOf('/') + 1)}"`);
  const what = (o: string): string => (o === 'hpa' ? 'its HorizontalPodAutoscaler' : o);
  return `function "${fn.name}" is already autoscaled by ${others.map(what).join(' and ')}; its replicas have one owner at a time: remove that autoscaling first with ${how(first)}`;
}

/**
 * What `delete` removes: the HPA and every trigger that autoscales the function, or with `named`
 * only the triggers of that name. Nothing to remove is a not-found `CliError`.
 */
export function autoscalersToRemove(fn: FunctionRef, triggers: readonly EventTrigger[], namespace: string, named?: string): { hpa: boolean; triggers: EventTrigger[] } {
  const scaling = triggers.filter((t) => t.spec.autoscaling !== undefined && deliversTo(t, fn));
  if (named !== undefined) {
    const picked = scaling.filter((t) => t.metadata.name === named);
    if (picked.length === 0) throw new CliError(`no trigger "${named}" in namespace "${namespace}" autoscales function "${fn.name}"`, 'KUBELESS_CLI_NOT_FOUND');
    return { hpa: false, triggers: picked };
  }
  const hpa = replicaOwners(fn, []).length > 0;
  if (!hpa && scaling.length === 0) throw new CliError(`function "${fn.name}" has no autoscaling in namespace "${namespace}"`, 'KUBELESS_CLI_NOT_FOUND');
  return { hpa, triggers: scaling };
}

/** The selector of a trigger that selects by labels, as `k=v,k2=v2` (expressions as `key op (values)`); undefined for a `functionName` trigger. */
export function selectorOf(t: EventTrigger): string | undefined {
  if (t.spec.functionName !== undefined && t.spec.functionName !== '') return undefined;
  const s = t.spec.functionSelector ?? {};
  return [
    ...Object.entries(s.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`),
    ...(s.matchExpressions ?? []).map((e) => `${e.key} ${e.operator}${e.values ? ` (${e.values.join(',')})` : ''}`),
  ].join(',');
}

/** Columns of `autoscale list`: the original's, plus the trigger an event autoscaler is set on. */
export const LIST_COLUMNS = ['NAME', 'NAMESPACE', 'TARGET', 'MIN', 'MAX', 'METRIC', 'VALUE', 'TRIGGER'];

type Row = (string | number | undefined)[];

/** The `autoscale list` row of one HPA (v2 or v2beta1 shape), as the original printed it. */
export function hpaRow(h: { metadata?: { name?: string; namespace?: string }; spec?: unknown }): Row {
  const spec = obj(h.spec);
  const m = describeMetric(spec);
  const target = obj(spec.scaleTargetRef);
  return [h.metadata?.name, h.metadata?.namespace, text(target.name), text(spec.minReplicas ?? 1), text(spec.maxReplicas), m.metric, m.value, ''];
}

/**
 * The `autoscale list` rows of a trigger with `spec.autoscaling` (none without): one per function
 * it scales (sorted), NAME and TARGET the function; VALUE the load per replica, the default when unset. A
 * selector trigger's functions come from its status (what the controller found); before the
 * controller wrote any, one row shows the selector instead.
 */
export function triggerRows(t: EventTrigger): Row[] {
  const a = t.spec.autoscaling;
  if (!a) return [];
  const metric = METRIC_OF[t.kind];
  const selector = selectorOf(t);
  const fns = selector === undefined ? [t.spec.functionName ?? ''] : [...new Set([...(t.status?.autoscaling ?? []).map((s) => s.function), ...(t.status?.functions ?? [])])].sort();
  const names = fns.length > 0 ? fns : [`<${selector ?? ''}>`];
  const value = a.targetPerReplica ?? EVENT_TRIGGERS[metric].defaultTarget;
  return names.map((fn) => [fn, t.metadata.namespace, fn, a.minReplicas ?? AUTOSCALING_DEFAULTS.minReplicas, a.maxReplicas, metric, value, triggerRef(t)]);
}

function obj(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function text(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' ? String(v) : '';
}
