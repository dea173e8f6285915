interface Waiter {
  bytes: number;
  resolve: () => void;
  reject: (err: Error) => void;
  signal: AbortSignal | undefined;
}

/** The error a wait rejects with when its signal aborts: the signal's reason, if it is an Error. */
export const abortError = (signal: AbortSignal | undefined): Error => (signal?.reason instanceof Error ? signal.reason : new Error('aborted'));

/**
 * Bounds work in flight by count and by bytes (back-pressure: docs/delivery.md#back-pressure).
 * Waiters are served in FIFO order so a large message is not starved by small ones. One item larger
 * than `maxBytes` is admitted when nothing else holds bytes, so it cannot block forever.
 */
export class InFlightLimiter {
  readonly maxCount: number;
  readonly maxBytes: number;
  #count = 0;
  #bytes = 0;
  readonly #waiters: Waiter[] = [];
  /**
   * Signals this limiter listens to: one listener per signal for its life, not one added and
   * removed per wait (a full limiter waits once per record; EventTarget calls are not cheap).
   */
  readonly #watched = new WeakSet<AbortSignal>();

  constructor(maxCount: number, maxBytes: number) {
    if (!(maxCount >= 1) || !(maxBytes >= 1)) throw new RangeError('InFlightLimiter needs maxCount >= 1 and maxBytes >= 1');
    this.maxCount = maxCount;
    this.maxBytes = maxBytes;
  }

  get count(): number {
    return this.#count;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Callers queued for a slot. */
  get waiting(): number {
    return this.#waiters.length;
  }

  #fits(bytes: number): boolean {
    return this.#count < this.maxCount && (this.#bytes + bytes <= this.maxBytes || this.#bytes === 0);
  }

  /** Takes a slot now if one is free (and nobody is queued before us). */
  tryAcquire(bytes: number): boolean {
    if (this.#waiters.length > 0 || !this.#fits(bytes)) return false;
    this.#count++;
    this.#bytes += bytes;
    return true;
  }

  /** Waits for a slot; rejects with the signal's reason when it aborts first. */
  acquire(bytes: number, signal?: AbortSignal): Promise<void> {
    if (this.tryAcquire(bytes)) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({ bytes, resolve, reject, signal });
      if (signal && !this.#watched.has(signal)) {
        this.#watched.add(signal);
        signal.addEventListener(
          'abort',
          () => {
            this.#abortWaiters(signal);
          },
          { once: true },
        );
      }
    });
  }

  /** `signal` aborted: its waiters leave the queue (in order) and reject; the rest may fit now. */
  #abortWaiters(signal: AbortSignal): void {
    const dropped = this.#waiters.filter((w) => w.signal === signal);
    if (dropped.length === 0) return;
    const kept = this.#waiters.filter((w) => w.signal !== signal);
    this.#waiters.length = 0;
    this.#waiters.push(...kept);
    const err = abortError(signal);
    for (const w of dropped) w.reject(err);
    this.#wake();
  }

  release(bytes: number): void {
    this.releaseMany(1, bytes);
  }

  /** Gives back `count` slots holding `bytes` in all (one wake-up for a whole commit). */
  releaseMany(count: number, bytes: number): void {
    if (count <= 0 && bytes <= 0) return;
    this.#count = Math.max(0, this.#count - count);
    this.#bytes = Math.max(0, this.#bytes - bytes);
    this.#wake();
  }

  #wake(): void {
    for (;;) {
      const w = this.#waiters[0];
      if (!w || !this.#fits(w.bytes)) return;
      this.#waiters.shift();
      this.#count++;
      this.#bytes += w.bytes;
      w.resolve();
    }
  }
}

/**
 * A token bucket: `take()` resolves when an event may go, at most `ratePerSecond` on average with
 * a burst of one second's worth. Callers are served in order.
 */
export class RateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #last: number;
  readonly #now: () => number;

  constructor(ratePerSecond: number, now: () => number = () => performance.now()) {
    if (!(ratePerSecond > 0)) throw new RangeError('rate must be > 0');
    this.#rate = ratePerSecond;
    this.#burst = Math.max(1, ratePerSecond);
    this.#tokens = this.#burst;
    this.#now = now;
    this.#last = now();
  }

  /** ms until a token is free (0 = now), taking it. Pure bookkeeping; `take` does the waiting. */
  reserve(): number {
    const t = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((t - this.#last) * this.#rate) / 1000);
    this.#last = t;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens * 1000) / this.#rate);
  }

  take(signal?: AbortSignal): Promise<void> {
    // The reservation already queues behind earlier callers (the bucket went negative for them),
    // so each caller sleeps its own wait from now; timers fire in reservation order.
    const wait = this.reserve();
    if (wait > 0) return sleep(wait, signal);
    // A free token: no macrotask per event on the hot path (take is no retry loop).
    return signal?.aborted ? Promise.reject(abortError(signal)) : Promise.resolve();
  }
}

/**
 * Resolves after `ms`, or rejects with the signal's reason when it aborts first. `ms <= 0` still
 * waits for the next turn of the event loop (setImmediate): a retry loop that sleeps 0 ms lets
 * timers and I/O (heartbeats, commits, /healthz) run instead of spinning on microtasks.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const done = (): void => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    let cancel: () => void;
    if (ms > 0) {
      const t = setTimeout(done, ms);
      cancel = () => {
        clearTimeout(t);
      };
    } else {
      const t = setImmediate(done);
      cancel = () => {
        clearImmediate(t);
      };
    }
    const onAbort = (): void => {
      cancel();
      reject(abortError(signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
