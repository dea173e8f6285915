/** Capped exponential backoff: `base * 2^attempt`, at most `max`, with optional full jitter. */
export function exponentialBackoff(attempt: number, baseMs: number, maxMs: number, jitter: () => number = () => 1): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 52));
  return Math.floor(exp * jitter());
}
