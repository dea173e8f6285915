import type { BackoffPolicy } from '@kubeless/api';

export interface BackoffSettings {
  policy: BackoffPolicy;
  delayMs: number;
  maxMs: number;
}

/**
 * The wait before retry number `retry` (1 = the first retry). Exponential uses full jitter
 * (AWS "Exponential Backoff And Jitter"): a uniform draw in [0, min(max, delay * 2^(retry-1))],
 * so competing consumers do not retry in lockstep. Linear is `delay * retry`, capped, without
 * jitter. `random` is injectable for tests.
 */
export function backoffDelay(s: BackoffSettings, retry: number, random: () => number = Math.random): number {
  const n = Math.max(1, retry);
  if (s.policy === 'linear') return Math.min(s.maxMs, s.delayMs * n);
  const ceiling = Math.min(s.maxMs, s.delayMs * 2 ** Math.min(n - 1, 52));
  return Math.floor(random() * ceiling);
}

/**
 * The wait before the next attempt: the backoff, but never less than what the function asked
 * for with `Retry-After` (already capped by the caller).
 */
export function retryDelay(s: BackoffSettings, retry: number, retryAfterMs: number | undefined, random?: () => number): number {
  const b = backoffDelay(s, retry, random);
  return retryAfterMs === undefined ? b : Math.max(b, retryAfterMs);
}
