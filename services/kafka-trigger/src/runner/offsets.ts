/**
 * Offsets of one fetched batch of one partition: which are done (delivered, dead-lettered or
 * dropped) and the highest contiguous done offset, the only one that may be committed (SPEC §4).
 * Offsets are bigint-safe strings in Kafka; within a batch they fit a Number.
 */
export class BatchOffsets {
  readonly #offsets: number[];
  readonly #done: Uint8Array;
  readonly #first: number;
  #next = 0;

  constructor(offsets: readonly number[]) {
    this.#offsets = [...offsets];
    this.#done = new Uint8Array(offsets.length);
    this.#first = offsets[0] ?? 0;
  }

  /** Marks `offset` done; returns true when the contiguous prefix grew. */
  markDone(offset: number): boolean {
    // Offsets of a batch are usually consecutive: then the index is the distance from the first.
    let i = offset - this.#first;
    if (i < this.#next || this.#offsets[i] !== offset) i = this.#offsets.indexOf(offset, this.#next);
    if (i < 0) return false;
    this.#done[i] = 1;
    const before = this.#next;
    while (this.#next < this.#done.length && this.#done[this.#next] === 1) this.#next++;
    return this.#next > before;
  }

  /** The offset to commit (last contiguous done + 1), or undefined when nothing is done yet. */
  get commitOffset(): number | undefined {
    if (this.#next === 0) return undefined;
    return (this.#offsets[this.#next - 1] ?? -1) + 1;
  }

  get allDone(): boolean {
    return this.#next === this.#offsets.length;
  }
}

/**
 * The in-flight slots a partition holds until a commit covers their offsets, oldest first
 * (offsets only grow within a partition's generation). Numbers in two growing arrays, compacted
 * as the front is released, instead of an object per message.
 */
export class PermitQueue {
  #offsets: number[] = [];
  #bytes: number[] = [];
  #head = 0;

  get size(): number {
    return this.#offsets.length - this.#head;
  }

  push(offset: number, bytes: number): void {
    this.#offsets.push(offset);
    this.#bytes.push(bytes);
  }

  /** Removes the slots of offsets below `offset`; returns how many and their bytes. */
  releaseBelow(offset: number): { count: number; bytes: number } {
    let count = 0;
    let bytes = 0;
    const offsets = this.#offsets;
    while (this.#head < offsets.length && (offsets[this.#head] ?? Infinity) < offset) {
      bytes += this.#bytes[this.#head] ?? 0;
      this.#head++;
      count++;
    }
    this.#compact();
    return { count, bytes };
  }

  /** Removes every slot; returns how many and their bytes. */
  releaseAll(): { count: number; bytes: number } {
    let bytes = 0;
    for (let i = this.#head; i < this.#bytes.length; i++) bytes += this.#bytes[i] ?? 0;
    const count = this.size;
    this.#offsets = [];
    this.#bytes = [];
    this.#head = 0;
    return { count, bytes };
  }

  #compact(): void {
    if (this.#head === this.#offsets.length) {
      this.#offsets = [];
      this.#bytes = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#offsets.length) {
      this.#offsets = this.#offsets.slice(this.#head);
      this.#bytes = this.#bytes.slice(this.#head);
      this.#head = 0;
    }
  }
}

/**
 * What survives a rebalance in the committed offset's metadata: failed attempts of messages not
 * yet committed, and the message a `block` trigger is stuck on. Kept under Kafka's default
 * 4096-byte metadata limit by dropping the highest offsets first.
 */
export interface CommitMetadata {
  /** offset -> failed attempts so far */
  attempts: Map<number, number>;
  /** Set while a message is retried past its retries (onExhausted: block). */
  stalled?: { offset: number; reason: string; since: string } | undefined;
}

/** Bytes (UTF-8), under Kafka's default offset.metadata.max.bytes of 4096. */
const MAX_METADATA = 3000;

export function encodeMetadata(m: CommitMetadata): string {
  const a: Record<string, number> = {};
  const entries = [...m.attempts.entries()].sort((x, y) => x[0] - y[0]);
  const out: { v: 1; a: Record<string, number>; s?: CommitMetadata['stalled'] } = { v: 1, a };
  if (m.stalled) out.s = { ...m.stalled, reason: m.stalled.reason.slice(0, 300) };
  let text = JSON.stringify(out);
  for (const [o, n] of entries) {
    const next = JSON.stringify({ ...out, a: { ...out.a, [String(o)]: n } });
    if (Buffer.byteLength(next) > MAX_METADATA) break;
    a[String(o)] = n;
    text = next;
  }
  return text;
}

/** Parses what `encodeMetadata` wrote; anything else (another client's metadata) is empty. */
export function decodeMetadata(text: string | null | undefined): CommitMetadata {
  const m: CommitMetadata = { attempts: new Map() };
  if (!text) return m;
  try {
    const v = JSON.parse(text) as { v?: number; a?: Record<string, number>; s?: CommitMetadata['stalled'] };
    if (v.v !== 1) return m;
    for (const [o, n] of Object.entries(v.a ?? {})) if (Number.isInteger(Number(o)) && typeof n === 'number') m.attempts.set(Number(o), n);
    if (v.s && typeof v.s.offset === 'number') m.stalled = v.s;
  } catch {
    // Not ours: start counting from zero.
  }
  return m;
}
