/**
 * Delivery settings shared by KafkaTrigger and SQSTrigger (SPEC §3 "delivery").
 * Absent fields take the defaults of `resolveDelivery`; the CRD stores only what the user wrote,
 * so a changed default applies to existing triggers.
 */
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
}

/** A Go duration string: `500ms`, `10s`, `1m30s`. */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$';

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a Go duration into milliseconds. Throws a RangeError on anything else. */
export function parseDuration(value: string): number {
  if (!new RegExp(DURATION_PATTERN, 'u').test(value)) {
    throw new RangeError(`invalid duration "${value}": expected Go form such as 500ms, 10s or 2m`);
  }
  let total = 0;
  for (const m of value.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/gu)) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? 's'] ?? 0);
  }
  return total;
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
}

/**
 * Applies the SPEC §3 defaults: ordered; maxInFlight 1 when ordered, else 100; retry 3;
 * exponential backoff from 1s capped at 60s; timeout = the function's; onExhausted deadLetter when a
 * dead letter is named, else block (never a silent drop); binary events.
 */
export function resolveDelivery(spec: DeliverySpec | undefined, functionTimeoutMs: number): ResolvedDelivery {
  const d = spec ?? {};
  const ordering = d.ordering ?? 'ordered';
  return {
    ordering,
    maxInFlight: d.maxInFlight ?? (ordering === 'ordered' ? 1 : 100),
    timeoutMs: d.timeout === undefined ? functionTimeoutMs : parseDuration(d.timeout),
    retry: d.retry ?? 3,
    backoffPolicy: d.backoffPolicy ?? 'exponential',
    backoffDelayMs: parseDuration(d.backoffDelay ?? '1s'),
    backoffMaxMs: parseDuration(d.backoffMax ?? '60s'),
    deadLetter: d.deadLetter === '' ? undefined : d.deadLetter,
    onExhausted: d.onExhausted ?? (d.deadLetter ? 'deadLetter' : 'block'),
    rateLimit: d.rateLimit,
    eventMode: d.eventMode ?? 'binary',
  };
}
