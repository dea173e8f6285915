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
  done: ((ok: boolean) => void) | undefined;
}

const BATCH = 10;

/**
 * Batched deletes (DeleteMessageBatch), decoupled from the deliveries: a batch goes out when 10
 * entries are pending or `intervalMs` after the first one, whichever comes first. At most
 * `maxPending` deletes are outstanding (queued or in a call): `add` says when that cap is reached,
 * so the caller holds its delivery slot until there is room again (back-pressure, and a crash
 * repeats at most the trigger's in-flight window plus `maxPending` messages). A delete refused by
 * SQS (an expired receipt handle) or a call that failed 3 times means the message comes back and is
 * delivered again: never lost.
 */
export class DeleteBatcher {
  readonly #send: SendBatch;
  #intervalMs: number;
  readonly #maxPending: number;
  readonly #logger: Logger;
  #pending: Pending[] = [];
  /** Deletes queued or in a call not yet answered. */
  #outstanding = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #roomWaiters: (() => void)[] = [];

  constructor(o: { send: SendBatch; intervalMs: number; logger: Logger; maxPending?: number | undefined }) {
    this.#send = o.send;
    this.#intervalMs = o.intervalMs;
    this.#logger = o.logger;
    this.#maxPending = Math.max(BATCH, o.maxPending ?? 100);
  }

  /** Deletes queued or in a call not yet answered. */
  get outstanding(): number {
    return this.#outstanding;
  }

  /**
   * Queues the delete of one receipt handle. Returns undefined while fewer than `maxPending`
   * deletes are outstanding, else a promise that resolves once there is room again. `done`, if
   * given, learns whether SQS confirmed this delete.
   */
  add(handle: string, done?: (ok: boolean) => void): Promise<void> | undefined {
    this.#pending.push({ handle, done });
    this.#outstanding++;
    if (this.#pending.length >= BATCH) this.#sendPending();
    else this.#timer ??= setTimeout(() => {
      this.#sendPending();
    }, this.#intervalMs);
    if (this.#outstanding < this.#maxPending) return undefined;
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  /** Queues a delete and resolves true once SQS confirmed it, false when it refused it. */
  delete(handle: string): Promise<boolean> {
    return new Promise((resolve) => void this.add(handle, resolve));
  }

  /**
   * From now on a delete goes out as soon as it is queued (deletes queued in the same tick share a
   * call), and what is pending goes now: for a stop, so that deliveries finishing during the drain
   * are deleted during it.
   */
  hurry(): void {
    this.#intervalMs = 0;
    this.#sendPending();
  }

  /**
   * Sends everything pending now and waits for every call in flight, at most `timeoutMs` (default
   * no limit). Resolves true when every delete was answered, false when the time ran out first
   * (those calls go on; their messages may come back).
   */
  async flush(timeoutMs?: number): Promise<boolean> {
    this.#sendPending();
    const all = (async (): Promise<true> => {
      while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
      return true;
    })();
    if (timeoutMs === undefined) return all;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => {
      timer = setTimeout(() => {
        resolve(false);
      }, timeoutMs);
    });
    try {
      return await Promise.race([all, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  #sendPending(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, BATCH);
      const p = this.#sendOne(batch).finally(() => {
        this.#inFlight.delete(p);
        this.#outstanding -= batch.length;
        while (this.#outstanding < this.#maxPending && this.#roomWaiters.length > 0) this.#roomWaiters.shift()?.();
      });
      this.#inFlight.add(p);
    }
  }

  async #sendOne(batch: Pending[]): Promise<void> {
    const entries = batch.map((b, i) => ({ Id: `m${String(i)}`, ReceiptHandle: b.handle }));
    for (let attempt = 1; ; attempt++) {
      try {
        const { failed } = await this.#send(entries);
        if (failed.length > 0) {
          this.#logger.warn({ failed: failed.length, reason: failed[0]?.message }, 'sqs refused some deletes; those messages will be delivered again');
          const bad = new Set(failed.map((f) => f.id));
          batch.forEach((b, i) => b.done?.(!bad.has(`m${String(i)}`)));
        } else {
          for (const b of batch) b.done?.(true);
        }
        return;
      } catch (err) {
        if (attempt >= 3) {
          this.#logger.warn({ err, count: batch.length }, 'delete batch failed; those messages will be delivered again');
          for (const b of batch) b.done?.(false);
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
 * The visibility heartbeat (docs/delivery.md#sqs): while a message is held (in delivery, or
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
