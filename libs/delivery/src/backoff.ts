import type { BackoffPolicy } from '@kubeless/api';

export interface BackoffSettings {
  policy: BackoffPolicy;
  delayMs: number;
  maxMs: number;
}

/**
 * The shortest wait before any retry: a loop of attempts that fail at once (an event over the
 * limit, no endpoints) then still lets timers and I/O run, whatever `backoffDelay` and
 * `backoffMax` say (the CRDs refuse `0s` now, but a 0 ms retry loop once froze a trigger process;
 * docs/delivery.md#retries).
 */
export const MIN_RETRY_DELAY_MS = 10;

/**
 * The wait before retry number `retry` (1 = the first retry), never under MIN_RETRY_DELAY_MS.
 * Exponential uses full jitter (AWS "Exponential Backoff And Jitter"): a uniform draw in
 * [0, min(max, delay * 2^(retry-1))], so competing consumers do not retry in lockstep. Linear is
 * `delay * retry`, capped, without jitter. `random` is injectable for tests.
 */
export function backoffDelay(s: BackoffSettings, retry: number, random: () => number = Math.random): number {
  const n = Math.max(1, retry);
  if (s.policy === 'linear') return Math.max(MIN_RETRY_DELAY_MS, Math.min(s.maxMs, s.delayMs * n));
  const ceiling = Math.min(s.maxMs, s.delayMs * 2 ** Math.min(n - 1, 52));
  return Math.max(MIN_RETRY_DELAY_MS, Math.floor(random() * ceiling));
}

/**
 * The wait before the next attempt: the backoff, but never less than what the function asked
 * for with `Retry-After` (already capped by the caller), nor MIN_RETRY_DELAY_MS.
 */
export function retryDelay(s: BackoffSettings, retry: number, retryAfterMs: number | undefined, random?: () => number): number {
  const b = backoffDelay(s, retry, random);
  return retryAfterMs === undefined ? b : Math.max(b, retryAfterMs);
}
