import { createRequire } from 'node:module';

/** kafkajs's request queue, the two methods this module replaces and the state they use. */
interface RequestQueueProto {
  scheduleCheckPendingRequests(this: RequestQueueState): void;
  scheduleRequestTimeoutCheck(this: RequestQueueState): void;
}
interface RequestQueueState {
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  pending: unknown[];
  inflight: Map<number, { sentAt: number; requestTimeout: number; timeoutRequest(): void }>;
  requestTimeout: number;
  enforceRequestTimeout: boolean;
  requestTimeoutIntervalId?: NodeJS.Timeout;
  checkPendingRequests(): void;
  isConnected(): boolean;
  destroy(): void;
}

/** kafkajs's own pause before re-checking a queue held back by client-side throttling. */
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10;

let applied: boolean | undefined;

/**
 * Mends kafkajs 2.2.4's idle cost, which is per connection, so per trigger (each consumer has its own):
 *  - after its first response, every connection re-arms `checkPendingRequests` on a timer of
 *    `throttledUntil - now`, negative when nothing throttles, which Node runs after 1 ms: each
 *    connection polls its empty queue a thousand times a second, forever (kafkajs issues 1556,
 *    1704 and 1751, unreleased upstream; Node 24 also warns TimeoutNegativeWarning). Now a check
 *    is armed only when a request waits (after 10 ms, kafkajs's own interval) or a throttle ends;
 *    a fulfilled request still checks the queue at once, as before.
 *  - each connection scans its requests in flight for a timeout ten times a second; once a second
 *    (at most a tenth of the request timeout) keeps timeouts within a second of their value.
 * Applied once, before the first client; left alone when the kafkajs in use no longer has the
 * defect (its method reads differently). Returns whether it applied.
 */
export function mendKafkajsIdleLoop(): boolean {
  if (applied !== undefined) return applied;
  const require = createRequire(import.meta.url);
  const proto = (require('kafkajs/src/network/requestQueue/index.js') as { prototype: RequestQueueProto }).prototype;
  const original = proto.scheduleCheckPendingRequests.toString();
  applied = original.includes('this.throttledUntil - Date.now()') && !original.includes('return');
  if (!applied) return false;
  proto.scheduleCheckPendingRequests = function scheduleCheckPendingRequests(this: RequestQueueState): void {
    if (this.throttleCheckTimeoutId) return;
    const untilUnthrottled = this.throttledUntil - Date.now();
    let delay: number;
    if (this.pending.length > 0) delay = untilUnthrottled > 0 ? untilUnthrottled : CHECK_PENDING_REQUESTS_INTERVAL_MS;
    else if (untilUnthrottled > 0) delay = untilUnthrottled;
    else return;
    this.throttleCheckTimeoutId = setTimeout(() => {
      this.throttleCheckTimeoutId = null;
      this.checkPendingRequests();
    }, delay);
  };
  proto.scheduleRequestTimeoutCheck = function scheduleRequestTimeoutCheck(this: RequestQueueState): void {
    if (!this.enforceRequestTimeout) return;
    this.destroy();
    this.requestTimeoutIntervalId = setInterval(
      () => {
        const now = Date.now();
        for (const request of this.inflight.values()) if (now - request.sentAt > request.requestTimeout) request.timeoutRequest();
        if (!this.isConnected()) this.destroy();
      },
      Math.max(100, Math.min(1000, this.requestTimeout / 10)),
    );
  };
  return true;
}
