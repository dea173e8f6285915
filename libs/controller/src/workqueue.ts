import { exponentialBackoff } from './backoff.js';

export interface WorkQueueOptions {
  /** Per-item retry backoff: base and cap. Default 5 ms to 1000 s (controller-runtime). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Global token bucket for retries: rate per second and burst. Default 10 qps, burst 100. */
  qps?: number;
  burst?: number;
  /** Injected clock, for tests under fake timers. */
  now?: () => number;
}

/**
 * A rate-limited work queue of string keys, after client-go's: a key is queued at most once; a
 * key being processed is never handed out again until `done(key)` (a re-add while processing is
 * remembered and queued after `done`); `addRateLimited` waits for the larger of the key's own
 * exponential backoff and the global token bucket; `forget` resets the key's backoff.
 */
export class WorkQueue {
  readonly #queue: string[] = [];
  readonly #queued = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #waiters: ((key: string | undefined) => void)[] = [];
  readonly #opts: Required<Omit<WorkQueueOptions, 'now'>>;
  readonly #now: () => number;
  #tokens: number;
  #lastRefill: number;
  #shutdown = false;

  constructor(options: WorkQueueOptions = {}) {
    this.#opts = {
      baseDelayMs: options.baseDelayMs ?? 5,
      maxDelayMs: options.maxDelayMs ?? 1_000_000,
      qps: options.qps ?? 10,
      burst: options.burst ?? 100,
    };
    this.#now = options.now ?? Date.now;
    this.#tokens = this.#opts.burst;
    this.#lastRefill = this.#now();
  }

  /** Keys waiting (not counting those being processed or delayed). */
  get length(): number {
    return this.#queue.length;
  }

  /** Keys handed out and not yet done. */
  get processing(): number {
    return this.#processing.size;
  }

  /** Keys waiting for a delayed add. */
  get delayed(): number {
    return this.#timers.size;
  }

  get isShutdown(): boolean {
    return this.#shutdown;
  }

  /** Queues `key` now, unless it is already queued; while it is processing, after `done`. */
  add(key: string): void {
    if (this.#shutdown) return;
    const timer = this.#timers.get(key);
    if (timer) {
      clearTimeout(timer);
      this.#timers.delete(key);
    }
    if (this.#processing.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#processing.add(key);
      waiter(key);
      return;
    }
    this.#queued.add(key);
    this.#queue.push(key);
  }

  /** Queues `key` after `delayMs`; an earlier pending delay for the key is kept if sooner. */
  addAfter(key: string, delayMs: number): void {
    if (this.#shutdown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    if (this.#timers.has(key) || this.#queued.has(key)) return;
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.#timers.set(key, timer);
  }

  /** The delay `addRateLimited` would use now, and records the failure. */
  nextRetryDelay(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    const itemDelay = exponentialBackoff(failures, this.#opts.baseDelayMs, this.#opts.maxDelayMs);
    return Math.max(itemDelay, this.#reserveToken());
  }

  /** Queues `key` after its backoff; each call counts as one more failure of the key. */
  addRateLimited(key: string): number {
    const delay = this.nextRetryDelay(key);
    this.addAfter(key, delay);
    return delay;
  }

  /** How many times `key` has been retried since the last `forget`. */
  retries(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Resets the key's backoff (call on success). */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  // Token bucket: the delay until a token is free, reserving it (as golang.org/x/time/rate Reserve).
  #reserveToken(): number {
    const now = this.#now();
    this.#tokens = Math.min(this.#opts.burst, this.#tokens + ((now - this.#lastRefill) / 1000) * this.#opts.qps);
    this.#lastRefill = now;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens / this.#opts.qps) * 1000);
  }

  /** Resolves with the next key (marking it processing), or undefined once shut down. */
  get(): Promise<string | undefined> {
    const key = this.#queue.shift();
    if (key !== undefined) {
      this.#queued.delete(key);
      this.#processing.add(key);
      return Promise.resolve(key);
    }
    if (this.#shutdown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Marks `key` processed; a re-add that arrived meanwhile is queued now. */
  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.delete(key)) this.add(key);
  }

  /** Stops handing out keys; waiting `get()` calls resolve with undefined; delayed adds are dropped. */
  shutdown(): void {
    this.#shutdown = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    for (const w of this.#waiters.splice(0)) w(undefined);
  }
}
