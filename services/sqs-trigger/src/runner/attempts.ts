/** What this process knows about the receives of one message. */
interface Entry {
  /** Receives given back unprocessed (behind a failing FIFO head, at a stop). */
  giveBacks: number;
  /** Real delivery attempts that failed (or were cut short) here. */
  failures: number;
}

/** The attempt a receive is, and whether its failure ends the message's retries. */
export interface AttemptCount {
  /** Which attempt this receive is, counting from 1: its receive count less the receives given back here (never below `local`). */
  attempt: number;
  /** Real attempts made by this process, this one included. */
  local: number;
}

/** The default number of messages remembered (about 100 bytes each). */
export const DEFAULT_LEDGER_ENTRIES = 100_000;

/**
 * Counts the delivery attempts of SQS messages by real deliveries, not receives (docs/delivery.md#sqs).
 *
 * SQS counts receives (`ApproximateReceiveCount`), and a receive that was given back unprocessed
 * (a message waiting behind a failing FIFO head, one released at a stop) raises it too. This
 * ledger remembers, per MessageId, the give-backs and failed attempts of this process, so a
 * message gets its own `retry + 1` attempts however often it had to wait. Only messages that
 * were given back or failed have an entry (a message delivered at its first receive never does);
 * it is forgotten once the message is deleted, and the oldest entries go beyond `maxEntries`
 * (such a message then counts from its receive count again, as after a restart).
 *
 * One ledger serves every receiver of a process (MessageIds are unique), so a receiver restarted
 * for a spec change keeps the count. What other replicas, or this replica before a restart, did
 * is unknown: the receive count is the only record. The safe side is taken: a message is
 * exhausted after `retry + 1` failed attempts made here, or once its receive count (less the
 * give-backs known here) reaches twice that (`2 × (retry + 1)`). So after a restart a message
 * that the stopped replica gave back g times gets min(retry + 1, 2 × (retry + 1) − g) attempts
 * (at least one) before its dead letter, and with several replicas (competing consumers) a poison
 * message gets between retry + 1 and 2 × (retry + 1) − 1 attempts in all.
 */
export class AttemptLedger {
  readonly #max: number;
  readonly #entries = new Map<string, Entry>();

  constructor(maxEntries = DEFAULT_LEDGER_ENTRIES) {
    this.#max = Math.max(1, maxEntries);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The attempt a receive with `receiveCount` is (before it is tried). */
  count(id: string, receiveCount: number): AttemptCount {
    const e = this.#entries.get(id);
    const local = (e?.failures ?? 0) + 1;
    return { attempt: Math.max(local, receiveCount - (e?.giveBacks ?? 0)), local };
  }

  /** A receive of `id` was given back without a delivery attempt. */
  gaveBack(id: string): void {
    this.#touch(id).giveBacks++;
  }

  /** A delivery attempt of `id` failed (or was cut short): the next receive is a retry. */
  failed(id: string): void {
    this.#touch(id).failures++;
  }

  /** `id` was deleted (delivered, dead-lettered or dropped): nothing more to count. */
  forget(id: string): void {
    this.#entries.delete(id);
  }

  #touch(id: string): Entry {
    let e = this.#entries.get(id);
    if (e) {
      // Most recently used last: eviction takes the messages not seen for longest.
      this.#entries.delete(id);
    } else {
      e = { giveBacks: 0, failures: 0 };
      if (this.#entries.size >= this.#max) {
        const oldest = this.#entries.keys().next().value;
        if (oldest !== undefined) this.#entries.delete(oldest);
      }
    }
    this.#entries.set(id, e);
    return e;
  }
}

/**
 * Pure: whether a failed attempt used up the message's retries (see AttemptLedger): `retry + 1`
 * failed attempts here, or a receive count (less the give-backs known here) of `2 × (retry + 1)`.
 */
export function attemptsExhausted(retry: number, c: AttemptCount): boolean {
  return c.local >= retry + 1 || c.attempt >= 2 * (retry + 1);
}
