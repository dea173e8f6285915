/**
 * Why one delivery attempt failed. `retriable` follows SPEC §4: connection errors, timeouts, 5xx,
 * 404, 408, 409 and 429 are retried; any other 4xx and an event over the size limit are not.
 */
export type DeliveryErrorCode =
  | 'HttpStatus'
  | 'Timeout'
  | 'Connection'
  | 'NoEndpoints'
  | 'ForeignEndpoints'
  | 'EventTooLarge'
  | 'Aborted';

export class DeliveryError extends Error {
  override readonly name = 'DeliveryError';
  readonly code: DeliveryErrorCode;
  readonly retriable: boolean;
  /** The function's HTTP status, when it answered. */
  readonly status: number | undefined;
  /** The function's `Retry-After`, in ms, when it sent one (already capped). */
  readonly retryAfterMs: number | undefined;

  constructor(
    code: DeliveryErrorCode,
    message: string,
    options: { retriable: boolean; status?: number; retryAfterMs?: number; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.code = code;
    this.retriable = options.retriable;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }

  /** A short reason for metrics and dead-letter headers: `http_503`, `timeout`, ... */
  get reason(): string {
    return this.code === 'HttpStatus' ? `http_${String(this.status)}` : this.code.replace(/[A-Z]/gu, (c, i: number) => (i ? '_' : '') + c.toLowerCase());
  }
}
