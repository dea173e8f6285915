import type { MemoryBudget } from '@kubeless/delivery';
import type { Logger } from '@kubeless/observability';

/**
 * The process's memory budget at one consumer's fetches (docs/delivery.md#back-pressure): a fetch goes out only when its
 * bound fits, and the records it brought count until their deliveries end.
 *
 * A fetch from one broker is about to go out (the client says so synchronously, before it builds
 * the request): it may bring up to `bound()` bytes, so it goes out only if that much fits.
 * Otherwise every partition of the consumer is paused (the fetch then asks for nothing) and the
 * consumer queues for the room; once granted, it resumes and its next fetch uses it. Queued
 * consumers are served in order, so they take turns when the budget is tight. When a fetch lands,
 * its room passes to the batches it brought (`take`), and what they did not take is given back a
 * macrotask later: the room is handed over, never counted twice nor left uncounted in between.
 */
export class FetchBudget {
  readonly #budget: MemoryBudget;
  readonly #log: Logger;
  readonly #pauseAll: (on: boolean) => void;
  readonly #bound: () => number;
  /** Bytes reserved per broker fetch on the wire. */
  #open = new Map<number, number>();
  /** Bytes granted while this consumer waited, for its next fetch. */
  #prepaid = 0;
  /** Room of fetches that landed, until their batches took it over or a macrotask passed. */
  #landed = 0;
  #waiting: AbortController | undefined;
  #paused = false;

  constructor(o: { budget: MemoryBudget; log: Logger; pauseAll: (on: boolean) => void; bound: () => number }) {
    this.#budget = o.budget;
    this.#log = o.log;
    this.#pauseAll = o.pauseAll;
    this.#bound = o.bound;
  }

  get paused(): boolean {
    return this.#paused;
  }

  fetchStart(nodeId: number): void {
    const budget = this.#budget;
    // A fetch that failed without its end event: its room is free again.
    const stale = this.#open.get(nodeId);
    if (stale !== undefined) {
      this.#open.delete(nodeId);
      budget.release(stale);
    }
    // A fetch that begins while paused asks for nothing. If the resume reaches it before it builds
    // its request, the room granted for the resume covers it.
    if (this.#paused) return;
    const bound = Math.max(1, this.#bound());
    if (this.#prepaid > 0) {
      this.#open.set(nodeId, this.#prepaid);
      this.#prepaid = 0;
      return;
    }
    if (budget.tryReserve(bound)) {
      this.#open.set(nodeId, bound);
      return;
    }
    this.#paused = true;
    this.#pauseAll(true);
    const wait = new AbortController();
    this.#waiting = wait;
    this.#log.debug({ used: budget.used, limit: budget.limit, bound }, 'memory budget full; fetching paused');
    budget.acquire(bound, wait.signal).then(
      () => {
        if (this.#waiting !== wait) {
          budget.release(bound);
          return;
        }
        this.#waiting = undefined;
        this.#paused = false;
        this.#prepaid += bound;
        this.#pauseAll(false);
      },
      () => undefined,
    );
  }

  fetchEnd(nodeId: number): void {
    const bytes = this.#open.get(nodeId);
    if (bytes === undefined) return;
    this.#open.delete(nodeId);
    this.#landed += bytes;
    setImmediate(() => {
      const rest = Math.min(this.#landed, bytes);
      this.#landed -= rest;
      this.#budget.release(rest);
    });
  }

  /** A batch of `held` bytes arrived: it takes over room its fetch reserved, and only bytes beyond it are added. */
  hold(held: number): void {
    const taken = Math.min(this.#landed, held);
    this.#landed -= taken;
    this.#budget.reserve(held - taken);
  }

  /** A batch's records ended. */
  release(bytes: number): void {
    this.#budget.release(bytes);
  }

  /** Gives back every byte reserved for fetching and leaves the budget's queue (a stop or restart). */
  reset(): void {
    this.#waiting?.abort(new Error('stopped'));
    this.#waiting = undefined;
    let bytes = this.#prepaid + this.#landed;
    for (const b of this.#open.values()) bytes += b;
    this.#prepaid = 0;
    this.#landed = 0;
    this.#open = new Map();
    if (this.#paused) {
      this.#paused = false;
      this.#pauseAll(false);
    }
    this.#budget.release(bytes);
  }
}
