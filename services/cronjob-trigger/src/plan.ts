/**
 * The slot planner: pure. From a CronJobTrigger as the API server holds it, the clock, what this
 * replica knows (attempts in flight here, results of attempts that ended here) and the caches
 * (does the function exist, may it be delivered to), it returns the status to write and the
 * attempts to start once that status is written.
 *
 * The exactly-once rule lives here and in the order the scheduler follows (scheduler.ts):
 *  - A slot is **claimed** by writing it into `status.active` (attempts: 1) together with
 *    `lastScheduleTime`, with the object's resourceVersion (optimistic concurrency): of two writers
 *    (a leader and a stale one, or two leaders during a failover) one wins, the other gets a 409
 *    and plans again from the object the winner wrote, where the slot is no longer due.
 *  - Every further attempt is claimed the same way (attempts: n + 1) before it is sent, so an
 *    attempt number is sent at most once across all replicas, and a slot gets at most `retry + 1`
 *    attempts however many leaders it sees.
 *  - An active slot that no attempt of this replica is working on, and whose last attempt has no
 *    recorded result (no `nextAttemptTime`), belongs to a replica that stopped (killed mid-delivery,
 *    or lost its Lease, which aborts its deliveries before a successor may lead): its outcome is
 *    unknown, so it counts as failed and the sequence continues with the next attempt, with the
 *    same CloudEvent id. The function may thus see one id twice (the id says it is a retry), never
 *    two ids for one slot, and a slot's sequence is never started twice.
 *  - A slot missed while no replica led is the most recent slot after `lastScheduleTime`: it runs
 *    late if `startingDeadlineSeconds` allows, else it is recorded `Missed`. Older missed slots are
 *    counted in a Warning Event, not run (as a batch/v1 CronJob).
 */
import type { ActiveSlot, Condition, CronJobTrigger, CronJobTriggerStatus, ResolvedDelivery, SlotResult, TenancyProblem } from '@kubeless/api';
import { cronEventId, slotTime } from '@kubeless/api';
import { setCondition, summarise } from '@kubeless/controller';
import type { Schedule } from './schedule.js';

/** At most this many slots under way at once (concurrencyPolicy Allow); the CRD's maxItems. */
export const MAX_ACTIVE = 64;
/** Missed slots counted one by one before the count says "at least". */
const MAX_COUNTED = 100;

/** How one attempt ended in this replica. */
export interface AttemptResult {
  /** The slot's CloudEvent id. */
  id: string;
  /** The attempt number (from 1). */
  attempt: number;
  ok: boolean;
  /** Why it failed. */
  message?: string;
  /** False: the next attempt would fail the same way (a 4xx other than 404/408/409/429). */
  retriable?: boolean;
  /** The backoff before the next attempt (the trigger's policy, at least a Retry-After). */
  delayMs?: number;
}

export interface PlanInput {
  trigger: CronJobTrigger;
  now: Date;
  /** The schedule, or why the spec has none (Valid False). */
  schedule: { schedule: Schedule } | { problem: { reason: string; message: string } };
  /** The delivery settings resolved against the function, or why they do not resolve. */
  delivery: ResolvedDelivery;
  /** Whether the target function exists (and is not being deleted) in the trigger's namespace. */
  functionExists: boolean;
  /** Why the function's Service must not be delivered to (tenancy), if so. */
  functionProblem?: TenancyProblem | undefined;
  /** Slot ids with an attempt in flight in this replica. */
  running: ReadonlySet<string>;
  /** Attempts that ended in this replica since the last plan. */
  results: readonly AttemptResult[];
  /** The replica is stopping: record results, claim nothing (no retry, no new slot). */
  draining?: boolean;
}

export interface PlannedAttempt {
  id: string;
  slot: string;
  attempt: number;
}

export interface SlotPlan {
  /** The status to write (with the object's resourceVersion) before anything else happens. */
  status: CronJobTriggerStatus;
  /** Attempts to start once `status` is written: each was claimed in it. */
  start: PlannedAttempt[];
  /** Slot ids whose attempts in flight must stop (Replaced). */
  abort: string[];
  events: { type: 'Normal' | 'Warning'; reason: string; message: string }[];
  /** When to plan again at the latest (the next slot or retry); undefined: on a change only. */
  wakeAt: Date | undefined;
}

const READY_DEPS = ['Valid', 'FunctionResolved', 'Delivered'];

function ended(a: ActiveSlot, outcome: SlotResult['outcome'], now: Date, message?: string): SlotResult {
  return { slot: a.slot, id: a.id, outcome, attempts: a.attempts, time: slotTime(now), ...(message ? { message } : {}) };
}

/** Pure: see the module comment. */
export function planSlots(input: PlanInput): SlotPlan {
  const { trigger, now, delivery } = input;
  const ns = trigger.metadata.namespace ?? '';
  const name = trigger.metadata.name ?? '';
  const status: CronJobTriggerStatus = structuredClone(trigger.status ?? {});
  const conditions: Condition[] = status.conditions ?? [];
  status.conditions = conditions;
  const events: SlotPlan['events'] = [];
  const start: PlannedAttempt[] = [];
  const abort: string[] = [];
  let active: ActiveSlot[] = [...(status.active ?? [])];
  const maxAttempts = delivery.retry + 1;
  const iso = (d: Date): string => slotTime(d);
  const nowIso = iso(now);

  const fail = (a: ActiveSlot, message: string): void => {
    active = active.filter((x) => x !== a);
    status.lastResult = ended(a, 'Failed', now, message);
    events.push({ type: 'Warning', reason: 'SlotFailed', message: `slot ${a.slot} (id ${a.id}) failed after ${String(a.attempts)} attempt(s): ${message}` });
  };

  // 1. Results of attempts that ended here. A result for an attempt number the status no longer
  //    holds (the slot was replaced, or another replica moved on) is stale and dropped.
  for (const r of input.results) {
    const a = active.find((x) => x.id === r.id && x.attempts === r.attempt);
    if (!a) continue;
    if (r.ok) {
      active = active.filter((x) => x !== a);
      status.lastResult = ended(a, 'Succeeded', now);
      status.lastSuccessfulTime = a.slot;
    } else if (r.retriable === false || a.attempts >= maxAttempts) {
      fail(a, r.message ?? 'failed');
    } else {
      a.lastError = r.message ?? 'failed';
      a.nextAttemptTime = iso(new Date(now.getTime() + (r.delayMs ?? delivery.backoffDelayMs)));
    }
  }

  // 2. Slots whose last attempt has no result and is not in flight here: its replica stopped.
  for (const a of input.draining === true ? [] : [...active]) {
    if (input.running.has(a.id) || a.nextAttemptTime !== undefined) continue;
    if (input.results.some((r) => r.id === a.id)) continue;
    const message = `the outcome of attempt ${String(a.attempts)} is unknown: the controller that made it stopped`;
    if (a.attempts >= maxAttempts) fail(a, message);
    else {
      a.lastError = message;
      a.nextAttemptTime = iso(new Date(now.getTime() + delivery.backoffDelayMs));
    }
  }

  // 3. Retries that are due: claimed here (attempts + 1), started once written.
  for (const a of input.draining === true ? [] : active) {
    if (input.running.has(a.id) || a.nextAttemptTime === undefined || Date.parse(a.nextAttemptTime) > now.getTime()) continue;
    a.attempts += 1;
    a.lastAttemptTime = nowIso;
    delete a.nextAttemptTime;
    start.push({ id: a.id, slot: a.slot, attempt: a.attempts });
  }

  // 4. The schedule: the most recent slot not yet claimed, if any.
  const spec = trigger.spec;
  const valid = 'schedule' in input.schedule ? input.schedule.schedule : undefined;
  if ('problem' in input.schedule) {
    setCondition(conditions, { type: 'Valid', status: 'False', ...input.schedule.problem });
  } else {
    setCondition(conditions, { type: 'Valid', status: 'True', reason: 'Valid' });
  }
  const fnProblem: TenancyProblem | undefined = !input.functionExists
    ? { reason: 'FunctionNotFound', message: `function ${spec['function-name']} does not exist in namespace ${ns}` }
    : input.functionProblem;
  setCondition(conditions, fnProblem ? { type: 'FunctionResolved', status: 'False', ...fnProblem } : { type: 'FunctionResolved', status: 'True', reason: 'FunctionResolved', message: spec['function-name'] });

  if (valid && spec.suspend !== true && input.draining !== true) {
    const last = status.lastScheduleTime ?? trigger.metadata.creationTimestamp;
    const earliest = last ? new Date(Date.parse(last)) : now;
    const due = valid.latest(now);
    if (due && due.getTime() > earliest.getTime()) {
      const slot = iso(due);
      const id = cronEventId(ns, name, due);
      const claim: ActiveSlot = { slot, id, attempts: 0 };
      // Slots between the last claimed and this one were missed while no replica led.
      let older = 0;
      for (let t = valid.next(earliest); t && t.getTime() < due.getTime() && older < MAX_COUNTED; t = valid.next(t)) older++;
      if (older > 0) {
        events.push({
          type: 'Warning',
          reason: 'SlotsMissed',
          message: `${older >= MAX_COUNTED ? 'at least ' : ''}${String(older)} slot(s) after ${last ?? ''} and before ${slot} were missed while no controller led; only the most recent runs`,
        });
      }
      status.lastScheduleTime = slot;
      const lateMs = now.getTime() - due.getTime();
      const deadline = spec.startingDeadlineSeconds;
      if (deadline !== undefined && lateMs > deadline * 1000) {
        const message = `not started within startingDeadlineSeconds (${String(deadline)}): ${String(Math.round(lateMs / 1000))} s late`;
        status.lastResult = ended(claim, 'Missed', now, message);
        events.push({ type: 'Warning', reason: 'SlotMissed', message: `slot ${slot}: ${message}` });
      } else if (fnProblem) {
        status.lastResult = ended(claim, 'Skipped', now, fnProblem.message);
        events.push({ type: 'Warning', reason: 'SlotSkipped', message: `slot ${slot}: ${fnProblem.message}` });
      } else if (spec.concurrencyPolicy === 'Forbid' && active.length > 0) {
        const message = `slot ${active.map((a) => a.slot).join(', ')} is still under way (concurrencyPolicy Forbid)`;
        status.lastResult = ended(claim, 'Skipped', now, message);
        events.push({ type: 'Normal', reason: 'SlotSkipped', message: `slot ${slot}: ${message}` });
      } else if (spec.concurrencyPolicy !== 'Replace' && active.length >= MAX_ACTIVE) {
        const message = `${String(active.length)} slots are under way, the most there may be`;
        status.lastResult = ended(claim, 'Skipped', now, message);
        events.push({ type: 'Warning', reason: 'SlotSkipped', message: `slot ${slot}: ${message}` });
      } else {
        if (spec.concurrencyPolicy === 'Replace') {
          for (const a of active) {
            abort.push(a.id);
            status.lastResult = ended(a, 'Replaced', now, `replaced by slot ${slot} (concurrencyPolicy Replace)`);
            events.push({ type: 'Normal', reason: 'SlotReplaced', message: `slot ${a.slot} replaced by slot ${slot} after ${String(a.attempts)} attempt(s)` });
          }
          active = [];
          for (let i = start.length - 1; i >= 0; i--) if (abort.includes(start[i]?.id ?? '')) start.splice(i, 1);
        }
        claim.attempts = 1;
        claim.lastAttemptTime = nowIso;
        active.push(claim);
        start.push({ id, slot, attempt: 1 });
      }
    }
  }

  if (active.length > 0) status.active = active;
  else delete status.active;
  const next = valid && spec.suspend !== true ? valid.next(now) : undefined;
  if (next) status.nextScheduleTime = iso(next);
  else delete status.nextScheduleTime;

  const r = status.lastResult;
  setCondition(
    conditions,
    r?.outcome === 'Failed'
      ? { type: 'Delivered', status: 'False', reason: 'SlotFailed', message: `slot ${r.slot}: ${r.message ?? ''}` }
      : r?.outcome === 'Missed'
        ? { type: 'Delivered', status: 'False', reason: 'SlotMissed', message: `slot ${r.slot}: ${r.message ?? ''}` }
        : { type: 'Delivered', status: 'True', reason: r ? `Slot${r.outcome}` : 'NoSlotYet', message: r ? `slot ${r.slot}` : '' },
  );
  summarise(conditions, READY_DEPS);
  if (trigger.metadata.generation !== undefined) status.observedGeneration = trigger.metadata.generation;

  const wakes = [next, ...active.flatMap((a) => (a.nextAttemptTime ? [new Date(Date.parse(a.nextAttemptTime))] : []))].filter((d): d is Date => d !== undefined);
  const wakeAt = wakes.length === 0 ? undefined : new Date(Math.min(...wakes.map((d) => d.getTime())));
  return { status, start, abort, events, wakeAt };
}
