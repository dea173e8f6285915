/**
 * Delivery settings shared by KafkaTrigger and SQSTrigger (what they mean: docs/delivery.md).
 * Absent fields take the defaults of `resolveDelivery`; the CRD stores only what the user wrote,
 * so a changed default applies to existing triggers.
 */
import { DEFAULT_FUNCTION_TIMEOUT_SECONDS, type FunctionSpec } from './function.js';
import type { TenancyProblem } from './tenancy.js';
export const ORDERINGS = ['ordered', 'unordered', 'key-ordered'] as const;
export const BACKOFF_POLICIES = ['exponential', 'linear'] as const;
export const ON_EXHAUSTED = ['deadLetter', 'block', 'drop'] as const;
export const EVENT_MODES = ['binary', 'structured'] as const;

export type Ordering = (typeof ORDERINGS)[number];
export type BackoffPolicy = (typeof BACKOFF_POLICIES)[number];
export type OnExhausted = (typeof ON_EXHAUSTED)[number];
export type EventMode = (typeof EVENT_MODES)[number];

export interface DeliverySpec {
  ordering?: Ordering;
  maxInFlight?: number;
  /** Go duration; defaults to the function's timeout. */
  timeout?: string;
  retry?: number;
  backoffPolicy?: BackoffPolicy;
  backoffDelay?: string;
  backoffMax?: string;
  /** A Kafka topic (KafkaTrigger) or an SQS queue name or URL (SQSTrigger). */
  deadLetter?: string;
  onExhausted?: OnExhausted;
  /** Events per second, per trigger and function. */
  rateLimit?: number;
  eventMode?: EventMode;
  /**
   * KafkaTrigger only, Go duration: the longest a delivered record waits for its offset commit
   * (the time side of the commit window; see `commitWindow`). Default 100ms.
   */
  commitInterval?: string;
  /**
   * KafkaTrigger only: records per partition delivered (or in flight) and not yet covered by a
   * commit; a partition that reaches it is paused until a commit makes room. Default 1000.
   */
  commitWindow?: number;
}

/** A Go duration string: `500ms`, `10s`, `1m30s`. */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$';

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a Go duration into milliseconds. Throws a TypeError on anything else (bad input, not a bug). */
export function parseDuration(value: string): number {
  if (!new RegExp(DURATION_PATTERN, 'u').test(value)) {
    throw new TypeError(`invalid duration "${value}": expected Go form such as 500ms, 10s or 2m`);
  }
  let total = 0;
  for (const m of value.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/gu)) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? 's'] ?? 0);
  }
  return total;
}

/**
 * The longest wait Node's timers can hold (2^31 - 1 ms, about 24.8 days): a longer duration would
 * fire after 1 ms. Every duration a trigger waits on is bounded by this, in the CRD and in code.
 */
export const MAX_WAIT_MS = 2_147_483_647;
/** The same bound in whole seconds, as the CRD's CEL rules and the Function's `timeout` use it. */
export const MAX_WAIT_SECONDS = Math.floor(MAX_WAIT_MS / 1000);

/** Why a delivery duration is out of range (undefined when it is fine): positive, at most MAX_WAIT_MS. */
export function durationProblem(field: string, value: string): string | undefined {
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch (err) {
    return (err as Error).message;
  }
  if (ms <= 0) return `${field} must be longer than 0 (a wait of 0 would retry without pause)`;
  if (ms > MAX_WAIT_MS) return `${field} must be at most ${String(MAX_WAIT_SECONDS)}s (about 24.8 days)`;
  return undefined;
}

/** Delivery settings with every default applied, durations in milliseconds. */
export interface ResolvedDelivery {
  ordering: Ordering;
  maxInFlight: number;
  timeoutMs: number;
  retry: number;
  backoffPolicy: BackoffPolicy;
  backoffDelayMs: number;
  backoffMaxMs: number;
  deadLetter: string | undefined;
  onExhausted: OnExhausted;
  rateLimit: number | undefined;
  eventMode: EventMode;
  /** The commit window (KafkaTrigger): the longest wait for a commit, and records per partition. */
  commitIntervalMs: number;
  commitWindow: number;
}

/** The commit window's defaults (KafkaTrigger; how they were chosen: docs/delivery.md#commit-window). */
export const DEFAULT_COMMIT_INTERVAL = '100ms';
export const DEFAULT_COMMIT_WINDOW = 1000;

/**
 * A function's timeout in ms: `spec.timeout` (seconds, as the original stores it), or 180 s when
 * there is no function or its timeout is absent, not a number or not positive. The default of a
 * delivery attempt's timeout (`resolveDelivery`) for every trigger.
 */
export function functionTimeoutMs(fn: { spec: Pick<FunctionSpec, 'timeout'> } | undefined): number {
  const t = Number(fn?.spec.timeout);
  return (Number.isFinite(t) && t > 0 ? t : DEFAULT_FUNCTION_TIMEOUT_SECONDS) * 1000;
}

/**
 * Applies the defaults (docs/delivery.md): ordered; maxInFlight 1 when ordered, else 100; retry 3;
 * exponential backoff from 1s capped at 60s; timeout = the function's; onExhausted deadLetter when a
 * dead letter is named, else block (never a silent drop); binary events.
 */
export function resolveDelivery(spec: DeliverySpec | undefined, fnTimeoutMs: number): ResolvedDelivery {
  const d = spec ?? {};
  for (const field of ['timeout', 'backoffDelay', 'backoffMax', 'commitInterval'] as const) {
    const v = d[field];
    const problem = v === undefined ? undefined : durationProblem(`delivery.${field}`, v);
    if (problem) throw new TypeError(problem);
  }
  const ordering = d.ordering ?? 'ordered';
  return {
    ordering,
    maxInFlight: d.maxInFlight ?? (ordering === 'ordered' ? 1 : 100),
    timeoutMs: d.timeout === undefined ? fnTimeoutMs : parseDuration(d.timeout),
    retry: d.retry ?? 3,
    backoffPolicy: d.backoffPolicy ?? 'exponential',
    backoffDelayMs: parseDuration(d.backoffDelay ?? '1s'),
    backoffMaxMs: parseDuration(d.backoffMax ?? '60s'),
    deadLetter: d.deadLetter === '' ? undefined : d.deadLetter,
    onExhausted: d.onExhausted ?? (d.deadLetter ? 'deadLetter' : 'block'),
    rateLimit: d.rateLimit,
    eventMode: d.eventMode ?? 'binary',
    commitIntervalMs: parseDuration(d.commitInterval ?? DEFAULT_COMMIT_INTERVAL),
    commitWindow: d.commitWindow ?? DEFAULT_COMMIT_WINDOW,
  };
}

/** One function an event trigger delivers to, with its delivery settings. */
export interface TargetDelivery {
  function: string;
  delivery: ResolvedDelivery;
  /** The function may be scaled to zero (`autoscaling.minReplicas: 0`): deliveries wait for its activation. */
  activates?: true;
}

/**
 * Pure: how an event trigger (Kafka, SQS) delivers to each of its `targets`: the trigger's
 * delivery settings with the function's timeout as the default attempt timeout, and `activates`
 * when the trigger may scale its functions to zero. A function whose Service routes out of its
 * namespace (`serviceProblem`) gets no delivery: the first such is the FunctionsResolved problem
 * to report, and the others still run. Settings that do not parse are the Valid problem
 * `InvalidDelivery`, with no target at all.
 */
export function targetDeliveries(
  spec: { delivery?: DeliverySpec | undefined; autoscaling?: { minReplicas?: number | undefined } | undefined },
  targets: readonly { metadata: { name?: string | undefined }; spec: Pick<FunctionSpec, 'timeout'> }[],
  namespace: string,
  serviceProblem: ((namespace: string, fn: string) => TenancyProblem | undefined) | undefined,
): { targets: TargetDelivery[]; problem?: { condition: 'FunctionsResolved' | 'Valid'; reason: string; message: string } } {
  const out: TargetDelivery[] = [];
  let problem: { condition: 'FunctionsResolved'; reason: string; message: string } | undefined;
  for (const fn of targets) {
    const name = fn.metadata.name ?? '';
    const routed = serviceProblem?.(namespace, name);
    if (routed) {
      problem ??= { condition: 'FunctionsResolved', ...routed };
      continue;
    }
    let delivery: ResolvedDelivery;
    try {
      delivery = resolveDelivery(spec.delivery, functionTimeoutMs(fn));
    } catch (err) {
      return { targets: [], problem: { condition: 'Valid', reason: 'InvalidDelivery', message: (err as Error).message } };
    }
    out.push({ function: name, delivery, ...(spec.autoscaling?.minReplicas === 0 ? { activates: true as const } : {}) });
  }
  return problem ? { targets: out, problem } : { targets: out };
}
