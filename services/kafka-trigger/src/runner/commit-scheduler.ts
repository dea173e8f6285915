/**
 * When offsets are committed (docs/delivery.md#commit-window): the time side of the commit
 * window. Each OffsetCommit costs the trigger a socket write and the broker a request through its
 * group coordinator, so one commit should cover many deliveries; and every record delivered since
 * the last commit is delivered again after a crash, so none should wait long. The rules:
 *
 * 1. Finished work waits at most `intervalMs` for a commit to start (a timer from the first
 *    request after the last commit started).
 * 2. An `urgent` request starts a commit at once: a partition's commit window is half full, or
 *    full and paused (its room comes back only with a commit), or the runner flushes.
 * 3. At most `maxInFlight` commits at once (requests on one connection are answered in order; a
 *    second one carries what finished during the first one's round trip). An urgent request while
 *    they are all out starts the next commit as soon as one ends.
 * 4. A failed commit (a rebalance, a moved coordinator) is retried after `retryDelayMs`, with the
 *    offsets of that moment.
 *
 * What a commit contains is the caller's (`commit`): this class only decides when.
 */
export interface CommitSchedulerOptions {
  intervalMs: number;
  /** Commits everything marked so far; resolves false when there was nothing to commit. */
  commit: () => Promise<boolean>;
  maxInFlight?: number;
  retryDelayMs?: number;
  /** A commit failed (for a debug log). */
  onError?: (err: unknown) => void;
}

export const DEFAULT_MAX_COMMITS_IN_FLIGHT = 2;
export const DEFAULT_COMMIT_RETRY_MS = 250;

export class CommitScheduler {
  readonly #o: Required<Omit<CommitSchedulerOptions, 'onError'>> & Pick<CommitSchedulerOptions, 'onError'>;
  readonly #running = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #dirty = false;
  #urgent = false;
  #closed = false;

  constructor(o: CommitSchedulerOptions) {
    this.#o = { maxInFlight: DEFAULT_MAX_COMMITS_IN_FLIGHT, retryDelayMs: DEFAULT_COMMIT_RETRY_MS, ...o };
  }

  /** Commits running now. */
  get inFlight(): number {
    return this.#running.size;
  }

  /** Work is marked for a commit: it starts within the interval, or at once when `urgent`. */
  request(urgent = false): void {
    if (this.#closed) return;
    this.#dirty = true;
    if (urgent) {
      this.#urgent = true;
      this.#startNow();
      return;
    }
    this.#arm(this.#o.intervalMs);
  }

  /**
   * Commits until nothing is marked and nothing is on the wire (a stop, a revoke). A commit that
   * fails is tried `attempts` times in all; false when something was left uncommitted.
   */
  async flush(attempts = 3): Promise<boolean> {
    let failures = 0;
    this.#dirty = true;
    for (;;) {
      // What is on the wire ends first (its failure says nothing about ours).
      await Promise.allSettled(this.#running);
      if (!this.#dirty) return true;
      this.#dirty = false;
      try {
        await this.#o.commit();
      } catch (err) {
        this.#o.onError?.(err);
        this.#dirty = true;
        if (++failures >= attempts) return false;
      }
    }
  }

  /** No more commits (a stopped consumer); a commit on the wire ends on its own. */
  close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    return Promise.allSettled(this.#running).then(() => undefined);
  }

  #arm(delayMs: number): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#urgent = true;
      this.#startNow();
    }, delayMs);
    this.#timer.unref();
  }

  #startNow(): void {
    if (this.#closed || !this.#dirty) return;
    if (this.#running.size >= this.#o.maxInFlight) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#dirty = false;
    this.#urgent = false;
    const run: Promise<void> = this.#o.commit().then(
      () => {
        this.#running.delete(run);
        // Requested while this one ran: urgent ones go now, the rest within the interval.
        if (this.#dirty) {
          if (this.#urgent) this.#startNow();
          else this.#arm(this.#o.intervalMs);
        }
      },
      (err: unknown) => {
        this.#running.delete(run);
        this.#o.onError?.(err);
        if (this.#closed) return;
        this.#dirty = true;
        clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#arm(this.#o.retryDelayMs);
      },
    );
    this.#running.add(run);
  }
}
