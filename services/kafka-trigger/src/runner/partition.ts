import { setMaxListeners } from 'node:events';
import type { PartitionContext } from './event.js';
import { OffsetTracker, PermitQueue, type CommitMetadata, type Skipped, type Stall } from './offsets.js';
import type { TopicPartitions } from './port.js';

/** The lag of one partition after its last batch, with its metric labels. */
export interface PartitionLag {
  labels: { namespace: string; trigger: string; function: string; topic: string; partition: string };
  value: number;
}

/** A record being delivered, or waiting for its key's earlier record, or backing off. */
export interface Job {
  /** The batch no longer waits for it: it backs off, or waits behind a record that does. */
  parked: boolean;
  /** Settles when the job finished or parked (what a batch waits for). */
  released: Promise<void>;
  /** Settles when the job finished: done, or given up for a later owner (stop, revoke). */
  ended: Promise<void>;
}

/**
 * What this member knew was done on a partition when its generation ended (a rebalance, a
 * restart): offsets below `below`, and those in `done`. When the partition comes back, records
 * still in it are not delivered again (the function accepted them already), so a rebalance or a
 * broker outage repeats only what was in flight.
 */
export interface Carried {
  below: number | undefined;
  done: Set<number>;
}

/**
 * A count of things that end (jobs; a batch's records not yet released) and a wait for none to
 * be left: a counter instead of a Set of promises, so a record costs no extra promise for it.
 */
export class Countdown {
  #n = 0;
  #waiters: (() => void)[] = [];

  get size(): number {
    return this.#n;
  }

  add(): void {
    this.#n++;
  }

  done(): void {
    if (--this.#n > 0) return;
    this.#n = 0;
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Settles once nothing is left. */
  idle(): Promise<void> {
    return this.#n === 0 ? Promise.resolve() : new Promise<void>((resolve) => this.#waiters.push(resolve));
  }
}

/** One assigned partition in the current group generation. */
export interface PartitionState extends PartitionContext {
  partition: number;
  /** Failed attempts of records not yet committed (kept in the commit metadata across owners). */
  attempts: Map<number, number>;
  /** Offsets that cannot move (blocked, or their dead letter keeps failing); the lowest is reported. */
  stalls: Map<number, Stall>;
  /** Records retention deleted before delivery, reported in status for a while. */
  skipped: Skipped | undefined;
  /** When the log start was last read for a gap, and what it was. */
  lowCheck: { at: number; low: number } | undefined;
  /** The offset committed for it (undefined: none yet; the client starts at the log start). */
  committed: number | undefined;
  /** The first offset fetched in this generation (what a commit of metadata only points at). */
  firstOffset: number | undefined;
  /** The next offset to dispatch: fetches overlapping what was dispatched skip the overlap. */
  next: number | undefined;
  /** Dispatched offsets and which are done: the commit offset is the done prefix. */
  tracker: OffsetTracker;
  /** The commit window: records dispatched and not yet covered by a commit. */
  window: PermitQueue;
  /** The last job of each key (key-ordered) or of the partition (ordered, key ''). */
  tails: Map<string, Job>;
  /** Jobs sleeping in a backoff now (ordered: the partition is paused meanwhile). */
  backingOff: number;
  /** Aborted when the partition is let go (a join, a stop past its drain): its jobs stop and are not committed. */
  revoked: AbortController;
  /** Its lag after the last batch (kept across generations while the partition stays assigned). */
  lag: PartitionLag;
  /** Something to commit: its offset moved, or its metadata changed. */
  dirty: boolean;
  /** Done in an earlier generation of this member, not yet committed (see Carried). */
  carried: Carried | undefined;
}

/** What `ps` has done beyond its commit, to carry into the partition's next generation here. */
export function carryOf(ps: PartitionState): Carried | undefined {
  const below = ps.tracker.commitOffset;
  const ahead = ps.tracker.doneAhead();
  const prior = ps.carried;
  if (below === undefined && ahead.length === 0 && !prior) return undefined;
  const done = new Set(ahead);
  if (prior) for (const o of prior.done) if (below === undefined || o >= below) done.add(o);
  const b = below === undefined ? prior?.below : prior?.below === undefined ? below : Math.max(below, prior.below);
  return { below: b, done };
}

export function newPartition(p: { topic: string; partition: number; source: string; lag: PartitionLag; meta: CommitMetadata; committed: number | undefined; carried?: Carried | undefined }): PartitionState {
  const revoked = new AbortController();
  // Every delivery of the partition listens on it (lifted once: setMaxListeners is slow).
  setMaxListeners(0, revoked.signal);
  return {
    topic: p.topic,
    partition: p.partition,
    partitionText: String(p.partition),
    source: p.source,
    attempts: p.meta.attempts,
    stalls: new Map(p.meta.stalled ? [[p.meta.stalled.offset, p.meta.stalled]] : []),
    skipped: p.meta.skipped,
    lowCheck: undefined,
    committed: p.committed,
    firstOffset: undefined,
    next: undefined,
    tracker: new OffsetTracker(),
    window: new PermitQueue(),
    tails: new Map(),
    backingOff: 0,
    revoked,
    lag: p.lag,
    dirty: false,
    carried: p.carried,
  };
}

/** Where a partition's commit points: its done prefix, else what it has committed, else its first fetched offset. */
export function commitOffsetOf(ps: PartitionState): number | undefined {
  return ps.tracker.commitOffset ?? ps.committed ?? ps.firstOffset;
}

/** Why the runner holds a partition's fetching. */
export type PauseReason = 'window' | 'backoff';

/**
 * Which partitions are paused, and why: one partition for its own reasons (its commit window is
 * full; ordered: a record backs off), or all of them while the memory budget has no room. kafkajs
 * forgets partition pauses when a whole topic is paused or resumed, so every change is applied as
 * explicit partition lists over the current assignment.
 */
export class Pauses {
  readonly #reasons = new Map<string, Set<PauseReason>>();
  #all = false;
  #assignment: Record<string, number[]> = {};
  readonly #apply: (pause: TopicPartitions[], resume: TopicPartitions[]) => void;

  constructor(apply: (pause: TopicPartitions[], resume: TopicPartitions[]) => void) {
    this.#apply = apply;
  }

  /**
   * A new generation: its partitions start unpaused, unless the budget holds them all. The client
   * keeps partition pauses across a rejoin, so they are all set again.
   */
  assign(assignment: Record<string, number[]>): void {
    this.#assignment = assignment;
    this.#reasons.clear();
    this.#push();
  }

  get allPaused(): boolean {
    return this.#all;
  }

  isPaused(topic: string, partition: number): boolean {
    return this.#all || (this.#reasons.get(`${topic}/${String(partition)}`)?.size ?? 0) > 0;
  }

  set(topic: string, partition: number, reason: PauseReason, on: boolean): void {
    const k = `${topic}/${String(partition)}`;
    let r = this.#reasons.get(k);
    const before = (r?.size ?? 0) > 0;
    if (on) {
      if (!r) this.#reasons.set(k, (r = new Set()));
      r.add(reason);
    } else {
      r?.delete(reason);
      if (r?.size === 0) this.#reasons.delete(k);
    }
    const after = (this.#reasons.get(k)?.size ?? 0) > 0;
    if (before === after || this.#all) return;
    const one = [{ topic, partitions: [partition] }];
    if (after) this.#apply(one, []);
    else this.#apply([], one);
  }

  setAll(on: boolean): void {
    if (this.#all === on) return;
    this.#all = on;
    this.#push();
  }

  #push(): void {
    const pause: TopicPartitions[] = [];
    const resume: TopicPartitions[] = [];
    for (const [topic, partitions] of Object.entries(this.#assignment)) {
      const p = this.#all ? partitions : partitions.filter((x) => this.isPaused(topic, x));
      const r = this.#all ? [] : partitions.filter((x) => !this.isPaused(topic, x));
      if (p.length > 0) pause.push({ topic, partitions: p });
      if (r.length > 0) resume.push({ topic, partitions: r });
    }
    this.#apply(pause, resume);
  }
}
