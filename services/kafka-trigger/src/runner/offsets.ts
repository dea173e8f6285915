/**
 * Offsets of one fetched batch of one partition: which are done (delivered, dead-lettered or
 * dropped) and the highest contiguous done offset, the only one that may be committed (SPEC §4).
 * Offsets are bigint-safe strings in Kafka; within a batch they fit a Number.
 */
export class BatchOffsets {
  readonly #offsets: number[];
  readonly #done: boolean[];
  #next = 0;

  constructor(offsets: readonly number[]) {
    this.#offsets = [...offsets];
    this.#done = offsets.map(() => false);
  }

  /** Marks `offset` done; returns true when the contiguous prefix grew. */
  markDone(offset: number): boolean {
    const i = this.#offsets.indexOf(offset, this.#next);
    if (i < 0) return false;
    this.#done[i] = true;
    const before = this.#next;
    while (this.#next < this.#done.length && this.#done[this.#next]) this.#next++;
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
