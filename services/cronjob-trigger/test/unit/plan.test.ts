/**
 * The slot planner on a fixed clock with the real cron library: which slot is due, a claim before
 * any attempt, missed slots within and beyond startingDeadlineSeconds, the concurrency policies,
 * retries and a predecessor's unfinished attempt, and time zones.
 */
import { resolveDelivery, scheduleProblem, type CronJobTrigger, type CronJobTriggerSpec, type CronJobTriggerStatus } from '@kubeless/api';
import { describe, expect, it } from 'vitest';
import { parseSchedule, planSlots, type AttemptResult, type PlanInput } from '../../src/index.js';

const delivery = resolveDelivery({ retry: 2, backoffDelay: '1s', onExhausted: 'drop' }, 180_000);

function trigger(spec: Partial<CronJobTriggerSpec>, status?: CronJobTriggerStatus, created = '2026-12-05T10:00:30Z'): CronJobTrigger {
  return {
    apiVersion: 'kubeless.io/v1beta1',
    kind: 'CronJobTrigger',
    metadata: { namespace: 'team', name: 'tick', creationTimestamp: created, generation: 1 },
    spec: { 'function-name': 'fn', schedule: '* * * * *', ...spec },
    ...(status ? { status } : {}),
  };
}

function plan(t: CronJobTrigger, now: string, over: Partial<PlanInput> = {}): ReturnType<typeof planSlots> {
  return planSlots({
    trigger: t,
    now: new Date(now),
    schedule: parseSchedule(t.spec.schedule, t.spec.timeZone),
    delivery,
    functionExists: true,
    running: new Set(),
    results: [],
    ...over,
  });
}

const cond = (p: ReturnType<typeof planSlots>, type: string): string | undefined => {
  const c = p.status.conditions?.find((x) => x.type === type);
  return c ? `${c.status}/${c.reason ?? ''}` : undefined;
};

describe('the next slot (--schedule)', () => {
  it('"* * * * *" created at 10:00:30: nothing before 10:01, then claims 10:01:00 with attempt 1 and a deterministic id', () => {
    const early = plan(trigger({}), '2026-12-05T10:00:59Z');
    expect(early.start).toEqual([]);
    expect(early.status.nextScheduleTime).toBe('2026-12-05T10:01:00Z');
    expect(early.wakeAt?.toISOString()).toBe('2026-12-05T10:01:00.000Z');
    const p = plan(trigger({}), '2026-12-05T10:01:00.200Z');
    expect(p.start).toEqual([{ id: 'team/tick/2026-12-05T10:01:00Z', slot: '2026-12-05T10:01:00Z', attempt: 1 }]);
    expect(p.status.lastScheduleTime).toBe('2026-12-05T10:01:00Z');
    expect(p.status.active).toEqual([{ slot: '2026-12-05T10:01:00Z', id: 'team/tick/2026-12-05T10:01:00Z', attempts: 1, lastAttemptTime: '2026-12-05T10:01:00Z' }]);
    expect(p.status.nextScheduleTime).toBe('2026-12-05T10:02:00Z');
    expect(cond(p, 'Ready')).toBe('True/Ready');
  });

  it('a slot already claimed is not claimed again (a second plan, or a replica that lost the race)', () => {
    const first = plan(trigger({}), '2026-12-05T10:01:01Z');
    const again = plan(trigger({}, first.status), '2026-12-05T10:01:02Z', { running: new Set(['team/tick/2026-12-05T10:01:00Z']) });
    expect(again.start).toEqual([]);
    expect(again.status.active).toEqual(first.status.active);
  });

  it('@hourly and @daily are the robfig macros', () => {
    expect(plan(trigger({ schedule: '@hourly' }), '2026-12-05T10:30:00Z').status.nextScheduleTime).toBe('2026-12-05T11:00:00Z');
    expect(plan(trigger({ schedule: '@daily' }), '2026-12-05T10:30:00Z').status.nextScheduleTime).toBe('2026-12-06T00:00:00Z');
  });

  it('a success ends the slot: lastResult Succeeded, lastSuccessfulTime, no active slot', () => {
    const claimed = plan(trigger({}), '2026-12-05T10:01:00Z');
    const r: AttemptResult = { id: 'team/tick/2026-12-05T10:01:00Z', attempt: 1, ok: true };
    const p = plan(trigger({}, claimed.status), '2026-12-05T10:01:01Z', { results: [r] });
    expect(p.status.active).toBeUndefined();
    expect(p.status.lastResult).toMatchObject({ outcome: 'Succeeded', attempts: 1, slot: '2026-12-05T10:01:00Z' });
    expect(p.status.lastSuccessfulTime).toBe('2026-12-05T10:01:00Z');
    expect(p.start).toEqual([]);
  });
});

describe('missed slots (--starting-deadline-seconds)', () => {
  const last = { lastScheduleTime: '2026-12-05T10:01:00Z' };
  it('no leader from 10:01:30 to 10:03:20: 10:03 runs late within a 30 s deadline, 10:02 is counted as missed', () => {
    const p = plan(trigger({ startingDeadlineSeconds: 30 }, last), '2026-12-05T10:03:20Z');
    expect(p.start.map((a) => a.slot)).toEqual(['2026-12-05T10:03:00Z']);
    expect(p.events.map((e) => e.reason)).toEqual(['SlotsMissed']);
    expect(p.events[0]?.message).toContain('1 slot(s)');
  });

  it('beyond the deadline the slot is recorded Missed, never sent', () => {
    const p = plan(trigger({ startingDeadlineSeconds: 10 }, last), '2026-12-05T10:03:20Z');
    expect(p.start).toEqual([]);
    expect(p.status.lastScheduleTime).toBe('2026-12-05T10:03:00Z');
    expect(p.status.lastResult).toMatchObject({ slot: '2026-12-05T10:03:00Z', outcome: 'Missed', attempts: 0 });
    expect(cond(p, 'Delivered')).toBe('False/SlotMissed');
    // Planned again, the missed slot stays missed.
    expect(plan(trigger({ startingDeadlineSeconds: 10 }, p.status), '2026-12-05T10:03:25Z').start).toEqual([]);
  });

  it('without a deadline the most recent missed slot runs however late', () => {
    expect(plan(trigger({}, last), '2026-12-05T12:00:59Z').start.map((a) => a.slot)).toEqual(['2026-12-05T12:00:00Z']);
  });

  it('a function whose Service routes out of its namespace (tenancy) is not called: the slot is Skipped', () => {
    const p = plan(trigger({}, last), '2026-12-05T10:02:01Z', { functionProblem: { reason: 'ExternalNameService', message: 'the Service of function fn is of type ExternalName' } });
    expect(p.start).toEqual([]);
    expect(p.status.lastResult).toMatchObject({ outcome: 'Skipped', message: 'the Service of function fn is of type ExternalName' });
    expect(cond(p, 'FunctionResolved')).toBe('False/ExternalNameService');
    expect(cond(p, 'Ready')).toBe('False/ExternalNameService');
  });

  it('a missing function skips the slot (FunctionResolved False), and a suspended trigger claims nothing', () => {
    const p = plan(trigger({}, last), '2026-12-05T10:02:01Z', { functionExists: false });
    expect(p.start).toEqual([]);
    expect(p.status.lastResult).toMatchObject({ outcome: 'Skipped' });
    expect(cond(p, 'FunctionResolved')).toBe('False/FunctionNotFound');
    const s = plan(trigger({ suspend: true }, last), '2026-12-05T10:02:01Z');
    expect(s.start).toEqual([]);
    expect(s.status.lastScheduleTime).toBe('2026-12-05T10:01:00Z');
    expect(s.status.nextScheduleTime).toBeUndefined();
  });
});

describe('--concurrency-policy with a slot still under way', () => {
  const busy: CronJobTriggerStatus = {
    lastScheduleTime: '2026-12-05T10:01:00Z',
    active: [{ slot: '2026-12-05T10:01:00Z', id: 'team/tick/2026-12-05T10:01:00Z', attempts: 2, nextAttemptTime: '2026-12-05T10:02:30Z' }],
  };
  it('Allow: the next slot starts beside it', () => {
    const p = plan(trigger({ concurrencyPolicy: 'Allow' }, busy), '2026-12-05T10:02:00Z');
    expect(p.start.map((a) => a.slot)).toEqual(['2026-12-05T10:02:00Z']);
    expect(p.status.active?.map((a) => a.slot)).toEqual(['2026-12-05T10:01:00Z', '2026-12-05T10:02:00Z']);
  });
  it('Forbid: the next slot is skipped', () => {
    const p = plan(trigger({ concurrencyPolicy: 'Forbid' }, busy), '2026-12-05T10:02:00Z');
    expect(p.start).toEqual([]);
    expect(p.status.lastResult).toMatchObject({ slot: '2026-12-05T10:02:00Z', outcome: 'Skipped' });
    expect(p.status.active?.map((a) => a.slot)).toEqual(['2026-12-05T10:01:00Z']);
  });
  it('Replace: the slot under way ends Replaced (its attempt aborted) and the next one starts', () => {
    const p = plan(trigger({ concurrencyPolicy: 'Replace' }, busy), '2026-12-05T10:02:00Z', { running: new Set(['team/tick/2026-12-05T10:01:00Z']) });
    expect(p.abort).toEqual(['team/tick/2026-12-05T10:01:00Z']);
    expect(p.start.map((a) => a.slot)).toEqual(['2026-12-05T10:02:00Z']);
    expect(p.status.active?.map((a) => a.slot)).toEqual(['2026-12-05T10:02:00Z']);
  });
});

describe('one attempt sequence per slot (--retry)', () => {
  const id = 'team/tick/2026-12-05T10:01:00Z';
  const claimed: CronJobTriggerStatus = { lastScheduleTime: '2026-12-05T10:01:00Z', active: [{ slot: '2026-12-05T10:01:00Z', id, attempts: 1, lastAttemptTime: '2026-12-05T10:01:00Z' }] };

  it('a failure records the backoff; the retry is claimed (attempts 2) once it is due', () => {
    const failed = plan(trigger({}, claimed), '2026-12-05T10:01:01Z', { results: [{ id, attempt: 1, ok: false, message: '500', retriable: true, delayMs: 2000 }] });
    expect(failed.start).toEqual([]);
    expect(failed.status.active?.[0]).toMatchObject({ attempts: 1, nextAttemptTime: '2026-12-05T10:01:03Z', lastError: '500' });
    expect(failed.wakeAt?.toISOString()).toBe('2026-12-05T10:01:03.000Z');
    const retry = plan(trigger({}, failed.status), '2026-12-05T10:01:03Z');
    expect(retry.start).toEqual([{ id, slot: '2026-12-05T10:01:00Z', attempt: 2 }]);
    expect(retry.status.active?.[0]).toMatchObject({ attempts: 2, lastAttemptTime: '2026-12-05T10:01:03Z' });
    expect(retry.status.active?.[0]?.nextAttemptTime).toBeUndefined();
  });

  it('retry + 1 failed attempts end the slot Failed (Delivered False); a non-retriable failure at once', () => {
    const third: CronJobTriggerStatus = { ...claimed, active: [{ slot: '2026-12-05T10:01:00Z', id, attempts: 3 }] };
    const p = plan(trigger({}, third), '2026-12-05T10:01:09Z', { results: [{ id, attempt: 3, ok: false, message: '503', retriable: true }] });
    expect(p.status.active).toBeUndefined();
    expect(p.status.lastResult).toMatchObject({ outcome: 'Failed', attempts: 3, message: '503' });
    expect(cond(p, 'Delivered')).toBe('False/SlotFailed');
    expect(cond(p, 'Ready')).toBe('False/SlotFailed');
    const bad = plan(trigger({}, claimed), '2026-12-05T10:01:01Z', { results: [{ id, attempt: 1, ok: false, message: '400', retriable: false }] });
    expect(bad.status.lastResult).toMatchObject({ outcome: 'Failed', attempts: 1 });
  });

  it("a predecessor's attempt without a result (killed mid-delivery) counts as failed; the next attempt keeps the id", () => {
    const taken = plan(trigger({}, claimed), '2026-12-05T10:01:20Z');
    expect(taken.start).toEqual([]);
    expect(taken.status.active?.[0]).toMatchObject({ attempts: 1, nextAttemptTime: '2026-12-05T10:01:21Z' });
    expect(taken.status.active?.[0]?.lastError).toContain('unknown');
    const next = plan(trigger({}, taken.status), '2026-12-05T10:01:21Z');
    expect(next.start).toEqual([{ id, slot: '2026-12-05T10:01:00Z', attempt: 2 }]);
  });

  it('an attempt still in flight here is left alone; a result for an attempt the status no longer holds is dropped', () => {
    expect(plan(trigger({}, claimed), '2026-12-05T10:01:20Z', { running: new Set([id]) }).status.active).toEqual(claimed.active);
    const stale = plan(trigger({}, claimed), '2026-12-05T10:01:20Z', { running: new Set([id]), results: [{ id, attempt: 7, ok: true }] });
    expect(stale.status.lastResult).toBeUndefined();
  });

  it('draining: results are recorded, nothing new is claimed', () => {
    const p = plan(trigger({}, claimed), '2026-12-05T10:02:00Z', { draining: true, results: [{ id, attempt: 1, ok: true }] });
    expect(p.status.lastResult).toMatchObject({ outcome: 'Succeeded' });
    expect(p.start).toEqual([]);
  });
});

describe('--time-zone', () => {
  it('"0 9 * * *" in Asia/Kathmandu (UTC+5:45) fires at 03:15 UTC', () => {
    const t = trigger({ schedule: '0 9 * * *', timeZone: 'Asia/Kathmandu' }, undefined, '2026-12-05T00:00:00Z');
    expect(plan(t, '2026-12-05T03:14:59Z').start).toEqual([]);
    expect(plan(t, '2026-12-05T03:15:00Z').start.map((a) => a.slot)).toEqual(['2026-12-05T03:15:00Z']);
  });
  it('follows daylight saving time: 09:00 in New York is 14:00 UTC in winter, 13:00 in summer', () => {
    const winter = trigger({ schedule: '0 9 * * *', timeZone: 'America/New_York' }, undefined, '2026-12-05T00:00:00Z');
    expect(plan(winter, '2026-12-05T10:00:00Z').status.nextScheduleTime).toBe('2026-12-05T14:00:00Z');
    const summer = trigger({ schedule: '0 9 * * *', timeZone: 'America/New_York' }, undefined, '2026-07-01T00:00:00Z');
    expect(plan(summer, '2026-07-01T10:00:00Z').status.nextScheduleTime).toBe('2026-07-01T13:00:00Z');
  });
  it('an unknown zone is Valid False (InvalidTimeZone) and schedules nothing', () => {
    const p = plan(trigger({ timeZone: 'Mars/Olympus' }), '2026-12-05T10:05:00Z');
    expect(cond(p, 'Valid')).toBe('False/InvalidTimeZone');
    expect(p.start).toEqual([]);
  });
});

describe('schedule syntax (the CRD rule and the CLI share it)', () => {
  it.each(['* * * * *', '*/5 * * * *', '0 9-17 * * MON-FRI', '0 0 1,15 * *', '30 2 ? jan sun', '@hourly', '@midnight', '0 0 * * 7', ' 5 4 * * * '])('accepts %j', (s) => {
    expect(scheduleProblem(s)).toBeUndefined();
  });
  it.each([
    ['* * * *', 'has 4 field'],
    ['60 * * * *', 'minute field'],
    ['* 24 * * *', 'hour field'],
    ['* * 0 * *', 'day of month field'],
    ['* * * 13 *', 'month field'],
    ['* * * * 8', 'day of week field'],
    ['*/0 * * * *', 'minute field'],
    ['5-1 * * * *', 'goes down'],
    ['@every 5m', 'use a step'],
    ['CRON_TZ=UTC * * * * *', 'set timeZone'],
    ['@often', 'unknown macro'],
    ['* * * * * *', 'has 6 field'],
  ])('refuses %j (%s)', (s, why) => {
    expect(scheduleProblem(s)).toContain(why);
  });
});
