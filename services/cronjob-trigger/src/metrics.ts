import type { CronJobTriggerStatus } from '@kubeless/api';
import { Counter, type Registry } from '@kubeless/observability';
import type { SlotPlan } from './plan.js';

/** The scheduler's own series (the delivery library adds its per-attempt ones, kind `cronjob`). */
export interface CronMetrics {
  /** Slots that ended, by outcome (Succeeded, Failed, Skipped, Missed, Replaced). */
  slots: Counter<'namespace' | 'trigger' | 'outcome'>;
  /** Attempts that ended in this replica, by result (success, failure). */
  attempts: Counter<'namespace' | 'trigger' | 'result'>;
  /** Slots claimed (attempt 1 started). */
  claimed: Counter<'namespace' | 'trigger'>;
  /** Status writes refused with a conflict (another writer moved first). */
  conflicts: Counter;
  /** Counts what a written plan changed. */
  record: (namespace: string, trigger: string, plan: SlotPlan, before: CronJobTriggerStatus | undefined) => void;
}

export function cronMetrics(registry: Registry): CronMetrics {
  const slots = new Counter({ name: 'kubeless_cronjob_slots_total', help: 'Slots that ended, by outcome.', labelNames: ['namespace', 'trigger', 'outcome'] as const, registers: [registry] });
  const attempts = new Counter({ name: 'kubeless_cronjob_attempts_total', help: 'Delivery attempts of slots that ended in this replica, by result.', labelNames: ['namespace', 'trigger', 'result'] as const, registers: [registry] });
  const claimed = new Counter({ name: 'kubeless_cronjob_slots_claimed_total', help: 'Slots claimed in the API server (their first attempt started).', labelNames: ['namespace', 'trigger'] as const, registers: [registry] });
  const conflicts = new Counter({ name: 'kubeless_cronjob_status_conflicts_total', help: 'Status writes refused because another writer moved first.', registers: [registry] });
  return {
    slots,
    attempts,
    claimed,
    conflicts,
    record: (namespace, trigger, plan, before) => {
      const r = plan.status.lastResult;
      if (r && (r.id !== before?.lastResult?.id || r.outcome !== before.lastResult.outcome)) slots.inc({ namespace, trigger, outcome: r.outcome });
      const started = plan.start.filter((a) => a.attempt === 1).length;
      if (started > 0) claimed.inc({ namespace, trigger }, started);
    },
  };
}
