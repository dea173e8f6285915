import type { OnExhausted } from '@kubeless/api';

/** What a trigger does with an event after a failed attempt. */
export type AfterFailure = 'retry' | 'deadLetter' | 'drop' | 'block';

export interface FailureFacts {
  /** Whether the failure may succeed on another attempt (a 4xx, an oversized event: no). */
  retriable: boolean;
  /** Whether the failed attempts used up the trigger's `retry`. */
  exhausted: boolean;
  onExhausted: OnExhausted;
  /** The trigger's dead letter (a topic or a queue); undefined when none is set. */
  deadLetter: string | undefined;
}

/**
 * Pure: the one exhaustion policy of every trigger (docs/delivery.md#exhaustion). A retriable failure with
 * retries left is retried after its backoff. Otherwise `onExhausted` decides: `deadLetter` (only
 * with a dead letter named: the CRD refuses `deadLetter` without one, and a missing one never
 * turns into a silent drop), `drop`, or `block` (retry at `backoffMax` and report Stalled, so
 * nothing is lost).
 */
export function afterFailure(f: FailureFacts): AfterFailure {
  if (f.retriable && !f.exhausted) return 'retry';
  if (f.onExhausted === 'deadLetter') return f.deadLetter ? 'deadLetter' : 'block';
  return f.onExhausted;
}
