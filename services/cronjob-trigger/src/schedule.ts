/**
 * A trigger's schedule as slot times, through croner (pinned; five-field mode, OR of day-of-month
 * and day-of-week as Vixie cron and robfig/cron, IANA zones through Intl). Pure: no timers, no I/O.
 */
import { expandSchedule, scheduleProblem, timeZoneProblem } from '@kubeless/api';
import { Cron } from 'croner';

/** The slots of one schedule: the instants it fires at, second precision. */
export interface Schedule {
  /** The first slot strictly after `after`; undefined when there is none (e.g. `0 0 31 2 *`). */
  next(after: Date): Date | undefined;
  /** The last slot at or before `atOrBefore`; undefined when there is none. */
  latest(atOrBefore: Date): Date | undefined;
}

/** A schedule, or why the spec's schedule or time zone cannot be one (a `Valid` problem). */
export function parseSchedule(schedule: string, timeZone: string | undefined): { schedule: Schedule } | { problem: { reason: string; message: string } } {
  const bad = scheduleProblem(schedule);
  if (bad) return { problem: { reason: 'InvalidSchedule', message: bad } };
  const zone = timeZone === undefined || timeZone === '' ? 'UTC' : timeZone;
  const tzBad = timeZoneProblem(zone);
  if (tzBad) return { problem: { reason: 'InvalidTimeZone', message: tzBad } };
  let cron: Cron;
  try {
    cron = new Cron(expandSchedule(schedule), { timezone: zone, mode: '5-part', paused: true });
  } catch (err) {
    return { problem: { reason: 'InvalidSchedule', message: `schedule "${schedule}": ${(err as Error).message}` } };
  }
  return {
    schedule: {
      next: (after) => cron.nextRun(after) ?? undefined,
      // croner's previousRuns is strictly before the second of its reference: the next whole
      // second includes a slot in the second of `atOrBefore` (slots fall on whole minutes).
      latest: (atOrBefore) => {
        const t = cron.previousRuns(1, new Date(Math.floor(atOrBefore.getTime() / 1000) * 1000 + 1000))[0];
        return t && t.getTime() <= atOrBefore.getTime() ? t : undefined;
      },
    },
  };
}
