import type { Logger } from '@kubeless/observability';

/** One entry of an SQS batch call; `Id` is unique within the call only. */
export interface BatchEntry {
  Id: string;
  ReceiptHandle: string;
}

/** Sends one batch (at most 10 entries); resolves with the Ids SQS refused, throws on a failed call. */
export type SendBatch = (entries: BatchEntry[]) => Promise<{ failed: { id: string; message: string }[] }>;

interface Pending {
  handle: string;
  resolve: (ok: boolean) => void;
}

const BATCH = 10;

/**
 * Batched deletes (DeleteMessageBatch): a batch goes out when 10 entries are pending or
 * `intervalMs` after the first one, whichever comes first. `delete` resolves true once SQS
 * confirmed the delete, false when it refused it (an expired receipt handle: the message comes
 * back and is delivered again, never lost). A failed call is retried 3 times before giving up.
 */
export class DeleteBatcher {
  readonly #send: SendBatch;
  readonly #intervalMs: number;
  readonly #logger: Logger;
  #pending: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(o: { send: SendBatch; intervalMs: number; logger: Logger }) {
    this.#send = o.send;
    this.#intervalMs = o.intervalMs;
    this.#logger = o.logger;
  }

  delete(handle: string): Promise<boolean> {
    return new Promise((resolve) => {
      this.#pending.push({ handle, resolve });
      if (this.#pending.length >= BATCH) this.#sendPending();
      else this.#timer ??= setTimeout(() => {
        this.#sendPending();
      }, this.#intervalMs);
    });
  }

  /** Sends everything pending now and waits for every call in flight. */
  async flush(): Promise<void> {
    this.#sendPending();
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  #sendPending(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, BATCH);
      const p = this.#sendOne(batch).finally(() => this.#inFlight.delete(p));
      this.#inFlight.add(p);
    }
  }

  async #sendOne(batch: Pending[]): Promise<void> {
    const entries = batch.map((b, i) => ({ Id: `m${String(i)}`, ReceiptHandle: b.handle }));
    for (let attempt = 1; ; attempt++) {
      try {
        const { failed } = await this.#send(entries);
        const bad = new Map(failed.map((f) => [f.id, f.message]));
        if (bad.size > 0) this.#logger.warn({ failed: bad.size, reason: [...bad.values()][0] }, 'sqs refused some deletes; those messages will be delivered again');
        batch.forEach((b, i) => {
          b.resolve(!bad.has(`m${String(i)}`));
        });
        return;
      } catch (err) {
        if (attempt >= 3) {
          this.#logger.warn({ err, count: batch.length }, 'delete batch failed; those messages will be delivered again');
          for (const b of batch) b.resolve(false);
          return;
        }
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  }
}

/** Sends one visibility batch (at most 10 entries) with a timeout in seconds. */
export type ExtendBatch = (entries: BatchEntry[], visibilitySec: number) => Promise<void>;

interface Tracked {
  handle: string;
  extendedAt: number;
}

/**
 * The visibility heartbeat (peers.md "SQS done right"): while a message is held (in delivery, or
 * waiting behind its FIFO group), its visibility is extended back to `visibilitySec` each time half
 * of it has passed, in ChangeMessageVisibilityBatch calls of up to 10. A failed extension is
 * logged: the message may then be delivered twice, never lost.
 */
export class VisibilityHeartbeat {
  readonly #extend: ExtendBatch;
  readonly #visibilityMs: number;
  readonly #visibilitySec: number;
  readonly #logger: Logger;
  readonly #tracked = new Map<object, Tracked>();
  #timer: NodeJS.Timeout | undefined;

  constructor(o: { extend: ExtendBatch; visibilitySec: number; logger: Logger; now?: () => number }) {
    this.#extend = o.extend;
    this.#visibilitySec = Math.max(1, o.visibilitySec);
    this.#visibilityMs = this.#visibilitySec * 1000;
    this.#logger = o.logger;
  }

  get size(): number {
    return this.#tracked.size;
  }

  start(): void {
    const period = Math.max(200, Math.min(5000, this.#visibilityMs / 4));
    this.#timer = setInterval(() => {
      this.#tick();
    }, period);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Held since it was received at `receivedAt` (ms); `key` identifies this receive of the message. */
  track(key: object, handle: string, receivedAt: number): void {
    this.#tracked.set(key, { handle, extendedAt: receivedAt });
  }

  untrack(key: object): void {
    this.#tracked.delete(key);
  }

  #tick(): void {
    const now = Date.now();
    const due = [...this.#tracked.values()].filter((t) => now - t.extendedAt >= this.#visibilityMs / 2);
    for (let i = 0; i < due.length; i += 10) {
      const batch = due.slice(i, i + 10);
      for (const t of batch) t.extendedAt = now;
      this.#extend(
        batch.map((t, j) => ({ Id: `h${String(j)}`, ReceiptHandle: t.handle })),
        this.#visibilitySec,
      ).catch((err: unknown) => {
        this.#logger.warn({ err, count: batch.length }, 'visibility extension failed');
      });
    }
  }
}
