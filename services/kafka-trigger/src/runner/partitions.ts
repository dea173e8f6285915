import type { ConsumerSpec } from '../plan.js';
import { encodeMetadata, lowestStall } from './offsets.js';
import { carryOf, commitOffsetOf, newPartition, type Carried, type PartitionLag, type PartitionState } from './partition.js';
import type { BatchContext, OffsetCommit } from './port.js';
import { SKIP_REPORT_MS, type Prepared } from './start-position.js';

/**
 * The longest an offset commit may take before it counts as failed (and is retried with the
 * offsets of that moment): a commit that never answers (a connection left half-open by a broker
 * restart) would otherwise hold its slot, and the commit windows waiting on it, for good.
 */
export const COMMIT_TIMEOUT_MS = 10_000;

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`offset commit did not answer within ${String(ms)} ms`));
    }, ms);
  });
  return Promise.race([p, timeout]).finally(() => {
    clearTimeout(timer);
  });
}

/**
 * The partitions of the current group generation of one consumer, and what the ending ones had
 * done (see Carried). A generation ends at every join, restart and failed heartbeat: its
 * partitions are revoked (their jobs stop, nothing of theirs is committed again) and forgotten.
 */
export class PartitionTable {
  readonly #spec: ConsumerSpec;
  readonly #owner: string;
  readonly #parts = new Map<string, PartitionState>();
  readonly #carried = new Map<string, Carried>();
  /** Lag of the partitions assigned to this member, by `topic/partition` (kept across generations while assigned). */
  readonly #lag = new Map<string, PartitionLag>();
  #generation = 0;

  constructor(o: { spec: ConsumerSpec; owner: string }) {
    this.#spec = o.spec;
    this.#owner = o.owner;
  }

  /** The lag of each partition assigned to this member, after its last batch (read at a scrape). */
  lag(): IterableIterator<PartitionLag> {
    return this.#lag.values();
  }

  #lagOf(k: string, topic: string, partition: number): PartitionLag {
    let l = this.#lag.get(k);
    if (!l) {
      const s = this.#spec;
      l = { labels: { namespace: s.namespace, trigger: s.trigger, function: s.function, topic, partition: String(partition) }, value: 0 };
      this.#lag.set(k, l);
    }
    return l;
  }

  /** Changes whenever a generation ends (a batch that awaited across it belongs to the old one). */
  get generation(): number {
    return this.#generation;
  }

  get(topic: string, partition: number): PartitionState | undefined {
    return this.#parts.get(`${topic}/${String(partition)}`);
  }

  values(): IterableIterator<PartitionState> {
    return this.#parts.values();
  }

  /** The partition's state in this generation, made from where it starts (and what this member carried). */
  open(topic: string, partition: number, prepared: Prepared | undefined): PartitionState {
    const k = `${topic}/${String(partition)}`;
    let ps = this.#parts.get(k);
    if (!ps) {
      ps = newPartition({
        topic,
        partition,
        source: `/apis/v1/namespaces/${this.#spec.namespace}/kafkatriggers/${this.#spec.trigger}#${topic}`,
        lag: this.#lagOf(k, topic, partition),
        meta: prepared?.meta ?? { attempts: new Map() },
        committed: prepared?.committed,
        // Only over a commit of the group: a partition without one (its topic deleted and created
        // again, say) has offsets that may name other records.
        carried: prepared?.committed === undefined ? undefined : this.#carried.get(k),
      });
      this.#carried.delete(k);
      // Records below the start were delivered by an earlier owner: a batch that brings them skips them.
      ps.next = prepared?.committed;
      this.#parts.set(k, ps);
    }
    return ps;
  }

  /** Ends the generation: every partition's jobs stop, what they had done is carried, and they are forgotten. */
  revokeAll(why: string): void {
    for (const [k, ps] of this.#parts) {
      ps.revoked.abort(new Error(why));
      const carried = carryOf(ps);
      if (carried) this.#carried.set(k, carried);
    }
    this.#parts.clear();
    this.#generation++;
  }

  /** Stops every partition's jobs (a drain ran out of time); the partitions stay until the generation ends. */
  abortAll(why: string): void {
    for (const ps of this.#parts.values()) ps.revoked.abort(new Error(why));
  }

  /**
   * A new assignment: what was carried for partitions that went elsewhere is of no use, and they
   * no longer show this member's last lag for them.
   */
  assigned(assignment: Record<string, number[]>): void {
    const kept = (k: string): boolean => {
      const at = k.lastIndexOf('/');
      return assignment[k.slice(0, at)]?.includes(Number(k.slice(at + 1))) ?? false;
    };
    for (const k of this.#carried.keys()) if (!kept(k)) this.#carried.delete(k);
    for (const k of this.#lag.keys()) if (!kept(k)) this.#lag.delete(k);
  }

  /** The member left its group: it shows no lag. */
  forgetLag(): void {
    this.#lag.clear();
  }

  /**
   * Commits every partition marked since the last commit (its done prefix and its metadata)
   * through `ctx`; `committed` is told of each partition whose commit landed. False when nothing
   * was marked.
   */
  async commit(ctx: BatchContext, committed: (ps: PartitionState) => void): Promise<boolean> {
    const work: { ps: PartitionState; offset: number }[] = [];
    const offsets: OffsetCommit[] = [];
    for (const ps of this.#parts.values()) {
      if (!ps.dirty) continue;
      const offset = commitOffsetOf(ps);
      ps.dirty = false;
      if (offset === undefined) continue;
      if (ps.skipped && Date.now() - Date.parse(ps.skipped.at) >= SKIP_REPORT_MS) ps.skipped = undefined;
      const metadata = encodeMetadata({ attempts: ps.attempts, stalled: lowestStall(ps.stalls), skipped: ps.skipped, owner: this.#owner });
      offsets.push({ topic: ps.topic, partition: ps.partition, offset, metadata });
      work.push({ ps, offset });
    }
    if (offsets.length === 0) return false;
    try {
      await withTimeout(ctx.commit(offsets), COMMIT_TIMEOUT_MS);
    } catch (err) {
      for (const { ps } of work) ps.dirty = true;
      throw err;
    }
    for (const { ps, offset } of work) {
      // A commit answered after a later one (it failed and was retried) does not go back.
      if (ps.committed !== undefined && offset < ps.committed) continue;
      ps.committed = offset;
      ps.window.releaseBelow(offset);
      committed(ps);
    }
    return true;
  }
}
