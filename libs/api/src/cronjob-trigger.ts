import type { BackoffPolicy, EventMode } from './delivery.js';
import type { CommonStatus, KubelessObject } from './meta.js';

/**
 * CronJobTrigger (the original kubeless kind;
 * docs/architecture.md#compatibility-with-the-original): calls one function of its namespace on a
 * cron schedule. The original fields keep their JSON names (`function-name`, `schedule`,
 * `payload`); `timeZone`, `concurrencyPolicy` and `startingDeadlineSeconds` mean what they mean on
 * a batch/v1 CronJob; `delivery` is the other triggers' block, restricted to what a tick can use.
 */
export interface CronJobTriggerSpec {
  /** The function (same namespace) to call. */
  'function-name': string;
  /** Five cron fields (minute hour day-of-month month day-of-week) or a macro such as `@hourly`. */
  schedule: string;
  /** Any JSON: the event's body (JSON-encoded). Absent: an empty body. */
  payload?: unknown;
  /** An IANA time zone (`Europe/Paris`); default UTC (the original ran in the cluster's zone, usually UTC). */
  timeZone?: string;
  /** What a slot does while an earlier slot is still in its attempt sequence. Default Allow. */
  concurrencyPolicy?: ConcurrencyPolicy;
  /** A slot started later than this after its time is missed, not run. Default: no deadline. */
  startingDeadlineSeconds?: number;
  /** Stops scheduling new slots (a slot in its attempt sequence finishes). Default false. */
  suspend?: boolean;
  delivery?: CronDeliverySpec;
}

export const CONCURRENCY_POLICIES = ['Allow', 'Forbid', 'Replace'] as const;
export type ConcurrencyPolicy = (typeof CONCURRENCY_POLICIES)[number];

/**
 * The delivery settings a CronJobTrigger takes (the shared block's fields that mean something for a
 * single scheduled event): the per-attempt timeout, retries and backoff, and the CloudEvents mode.
 * A slot whose retries are exhausted ends `Failed` in `status.lastResult` with a Warning Event:
 * there is no dead letter and nothing blocks the schedule.
 */
export interface CronDeliverySpec {
  timeout?: string;
  retry?: number;
  backoffPolicy?: BackoffPolicy;
  backoffDelay?: string;
  backoffMax?: string;
  eventMode?: EventMode;
}

/** How a slot's attempt sequence ended (or why it never started). */
export const SLOT_OUTCOMES = ['Succeeded', 'Failed', 'Skipped', 'Missed', 'Replaced'] as const;
export type SlotOutcome = (typeof SLOT_OUTCOMES)[number];

/**
 * A slot whose attempt sequence is under way. Written to status (with optimistic concurrency)
 * before every attempt, so whichever replica leads next continues the same sequence.
 */
export interface ActiveSlot {
  /** The slot's time, RFC 3339 UTC (second precision). */
  slot: string;
  /** The CloudEvent id: `<namespace>/<trigger>/<slot>`. */
  id: string;
  /** Attempts started so far (the one in flight included). */
  attempts: number;
  /** When the last attempt was claimed. */
  lastAttemptTime?: string;
  /** Not before this time may the next attempt start (backoff after a failure). */
  nextAttemptTime?: string;
  /** The last failure, if any. */
  lastError?: string;
}

export interface SlotResult {
  slot: string;
  id: string;
  outcome: SlotOutcome;
  attempts: number;
  /** When the outcome was recorded. */
  time: string;
  message?: string;
}

export interface CronJobTriggerStatus extends CommonStatus {
  /** The last slot claimed (started, skipped or missed), as batch/v1 CronJob's. */
  lastScheduleTime?: string;
  /** The last slot the function accepted (2xx). */
  lastSuccessfulTime?: string;
  /** The next slot the schedule gives. */
  nextScheduleTime?: string;
  /** Slots in their attempt sequence. */
  active?: ActiveSlot[];
  /** The last slot that ended. */
  lastResult?: SlotResult;
}

export type CronJobTrigger = KubelessObject<'CronJobTrigger', CronJobTriggerSpec, CronJobTriggerStatus>;

/** The CloudEvent type of a tick. */
export const CRON_EVENT_TYPE = 'io.kubeless.cronjob.tick';

/** The CloudEvent id of a slot: deterministic, so a retry (or a new leader's) is recognisable. */
export function cronEventId(namespace: string, trigger: string, slot: Date): string {
  return `${namespace}/${trigger}/${slotTime(slot)}`;
}

/** A slot's time as written in status and ids: RFC 3339 UTC with second precision. */
export function slotTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/u, 'Z');
}

// ---------------------------------------------------------------- schedule syntax

/** The macros robfig/cron's ParseStandard takes (the original CLI's validator), as five fields. */
export const CRON_MACROS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const MONTHS = 'JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC';
const DAYS = 'SUN|MON|TUE|WED|THU|FRI|SAT';
/** One value of each field, with its range: minute 0-59, hour 0-23, day 1-31, month 1-12 or a name, weekday 0-7 or a name. */
const FIELD_VALUES = [
  '[0-5]?[0-9]',
  '[01]?[0-9]|2[0-3]',
  '0?[1-9]|[12][0-9]|3[01]',
  `0?[1-9]|1[0-2]|${MONTHS}`,
  `[0-7]|${DAYS}`,
] as const;
export const CRON_FIELD_NAMES = ['minute', 'hour', 'day of month', 'month', 'day of week'] as const;

/** A field: a list of `*`, `?` (day fields), a value or a range, each with an optional `/step`. */
function fieldPattern(i: number): string {
  const v = `(${FIELD_VALUES[i] ?? ''})`;
  const any = i === 2 || i === 4 ? '\\*|\\?' : '\\*';
  const item = `(${any}|${v}(-${v})?)(/[1-9][0-9]?)?`;
  return `${item}(,${item})*`;
}

/** The syntax of one field as a full-match, case-insensitive RE2/ECMAScript regex. */
export const cronFieldPattern = (i: number): string => `^(?i)(${fieldPattern(i)})$`;

/**
 * The whole schedule: five fields or a macro, case-insensitive (RE2 syntax, as the CRD's CEL rule
 * runs it; `(?i)` is written for RE2 and stripped for JavaScript by `scheduleProblem`).
 */
export const SCHEDULE_PATTERN = `^(?i)\\s*((${Object.keys(CRON_MACROS).join('|')})|${[0, 1, 2, 3, 4].map(fieldPattern).map((p) => `(${p})`).join('\\s+')})\\s*$`;

/** The message of the CRD rule and the CLI on a schedule that is not one. */
export const SCHEDULE_MESSAGE = `schedule must be five cron fields (minute 0-59, hour 0-23, day of month 1-31, month 1-12 or JAN-DEC, day of week 0-7 or SUN-SAT; each *, a value, a range a-b, a list a,b, with an optional /step), or one of ${Object.keys(CRON_MACROS).join(', ')}`;

const jsRegex = (re2: string): RegExp => new RegExp(re2.replace('(?i)', ''), 'iu');

/**
 * Why `schedule` is not a schedule a CronJobTrigger takes (undefined: it is). The same syntax as
 * the CRD's rule, with a sentence naming the field at fault; ranges must go up (`5-1` is refused),
 * `@every` and a `TZ=`/`CRON_TZ=` prefix are refused with what to use instead.
 */
export function scheduleProblem(schedule: string): string | undefined {
  const s = schedule.trim();
  if (/^(CRON_)?TZ=/iu.test(s)) return 'a time zone in the schedule (TZ= or CRON_TZ=) is not supported: set timeZone (--time-zone) instead';
  if (/^@every\b/iu.test(s)) return '@every is not supported (its slots depend on when a controller started): use a step such as */5';
  if (s.startsWith('@')) return CRON_MACROS[s.toLowerCase()] ? undefined : `unknown macro ${s}: ${SCHEDULE_MESSAGE}`;
  const fields = s.split(/\s+/u);
  if (fields.length !== 5) return `schedule "${schedule}" has ${String(fields.length)} field(s): ${SCHEDULE_MESSAGE}`;
  for (const [i, f] of fields.entries()) {
    if (!jsRegex(cronFieldPattern(i)).test(f)) return `schedule "${schedule}": the ${CRON_FIELD_NAMES[i] ?? ''} field "${f}" is not valid: ${SCHEDULE_MESSAGE}`;
    for (const range of f.matchAll(/([0-9]+)-([0-9]+)/gu)) {
      if (Number(range[1]) > Number(range[2])) return `schedule "${schedule}": the ${CRON_FIELD_NAMES[i] ?? ''} range ${range[0]} goes down`;
    }
  }
  // Defence in depth: the per-field check and the CRD's whole-schedule rule must agree.
  return jsRegex(SCHEDULE_PATTERN).test(s) ? undefined : SCHEDULE_MESSAGE;
}

/** Five fields for `schedule` (a macro expanded), for the cron library. Assumes scheduleProblem passed. */
export function expandSchedule(schedule: string): string {
  const s = schedule.trim();
  return CRON_MACROS[s.toLowerCase()] ?? s.split(/\s+/u).join(' ');
}

/** An IANA zone name's shape (the CRD checks this much; the controller and CLI check the zone exists). */
export const TIME_ZONE_PATTERN = '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$';

/** Why `zone` is not a time zone this runtime knows (undefined: it is). */
export function timeZoneProblem(zone: string): string | undefined {
  if (!new RegExp(TIME_ZONE_PATTERN, 'u').test(zone)) return `timeZone "${zone}" is not an IANA time zone name such as Europe/Paris or UTC`;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return undefined;
  } catch {
    return `timeZone "${zone}" is not a known IANA time zone (e.g. Europe/Paris, America/New_York, UTC)`;
  }
}
