/**
 * Why one delivery attempt failed. `retriable` follows docs/delivery.md#retries: connection errors,
 * timeouts, 5xx, 404, 408, 409 and 429 are retried; any other 4xx is not. Neither are the failures
 * that would repeat on every attempt: `EventTooLarge` (over the trigger's `maxEventBytes` as
 * encoded, or the function answered 413 or 431) and `InvalidEvent` (the event could not be encoded
 * or the request could not be written: an undici `InvalidArgumentError`, the SDK's
 * `ValidationError`, a `TypeError` or `RangeError` raised before the request went out).
 */
export type DeliveryErrorKind =
  | 'HttpStatus'
  | 'Timeout'
  | 'Connection'
  | 'NoEndpoints'
  | 'ForeignEndpoints'
  | 'EventTooLarge'
  | 'InvalidEvent'
  | 'Aborted';

export class DeliveryError extends Error {
  override readonly name = 'DeliveryError';
  readonly kind: DeliveryErrorKind;
  /** `KUBELESS_DELIVERY_` and the kind in upper snake case: `KUBELESS_DELIVERY_HTTP_STATUS`, `KUBELESS_DELIVERY_TIMEOUT`, ... */
  readonly code: string;
  readonly retriable: boolean;
  /** The function's HTTP status, when it answered. */
  readonly status: number | undefined;
  /** The function's `Retry-After`, in ms, when it sent one (already capped). */
  readonly retryAfterMs: number | undefined;

  constructor(
    kind: DeliveryErrorKind,
    message: string,
    options: { retriable: boolean; status?: number; retryAfterMs?: number; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.kind = kind;
    this.code = `KUBELESS_DELIVERY_${snake(kind).toUpperCase()}`;
    this.retriable = options.retriable;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }

  /** A short reason for metrics and dead-letter headers: `http_503`, `timeout`, ... */
  get reason(): string {
    return this.kind === 'HttpStatus' ? `http_${String(this.status)}` : snake(this.kind);
  }
}

const snake = (camel: string): string => camel.replace(/[A-Z]/gu, (c, i: number) => (i ? '_' : '') + c.toLowerCase());
