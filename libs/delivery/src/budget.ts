import { abortError } from './limits.js';

interface BudgetWaiter {
  bytes: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export type BudgetEvent = 'over' | 'under';


/**
 * One memory budget per controller process, shared by all its runners (docs/delivery.md#back-pressure;
 * without it, many triggers' fetches together could outgrow the container's memory): the
 * bytes of messages they hold (fetched batches, deliveries in flight, messages waiting for a retry)
 * are counted here, and a runner asks for room before it fetches more.
 *
 *  - `reserve(bytes)` counts bytes that are already held (a batch that arrived): it never refuses,
 *    so the count stays true even when it goes over `limit`.
 *  - `tryReserve(bytes)` / `acquire(bytes, signal)` ask for room before fetching: granted when
 *    `used + bytes <= limit` (or when nothing is held, so one item larger than the whole budget
 *    cannot wait forever), first come first served: nobody overtakes a waiter.
 *  - `release(bytes)` gives bytes back and grants waiters that now fit.
 *  - `over` is true while `used > limit`; the events `over` and `under` fire on each crossing
 *    (`under` once `used <= limit` again). `whenUnder(signal)` waits for that.
 *  - `highWater` is the most ever held at once (for tests and the metrics).
 * Synchronous bookkeeping; only `acquire` and `whenUnder` wait, and both reject with the signal's
 * reason when it aborts first.
 */
export class MemoryBudget {
  readonly limit: number;
  #used = 0;
  #highWater = 0;
  #over = false;
  readonly #waiters: BudgetWaiter[] = [];
  readonly #listeners = new Map<BudgetEvent, Set<() => void>>();

  constructor(limitBytes: number) {
    if (!(limitBytes >= 1) || !Number.isFinite(limitBytes)) throw new RangeError('MemoryBudget needs a finite limit >= 1 byte');
    this.limit = limitBytes;
  }

  get used(): number {
    return this.#used;
  }

  get highWater(): number {
    return this.#highWater;
  }

  get over(): boolean {
    return this.#over;
  }

  /** Callers queued in `acquire`. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Calls `listener` on every crossing of the limit; returns the function that removes it. */
  on(event: BudgetEvent, listener: () => void): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  /** Counts bytes already held; never refuses (see the class comment). */
  reserve(bytes: number): void {
    if (bytes <= 0) return;
    this.#add(bytes);
  }

  /** Takes room for `bytes` now if it fits and nobody waits before us. */
  tryReserve(bytes: number): boolean {
    if (this.#waiters.length > 0 || !this.#fits(bytes)) return false;
    this.#add(Math.max(0, bytes));
    return true;
  }

  /** Waits (first come first served) for room for `bytes`; rejects when `signal` aborts first. */
  acquire(bytes: number, signal?: AbortSignal): Promise<void> {
    if (this.tryReserve(bytes)) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.#waiters.indexOf(w);
        if (i < 0) return;
        this.#waiters.splice(i, 1);
        reject(abortError(signal));
        // The head may have been the one that did not fit: those behind it may fit now.
        this.#grant();
      };
      const w: BudgetWaiter = {
        bytes: Math.max(0, bytes),
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject,
      };
      this.#waiters.push(w);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Gives bytes back (never below zero) and grants the waiters that now fit. */
  release(bytes: number): void {
    if (bytes <= 0) return;
    this.#used = Math.max(0, this.#used - bytes);
    this.#grant();
    this.#check();
  }

  /** Resolves once `used <= limit` (at once when it is). */
  whenUnder(signal?: AbortSignal): Promise<void> {
    if (!this.#over) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        off();
        reject(abortError(signal));
      };
      const off = this.on('under', () => {
        off();
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #fits(bytes: number): boolean {
    return this.#used + bytes <= this.limit || this.#used === 0;
  }

  #add(bytes: number): void {
    this.#used += bytes;
    if (this.#used > this.#highWater) this.#highWater = this.#used;
    this.#check();
  }

  #grant(): void {
    for (;;) {
      const w = this.#waiters[0];
      if (!w || !this.#fits(w.bytes)) return;
      this.#waiters.shift();
      this.#add(w.bytes);
      w.resolve();
    }
  }

  #check(): void {
    const over = this.#used > this.limit;
    if (over === this.#over) return;
    this.#over = over;
    for (const l of [...(this.#listeners.get(over ? 'over' : 'under') ?? [])]) l();
  }
}

/** The budget when neither MEMORY_BUDGET_BYTES nor a container limit is known. */
export const DEFAULT_MEMORY_BUDGET_BYTES = 256 * 1024 * 1024;
/**
 * The share of the container's memory limit a trigger controller's message budget takes by
 * default. The budget counts message bytes held, not the process's baseline (about 100 MiB for a
 * kafka-trigger) nor garbage not yet collected (measured: about 100 MiB more with 512 KiB
 * records), so less than half: 40% of the chart's 512 MiB leaves room for both.
 */
export const MEMORY_BUDGET_SHARE = 0.4;

/** A controller's memory budget: `budgetBytes` when set, else MEMORY_BUDGET_SHARE of `limitBytes`, else the default. */
export function memoryBudgetBytes(budgetBytes: number | undefined, limitBytes: number | undefined): number {
  if (budgetBytes !== undefined) return budgetBytes;
  return limitBytes === undefined ? DEFAULT_MEMORY_BUDGET_BYTES : Math.floor(limitBytes * MEMORY_BUDGET_SHARE);
}
