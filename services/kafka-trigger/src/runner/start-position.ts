import type { Logger } from '@kubeless/observability';
import type { ConsumerSpec } from '../plan.js';
import { decodeMetadata, encodeMetadata, type CommitMetadata, type Skipped } from './offsets.js';
import type { PartitionState } from './partition.js';
import type { GroupAdmin, GroupConsumer, Watermarks } from './port.js';

/** How long the commit metadata keeps a retention skip (status shows RecordsSkipped meanwhile). */
export const SKIP_REPORT_MS = 24 * 3600_000;
/** A gap in a partition's offsets re-reads its log start at most this often (compaction and transaction markers make gaps too). */
const LOW_CHECK_MS = 1000;

/** Adds a retention gap [from, to) to what a partition reports (the count restarts once the report expired). */
export function addSkip(prev: Skipped | undefined, from: number, to: number): Skipped {
  const live = prev && Date.now() - Date.parse(prev.at) < SKIP_REPORT_MS ? prev.count : 0;
  return { count: live + (to - from), from, to, at: new Date().toISOString() };
}

/** What a generation knows about one assigned partition before its first batch. */
export interface Prepared {
  meta: CommitMetadata;
  /** The offset committed for it (own, or set at the join); undefined when the client picks (earliest). */
  committed: number | undefined;
}

/** Where a partition of a renamed group starts: a predecessor's commit, with its metadata. */
interface Inherited {
  offset: number;
  meta: CommitMetadata;
  group: string;
}

export interface StartPositionsOptions {
  spec: ConsumerSpec;
  admin: GroupAdmin;
  consumer: GroupConsumer;
  /** The tag of this (trigger, function) in commit metadata. */
  owner: string;
  log: Logger;
  /** Each topic's log end when this start began (`initialOffset: latest` starts there). */
  startEnds: Map<string, Map<number, number>>;
  /** The current generation's partitions of this member, by topic. */
  assignment: () => Record<string, number[]>;
}

/**
 * Where each assigned partition starts, once per generation per topic (started at the join): its
 * own commit when the group has one; else the commit of an older group of this (trigger,
 * function) (a renamed group: changed `consumerGroup`); else the earliest offset when the group
 * already committed on the topic (a partition added later) or `initialOffset` is earliest; else
 * the log end as this consumer started (`initialOffset: latest`: what was produced after the
 * start is delivered). A start below the log start (retention deleted what the group had not
 * consumed) moves to the log start and is recorded in the metadata (status: RecordsSkipped).
 * Positions it chose are sought and committed at once, inside the generation, so no other member
 * races them.
 */
export class StartPositions {
  readonly #o: StartPositionsOptions;
  readonly #loads = new Map<string, Promise<Map<number, Prepared>>>();
  readonly #inheritedLoads = new Map<string, Promise<Map<number, Inherited>>>();
  #groupsLoad: Promise<string[]> | undefined;

  constructor(o: StartPositionsOptions) {
    this.#o = o;
  }

  /** A new generation: partitions may have moved, so starts are read again. */
  reset(): void {
    this.#loads.clear();
  }

  load(topic: string): Promise<Map<number, Prepared>> {
    let p = this.#loads.get(topic);
    if (!p) {
      p = this.#prepare(topic);
      p.catch(() => this.#loads.delete(topic));
      this.#loads.set(topic, p);
    }
    return p;
  }

  async #prepare(topic: string): Promise<Map<number, Prepared>> {
    const { admin, consumer, spec, log } = this.#o;
    const out = new Map<number, Prepared>();
    const own = new Map<number, { offset: number; meta: CommitMetadata }>();
    for (const c of await admin.committed(spec.groupId, topic)) own.set(c.partition, { offset: c.offset, meta: decodeMetadata(c.metadata) });
    const assigned = this.#o.assignment()[topic] ?? [];
    const topicCommitted = [...own.values()].some((x) => x.offset >= 0);
    let marks: Map<number, Watermarks> | undefined;
    const watermarks = async (): Promise<Map<number, Watermarks>> => {
      marks ??= new Map((await admin.watermarks(topic)).map((x) => [x.partition, x]));
      return marks;
    };
    const seeks: { partition: number; offset: number; meta: CommitMetadata }[] = [];
    // The log end is read first: `latest` means at the start or the join at the latest, not after the group look-up.
    if (assigned.some((p) => !((own.get(p)?.offset ?? -1) >= 0))) await Promise.all([watermarks(), this.#inherited(topic)]);
    for (const partition of assigned) {
      const mine = own.get(partition);
      let start: { offset: number; meta: CommitMetadata; chosen: boolean } | undefined;
      if (mine && mine.offset >= 0) {
        start = { offset: mine.offset, meta: mine.meta, chosen: false };
      } else {
        const inherited = (await this.#inherited(topic)).get(partition);
        if (inherited) {
          start = { offset: inherited.offset, meta: { ...inherited.meta, owner: this.#o.owner }, chosen: true };
          log.info({ topic, partition, offset: inherited.offset, previousGroup: inherited.group }, 'partition starts where the previous consumer group left it');
        } else if (!topicCommitted && !spec.fromBeginning) {
          start = { offset: this.#o.startEnds.get(topic)?.get(partition) ?? (await watermarks()).get(partition)?.high ?? 0, meta: { attempts: new Map() }, chosen: true };
        }
      }
      if (!start) {
        // The client starts it at the earliest offset (subscribed from the beginning).
        out.set(partition, { meta: { attempts: new Map() }, committed: undefined });
        continue;
      }
      const low = (await watermarks()).get(partition)?.low ?? 0;
      if (start.offset < low) {
        start.meta = { ...start.meta, skipped: addSkip(start.meta.skipped, start.offset, low) };
        log.warn({ topic, partition, committed: start.offset, logStart: low, skipped: low - start.offset }, 'records were deleted by retention before delivery; resuming at the log start');
        start.offset = low;
        start.chosen = true;
      }
      out.set(partition, { meta: start.meta, committed: start.offset });
      if (start.chosen) seeks.push({ partition, offset: start.offset, meta: start.meta });
    }
    // A rebalance while this ran may have given a partition to another member: leave it to that one.
    const still = this.#o.assignment()[topic] ?? [];
    const chosen = seeks.filter((x) => still.includes(x.partition));
    if (chosen.length > 0) {
      for (const x of chosen) consumer.seek(topic, x.partition, x.offset);
      await consumer.commit(chosen.map((x) => ({ topic, partition: x.partition, offset: x.offset, metadata: encodeMetadata({ ...x.meta, owner: this.#o.owner }) })));
    }
    return out;
  }

  /**
   * The committed offsets of this (trigger, function)'s other consumer groups on `topic`: groups
   * named `<any prefix>.<namespace>.<trigger>.<function>` whose commits carry this consumer's tag
   * (so another tenant's look-alike group is never used), the highest offset per partition.
   * Empty when the groups cannot be listed (an ACL): the partition then starts as a new group's.
   */
  #inherited(topic: string): Promise<Map<number, Inherited>> {
    let p = this.#inheritedLoads.get(topic);
    if (!p) {
      const { admin, spec, log, owner } = this.#o;
      p = (async () => {
        const out = new Map<number, Inherited>();
        const suffix = `.${spec.namespace}.${spec.trigger}.${spec.function}`;
        this.#groupsLoad ??= admin.listGroups().then((groups) => groups.filter((g) => g !== spec.groupId && g.endsWith(suffix)));
        let groups: string[];
        try {
          groups = await this.#groupsLoad;
        } catch (err) {
          this.#groupsLoad = undefined;
          log.warn({ err }, 'listing consumer groups failed; a renamed group cannot find its predecessor');
          return out;
        }
        for (const group of groups) {
          for (const c of await admin.committed(group, topic)) {
            if (c.offset < 0) continue;
            const meta = decodeMetadata(c.metadata);
            if (meta.owner !== owner) continue;
            const cur = out.get(c.partition);
            if (!cur || c.offset > cur.offset) out.set(c.partition, { offset: c.offset, meta, group });
          }
        }
        return out;
      })();
      p.catch(() => this.#inheritedLoads.delete(topic));
      this.#inheritedLoads.set(topic, p);
    }
    return p;
  }

  /**
   * A batch starts past where the partition was: compaction or transaction markers, or retention
   * deleted records before they were delivered (the client then resets to the earliest offset, as
   * subscribed). Only the latter is recorded: when the log start is past `expected`. True when
   * the partition's metadata changed.
   */
  async checkRetention(ps: PartitionState, expected: number): Promise<boolean> {
    const now = Date.now();
    let low = ps.lowCheck && now - ps.lowCheck.at < LOW_CHECK_MS ? ps.lowCheck.low : undefined;
    if (low === undefined) {
      try {
        low = (await this.#o.admin.watermarks(ps.topic)).find((x) => x.partition === ps.partition)?.low ?? 0;
      } catch (err) {
        this.#o.log.debug({ err, topic: ps.topic, partition: ps.partition }, 'reading the log start failed');
        return false;
      }
      ps.lowCheck = { at: now, low };
    }
    if (expected >= low) return false;
    ps.skipped = addSkip(ps.skipped, expected, low);
    this.#o.log.warn({ topic: ps.topic, partition: ps.partition, committed: expected, logStart: low, skipped: low - expected }, 'records were deleted by retention before delivery; resuming at the log start');
    return true;
  }
}
