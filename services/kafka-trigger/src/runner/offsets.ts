/**
 * The offsets of one partition dispatched in this generation, oldest first, and which are done
 * (delivered, dead-lettered or dropped): the highest contiguous done offset is the only one that
 * may be committed (docs/delivery.md#commit-window). Offsets are pushed as they are dispatched (they only grow within a
 * generation, across batches) and leave once the done prefix passes them. Offsets are bigint-safe
 * strings in Kafka; within a partition's lifetime here they fit a Number.
 */
export class OffsetTracker {
  #offsets: number[] = [];
  #done: number[] = [];
  #head = 0;
  #commit: number | undefined;

  constructor(offsets: readonly number[] = []) {
    for (const o of offsets) this.push(o);
  }

  /** A dispatched offset, higher than every one pushed before. */
  push(offset: number): void {
    this.#offsets.push(offset);
    this.#done.push(0);
  }

  /** Marks `offset` done; returns true when the contiguous prefix grew. */
  markDone(offset: number): boolean {
    const offsets = this.#offsets;
    const head = this.#head;
    const first = offsets[head];
    if (first === undefined) return false;
    // Offsets are usually consecutive: then the index is the distance from the head.
    let i = head + (offset - first);
    if (i < head || i >= offsets.length || offsets[i] !== offset) i = this.#find(offset);
    if (i < 0 || this.#done[i] === 1) return false;
    this.#done[i] = 1;
    if (i !== head) return false;
    while (this.#head < offsets.length && this.#done[this.#head] === 1) this.#head++;
    this.#commit = (offsets[this.#head - 1] ?? -1) + 1;
    this.#compact();
    return true;
  }

  /** The offset to commit (last contiguous done + 1), or undefined when nothing is done yet. */
  get commitOffset(): number | undefined {
    return this.#commit;
  }

  /** Every dispatched offset is done. */
  get allDone(): boolean {
    return this.#head === this.#offsets.length;
  }

  /** Offsets dispatched and not yet passed by the done prefix. */
  get pending(): number {
    return this.#offsets.length - this.#head;
  }

  /** Offsets done beyond the done prefix (waiting for an earlier one). */
  doneAhead(): number[] {
    const out: number[] = [];
    for (let i = this.#head; i < this.#offsets.length; i++) if (this.#done[i] === 1) out.push(this.#offsets[i] ?? 0);
    return out;
  }

  /** Binary search among the offsets not yet passed (they are sorted); -1 when absent. */
  #find(offset: number): number {
    let lo = this.#head;
    let hi = this.#offsets.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.#offsets[mid] ?? 0;
      if (v === offset) return mid;
      if (v < offset) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  #compact(): void {
    if (this.#head === this.#offsets.length) {
      this.#offsets = [];
      this.#done = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#offsets.length) {
      this.#offsets = this.#offsets.slice(this.#head);
      this.#done = this.#done.slice(this.#head);
      this.#head = 0;
    }
  }
}

/**
 * A partition's commit window: the records dispatched and not yet covered by a commit, oldest
 * first (offsets only grow within a partition's generation), with their bytes. Numbers in two
 * growing arrays, compacted as the front is released, instead of an object per message.
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

/** Why a partition cannot move: a message past its retries (`block`), or a dead letter that keeps failing. */
export interface Stall {
  offset: number;
  reason: string;
  since: string;
  /** `retries` (onExhausted: block) or `deadLetter` (the dead-letter produce keeps failing); absent means `retries`. */
  cause?: 'retries' | 'deadLetter' | undefined;
}

/** Records that retention deleted before they were delivered (the group's offset fell below the log start). */
export interface Skipped {
  /** How many records, in all, since `at` was first set. */
  count: number;
  /** The last gap: the offset the group was at, and the log start it resumed from. */
  from: number;
  to: number;
  /** When the last gap was found (ISO time). */
  at: string;
}

/**
 * What survives a rebalance in the committed offset's metadata: failed attempts of messages not
 * yet committed, the message a partition is stuck on, records skipped by retention, and a tag of
 * the (namespace, trigger, function) that committed it (so a renamed group finds its predecessor).
 * Kept under Kafka's default 4096-byte metadata limit by dropping the highest offsets first.
 */
export interface CommitMetadata {
  /** offset -> failed attempts so far */
  attempts: Map<number, number>;
  /** Set while a message is retried past its retries (onExhausted: block) or its dead letter keeps failing. */
  stalled?: Stall | undefined;
  /** Records retention deleted before delivery (reported in status for a while). */
  skipped?: Skipped | undefined;
  /** A tag of the consumer that committed (see `ownerTag`). */
  owner?: string | undefined;
}

/** Bytes (UTF-8), under Kafka's default offset.metadata.max.bytes of 4096. */
const MAX_METADATA = 3000;

/**
 * `{"v":1,"a":{<offset>:<attempts>,...},"s":{...},"l":{...},"k":"..."}`, attempts in offset order,
 * as many as fit. Linear in the number of entries (it was quadratic once).
 */
export function encodeMetadata(m: CommitMetadata): string {
  let tail = '';
  if (m.stalled) tail += `,"s":${JSON.stringify({ ...m.stalled, reason: m.stalled.reason.slice(0, 300) })}`;
  if (m.skipped) tail += `,"l":${JSON.stringify(m.skipped)}`;
  if (m.owner !== undefined) tail += `,"k":${JSON.stringify(m.owner)}`;
  tail += '}';
  const head = '{"v":1,"a":{';
  // Every entry is ASCII (digits and punctuation): its length is its byte length.
  let size = head.length + 1 + Buffer.byteLength(tail);
  const parts: string[] = [];
  const entries = [...m.attempts.entries()].sort((x, y) => x[0] - y[0]);
  for (const [o, n] of entries) {
    const part = `"${String(o)}":${JSON.stringify(n)}`;
    const add = part.length + (parts.length > 0 ? 1 : 0);
    if (size + add > MAX_METADATA) break;
    parts.push(part);
    size += add;
  }
  return `${head}${parts.join(',')}}${tail}`;
}

/** Parses what `encodeMetadata` wrote; anything else (another client's metadata) is empty. */
export function decodeMetadata(text: string | null | undefined): CommitMetadata {
  const m: CommitMetadata = { attempts: new Map() };
  if (!text) return m;
  try {
    const v = JSON.parse(text) as { v?: number; a?: Record<string, number>; s?: Stall; l?: Skipped; k?: unknown };
    if (v.v !== 1) return m;
    for (const [o, n] of Object.entries(v.a ?? {})) if (Number.isInteger(Number(o)) && typeof n === 'number') m.attempts.set(Number(o), n);
    if (v.s && typeof v.s.offset === 'number') m.stalled = v.s;
    if (v.l && typeof v.l.count === 'number' && typeof v.l.at === 'string') m.skipped = v.l;
    if (typeof v.k === 'string') m.owner = v.k;
  } catch {
    // Not ours: start counting from zero.
  }
  return m;
}

/**
 * The stall a partition reports: the lowest of its blocked offsets (in unordered and key-ordered
 * modes several may be blocked at once; one settling must not make the partition look flowing).
 */
export function lowestStall(stalls: ReadonlyMap<number, Stall>): Stall | undefined {
  let low: Stall | undefined;
  for (const s of stalls.values()) if (!low || s.offset < low.offset) low = s;
  return low;
}
