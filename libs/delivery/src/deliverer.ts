import type { ResolvedDelivery } from '@kubeless/api';
import { awaitActivation, type Activation } from './activation.js';
import { MIN_RETRY_DELAY_MS, retryDelay } from './backoff.js';
import type { DeliveryClient } from './client.js';
import { DeliveryError } from './errors.js';
import { toHttpMessage, type EventInput, type HttpMessage } from './event.js';
import { RateLimiter } from './limits.js';
import type { DeliveryMetrics, HotSeries } from './metrics.js';
import type { EndpointResolver, FunctionTarget } from './resolver.js';

export interface DelivererOptions {
  client: DeliveryClient;
  resolver: EndpointResolver;
  target: FunctionTarget;
  delivery: ResolvedDelivery;
  /**
   * Request bodies larger than this, as encoded, are not sent: a non-retriable `EventTooLarge`
   * (dead letter). Structured mode grows binary payloads by 4/3 (base64) and carries the metadata.
   */
  maxEventBytes: number;
  metrics?: DeliveryMetrics | undefined;
  /** Metric labels: the trigger's kind (`kafka`, `sqs`), namespace and name. */
  labels: { kind: string; namespace: string; trigger: string };
  /** The function may be scaled to zero: each attempt first waits for it to be ready (see Activation). */
  activation?: Activation | undefined;
}

/**
 * Delivery of one trigger's events to one function: one attempt at a time per call, with the
 * trigger's rate limit, timeout and metrics. The retry loop belongs to the caller (Kafka retries
 * in process, SQS through the visibility timeout); `delayBeforeRetry` gives it the wait.
 */
export class Deliverer {
  readonly target: FunctionTarget;
  readonly delivery: ResolvedDelivery;
  readonly #o: DelivererOptions;
  readonly #rate: RateLimiter | undefined;
  readonly #labels: Record<'kind' | 'namespace' | 'trigger' | 'function', string>;
  /** The hot-path numbers of this trigger and function (plain fields; prom-client reads them at each scrape). */
  readonly #hot: HotSeries | undefined;

  constructor(options: DelivererOptions) {
    this.#o = options;
    this.target = options.target;
    this.delivery = options.delivery;
    this.#rate = options.delivery.rateLimit ? new RateLimiter(options.delivery.rateLimit) : undefined;
    this.#labels = { ...options.labels, function: options.target.name };
    const m = options.metrics;
    this.#hot = m?.series(this.#labels);
  }

  /**
   * One attempt (`attempt` counts from 1). Resolves when the function answered 2xx; throws a
   * DeliveryError otherwise (see its `retriable`), or the signal's reason when aborted.
   */
  async attempt(event: EventInput, attempt: number, signal?: AbortSignal): Promise<void> {
    const message = this.#encodeCounted(event);
    if (this.#rate) await this.#rate.take(signal);
    const activation = this.#o.activation;
    if (activation && !activation.ready()) await awaitActivation(activation, signal);
    await new Promise<void>((resolve, reject) => {
      this.#send(message, attempt, signal, (failure) => {
        if (failure === undefined) resolve();
        else reject(failure);
      });
    });
  }

  /**
   * `attempt` without promises when nothing has to be waited for first (no rate limit, the
   * function active): `done` gets no argument on success, else the failure, as `attempt` throws
   * it. It may be called before this returns (an event that cannot be encoded, say).
   */
  begin(event: EventInput, attempt: number, signal: AbortSignal | undefined, done: (failure?: Error) => void): void {
    const activation = this.#o.activation;
    if (this.#rate || (activation && !activation.ready())) {
      this.attempt(event, attempt, signal).then(
        () => {
          done();
        },
        (err: unknown) => {
          done(asError(err));
        },
      );
      return;
    }
    let message: HttpMessage;
    try {
      message = this.#encodeCounted(event);
    } catch (err) {
      done(asError(err));
      return;
    }
    this.#send(message, attempt, signal, done);
  }

  /** The request of one attempt, with its metrics. */
  #send(message: HttpMessage, attempt: number, signal: AbortSignal | undefined, done: (failure?: Error) => void): void {
    const hot = this.#hot;
    if (hot && attempt > 1) hot.retried++;
    const start = hot ? performance.now() : 0;
    if (hot) hot.inFlight++;
    let url: URL;
    try {
      url = this.#o.resolver.resolve(this.target);
    } catch (err) {
      if (hot) hot.inFlight--;
      this.#countFailure(err);
      done(asError(err));
      return;
    }
    this.#o.client.dispatch(url, message, this.delivery.timeoutMs, signal, (err) => {
      if (hot) {
        hot.inFlight--;
        if (!err) {
          hot.observe((performance.now() - start) / 1000);
          hot.delivered++;
        }
      }
      if (err) {
        this.#countFailure(err);
        done(err);
      } else {
        done();
      }
    });
  }

  #countFailure(err: unknown): void {
    if (err instanceof DeliveryError) this.#o.metrics?.failed.inc({ ...this.#labels, reason: err.reason });
  }

  /** `#encode`, counting a refusal in the failure metrics. */
  #encodeCounted(event: EventInput): HttpMessage {
    try {
      return this.#encode(event);
    } catch (err) {
      this.#countFailure(err);
      throw err;
    }
  }

  /**
   * The request for `event`, checked against `maxEventBytes` as encoded. Throws a non-retriable
   * DeliveryError: `EventTooLarge`, or `InvalidEvent` when the event cannot be encoded at all (the
   * SDK's ValidationError, say): either would fail the same way on every attempt.
   */
  #encode(event: EventInput): HttpMessage {
    const max = this.#o.maxEventBytes;
    const payload = event.data.byteLength;
    if (payload > max) {
      throw new DeliveryError('EventTooLarge', `event of ${String(payload)} bytes is over the limit of ${String(max)}`, { retriable: false });
    }
    let message: HttpMessage;
    try {
      message = toHttpMessage(event, this.delivery.eventMode);
    } catch (err) {
      throw new DeliveryError('InvalidEvent', `event cannot be encoded as a CloudEvent: ${err instanceof Error ? err.message : String(err)}`, { retriable: false, cause: err });
    }
    const body = message.body;
    // Binary mode sends the payload itself, already checked; a string is a structured document.
    if (typeof body === 'string' && body.length * 3 > max) {
      const bytes = Buffer.byteLength(body);
      if (bytes > max) {
        throw new DeliveryError(
          'EventTooLarge',
          `event of ${String(payload)} bytes is ${String(bytes)} bytes as a structured CloudEvent (metadata, base64 or JSON-escaped data), over the limit of ${String(max)}`,
          { retriable: false },
        );
      }
    }
    return message;
  }

  /** True when `attempts` failed attempts used up the trigger's `retry` (retry + 1 attempts in all). */
  exhausted(attempts: number): boolean {
    return attempts >= this.delivery.retry + 1;
  }

  /**
   * The wait between attempts once an event is blocked (`onExhausted: block`): the trigger's
   * `backoffMax`, but at least MIN_RETRY_DELAY_MS (`backoffMax: 0s` must not spin).
   */
  blockedRetryDelay(): number {
    return Math.max(MIN_RETRY_DELAY_MS, this.delivery.backoffMaxMs);
  }

  /** The wait before retry number `retry` after `err`: the trigger's backoff, at least the function's Retry-After. */
  delayBeforeRetry(err: unknown, retry: number): number {
    const after = err instanceof DeliveryError ? err.retryAfterMs : undefined;
    return retryDelay({ policy: this.delivery.backoffPolicy, delayMs: this.delivery.backoffDelayMs, maxMs: this.delivery.backoffMaxMs }, retry, after);
  }

  recordDeadLetter(reason: string): void {
    this.#o.metrics?.deadLettered.inc({ ...this.#labels, reason });
  }

  recordDrop(reason: string): void {
    this.#o.metrics?.dropped.inc({ ...this.#labels, reason });
  }
}

/** What was thrown, as an Error (anything else is wrapped, as its cause). */
function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error('delivery attempt failed', { cause: err });
}

/**
 * A failure as a short reason and message, for dead-letter headers and status. A DeliveryError
 * says itself; a `TypeError` or `RangeError` is a bug or bad input that fails the same way every
 * time (reason `internal_error`, not retriable); anything else unknown is retried (`error`).
 */
export function describeFailure(err: unknown): { reason: string; message: string; retriable: boolean } {
  if (err instanceof DeliveryError) return { reason: err.reason, message: err.message, retriable: err.retriable };
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof TypeError || err instanceof RangeError) return { reason: 'internal_error', message, retriable: false };
  return { reason: 'error', message, retriable: true };
}
