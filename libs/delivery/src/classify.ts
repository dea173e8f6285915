/** HTTP statuses retried with backoff (docs/delivery.md#retries); other 4xx go to the exhaustion policy at once. */
const RETRIED_4XX = new Set([404, 408, 409, 429]);

/** True when a response with this status is a success (any 2xx). */
export const isSuccess = (status: number): boolean => status >= 200 && status < 300;

/** True when a failed response with this status should be retried. */
export const isRetriableStatus = (status: number): boolean => status >= 500 || RETRIED_4XX.has(status);

/**
 * Parses a `Retry-After` header (delta-seconds or an HTTP date) into ms from `nowMs`, capped at
 * `capMs`. Returns undefined when absent or unparseable; never negative.
 */
export function parseRetryAfter(value: string | string[] | undefined, capMs: number, nowMs = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined || raw.trim() === '') return undefined;
  const text = raw.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/u.test(text)) ms = Number(text) * 1000;
  else {
    // Every HTTP-date form (IMF-fixdate, RFC 850, asctime) starts with a day name; Date.parse alone
    // accepts garbage such as "-5" or "soon 5" as some year.
    if (!/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)/iu.test(text)) return undefined;
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    ms = at - nowMs;
  }
  return Math.min(Math.max(0, Math.ceil(ms)), capMs);
}
