import type { ResolvedDelivery } from '@kubeless/api';
import { retryDelay } from './backoff.js';
import type { DeliveryClient } from './client.js';
import { DeliveryError } from './errors.js';
import { toHttpMessage, type EventInput } from './event.js';
import { RateLimiter } from './limits.js';
import type { DeliveryMetrics, HotSeries } from './metrics.js';
import type { EndpointResolver, FunctionTarget } from './resolver.js';

export interface DelivererOptions {
  client: DeliveryClient;
  resolver: EndpointResolver;
  target: FunctionTarget;
  delivery: ResolvedDelivery;
  /** Payloads larger than this are not sent: a non-retriable `EventTooLarge` (dead letter). */
  maxEventBytes: number;
  metrics?: DeliveryMetrics | undefined;
  /** Metric labels: the trigger's kind (`kafka`, `sqs`), namespace and name. */
  labels: { kind: string; namespace: string; trigger: string };
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
    const m = this.#o.metrics;
    if (event.data.byteLength > this.#o.maxEventBytes) {
      const err = new DeliveryError('EventTooLarge', `event of ${String(event.data.byteLength)} bytes is over the limit of ${String(this.#o.maxEventBytes)}`, { retriable: false });
      m?.failed.inc({ ...this.#labels, reason: err.reason });
      throw err;
    }
    if (this.#rate) await this.#rate.take(signal);
    const hot = this.#hot;
    if (hot && attempt > 1) hot.retried++;
    const start = performance.now();
    if (hot) hot.inFlight++;
    try {
      const url = this.#o.resolver.resolve(this.target);
      const message = toHttpMessage(event, this.delivery.eventMode);
      await this.#o.client.send(url, message, { timeoutMs: this.delivery.timeoutMs, signal });
      if (hot) {
        hot.observe((performance.now() - start) / 1000);
        hot.delivered++;
      }
    } catch (err) {
      if (err instanceof DeliveryError) m?.failed.inc({ ...this.#labels, reason: err.reason });
      throw err;
    } finally {
      if (hot) hot.inFlight--;
    }
  }

  /** True when `attempts` failed attempts used up the trigger's `retry` (retry + 1 attempts in all). */
  exhausted(attempts: number): boolean {
    return attempts >= this.delivery.retry + 1;
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

/** A failure as a short reason and message, for dead-letter headers and status. */
export function describeFailure(err: unknown): { reason: string; message: string; retriable: boolean } {
  if (err instanceof DeliveryError) return { reason: err.reason, message: err.message, retriable: err.retriable };
  return { reason: 'error', message: err instanceof Error ? err.message : String(err), retriable: true };
}
