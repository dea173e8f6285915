import { setMaxListeners } from 'node:events';
import { createHash } from 'node:crypto';
import { InFlightLimiter, describeFailure, sleep, type Deliverer, type EventInput, type MemoryBudget } from '@kubeless/delivery';
import type { Counter, Logger } from '@kubeless/observability';
import kafkajs, { type Admin, type Consumer, type EachBatchPayload, type KafkaMessage, type Producer } from 'kafkajs';
import type { KafkaClient } from '../kafka.js';
import type { ConsumerSpec } from '../plan.js';
import { kafkaEvent } from './event.js';
import { BatchOffsets, PermitQueue, decodeMetadata, encodeMetadata, lowestStall, type CommitMetadata, type Skipped, type Stall } from './offsets.js';

const { CompressionTypes } = kafkajs;

export interface ConsumerOptions {
  spec: ConsumerSpec;
  kafka: KafkaClient;
  /** The shared dead-letter producer of this connection (connected lazily). */
  producer: () => Promise<Producer>;
  deliverer: Deliverer;
  logger: Logger;
  /** Bytes of messages delivered-or-in-flight but not yet committed. */
  maxBytesInFlight: number;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
  /** Partitions processed at once by this consumer. */
  partitionsConcurrency: number;
  /** Fetch limits (bounded memory). */
  maxFetchBytes: number;
  maxFetchBytesPerPartition: number;
  /** How long `stop()` waits for deliveries in flight before aborting them. */
  drainTimeoutMs: number;
  /**
   * The consumers whose partitions' lag `kubeless_kafka_consumer_lag` shows at a scrape (see
   * `lag()`): a consumer is in it from start to stop.
   */
  lagSources?: Set<TriggerConsumer> | undefined;
  /** Offset commits this replica made (`kubeless_kafka_offset_commits_total`). */
  commitCounter?: Counter<'namespace' | 'trigger' | 'function'> | undefined;
  /**
   * The process's memory budget, shared by every consumer (SPEC §4): a fetch goes out only when
   * its bound fits, and the batches being processed count until they end. None: unbounded.
   */
  budget?: MemoryBudget | undefined;
}

/** The lag of one partition after its last batch, with its metric labels. */
export interface PartitionLag {
  labels: { namespace: string; trigger: string; function: string; topic: string; partition: string };
  value: number;
}

/** What this replica knows about the consumer, for logs and readiness. */
export interface ConsumerState {
  running: boolean;
  joined: boolean;
  lastError?: string | undefined;
}

/** One partition in the current group generation. */
interface PartitionState {
  topic: string;
  partition: number;
  attempts: Map<number, number>;
  /** Offsets that cannot move (blocked, or their dead letter keeps failing); the lowest is reported. */
  stalls: Map<number, Stall>;
  /** Records retention deleted before delivery, reported in status for SKIP_REPORT_MS. */
  skipped: Skipped | undefined;
  /** When the log start was last read for a gap, and what it was. */
  lowCheck: { at: number; low: number } | undefined;
  batch: BatchOffsets | undefined;
  firstOffset: number;
  permits: PermitQueue;
  /** Per-partition parts of every event, made once: the CloudEvents source and the partition as text. */
  source: string;
  partitionText: string;
  /** Its lag after the last batch (kept across generations while the partition stays assigned). */
  lag: PartitionLag;
  committed: number | undefined;
  /** The last finished batch's commit offset, kept until a commit covers it. */
  done: number | undefined;
  dirty: boolean;
}

/** What every delivery of one batch shares. */
interface BatchRun {
  ps: PartitionState;
  tracker: BatchOffsets;
  stop: AbortSignal;
  attemptSignal: AbortSignal;
}

const manyListeners = new WeakSet<AbortSignal>();
/** Lifts the listener warning limit of a signal that many waits share (once: setMaxListeners is slow). */
function allowManyListeners(signal: AbortSignal): void {
  if (manyListeners.has(signal)) return;
  manyListeners.add(signal);
  setMaxListeners(0, signal);
}
/**
 * The longest a finished delivery waits for its commit while the in-flight window has room: at a
 * moderate rate one commit then covers many deliveries. Each OffsetCommit costs the trigger a
 * socket write and the broker a request through its group coordinator (a few hundred microseconds
 * of CPU here): at 1,000 events/s a commit per event would double the broker's work.
 */
const COMMIT_IDLE_DELAY_MS = 20;
/**
 * The longest a finished delivery waits for its commit while the window is under pressure (slots
 * are freed by commits) but fewer than a commit batch finished since the last commit started.
 * Short: with functions answering in 10-50 ms a longer wait holds slots that deliveries need.
 */
const COMMIT_DELAY_MS = 5;
/**
 * Under pressure a commit starts at once when this fraction of the window finished since the last
 * one started: it frees that many slots a round trip later. Committing on every finished delivery
 * (up to MAX_COMMITS_IN_FLIGHT at once) kept the window fullest but cost one request per handful
 * of events: at 13k events/s the commits' socket writes alone took an eighth of the trigger's CPU.
 */
const COMMIT_BATCH_FRACTION = 2;
/**
 * Commits in flight at once while the window waits on them: a second one carries what finished
 * during the first one's round trip, so the slots it covers are freed a round trip sooner (an
 * OffsetCommit takes about 1-2 ms here, in which 20-40 deliveries finish). Requests on one
 * connection are answered in order, and a failed commit is retried with the offsets of the moment.
 */
const MAX_COMMITS_IN_FLIGHT = 2;
/** The shortest wait of the block path and of the dead-letter retries (review F2: a 0 ms loop froze the process). */
const MIN_BLOCK_DELAY_MS = 100;
/** The shortest wait between two attempts of one message (a full-jitter draw may be 0). */
const MIN_RETRY_DELAY_MS = 10;
/** Dead-letter produce attempts before the partition reports Stalled (DeadLetterFailed); it keeps retrying at backoffMax. */
const DEAD_LETTER_ATTEMPTS = 5;
/** Records at least this large go to the dead letter GZIP-compressed (see #deadLetter). */
const DEAD_LETTER_COMPRESS_BYTES = 1024;
/** How long the commit metadata keeps a retention skip (status shows RecordsSkipped meanwhile). */
const SKIP_REPORT_MS = 24 * 3600_000;
/** A gap in a partition's offsets re-reads its log start at most this often (compaction and transaction markers make gaps too). */
const LOW_CHECK_MS = 1000;

/** Settles like `p`, or rejects once `signal` aborts; the listener is removed either way (review F20: it leaked). */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason instanceof Error ? signal.reason : new Error('stopped'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      reject(signal.reason instanceof Error ? signal.reason : new Error('stopped'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** Bytes a fetched message holds (key, value, headers). */
function messageBytes(m: KafkaMessage): number {
  let n = (m.value?.length ?? 0) + (m.key?.length ?? 0) + 64;
  const h = m.headers;
  if (h) {
    for (const k in h) {
      const v = h[k];
      n += k.length + (Array.isArray(v) ? v.reduce((x, b) => x + b.length, 0) : (v?.length ?? 0));
    }
  }
  return n;
}

/** Adds a retention gap [from, to) to what a partition reports (the count restarts once the report expired). */
function addSkip(prev: Skipped | undefined, from: number, to: number): Skipped {
  const live = prev && Date.now() - Date.parse(prev.at) < SKIP_REPORT_MS ? prev.count : 0;
  return { count: live + (to - from), from, to, at: new Date().toISOString() };
}

/** Where a partition of a renamed group starts: a predecessor's commit, with its metadata. */
interface Inherited {
  offset: number;
  meta: CommitMetadata;
  group: string;
}

/** What a generation knows about one assigned partition before its first batch. */
interface Prepared {
  meta: CommitMetadata;
  /** The offset committed for it (own, or set at the join); undefined when kafkajs picks (earliest). */
  committed: number | undefined;
}

/**
 * One Kafka consumer group for one (trigger, function) pair (SPEC §4). At least once:
 * a message counts as done only when the function accepted it (or it went to the dead letter,
 * or was dropped by an explicit `drop`), and only the highest contiguous done offset is
 * committed. Messages delivered-or-in-flight but not committed are bounded by `maxInFlight`
 * (unordered, key-ordered) and by bytes, so a crash repeats at most that many. On a rebalance
 * (the heartbeat reports it) fetching stops, deliveries in flight finish, offsets and the
 * attempt counts (in the commit metadata) are committed, then the partition is let go.
 */
export class TriggerConsumer {
  readonly spec: ConsumerSpec;
  readonly state: ConsumerState = { running: false, joined: false };
  readonly #o: ConsumerOptions;
  readonly #log: Logger;
  readonly #limiter: InFlightLimiter;
  readonly #parts = new Map<string, PartitionState>();
  readonly #metaLoads = new Map<string, Promise<Map<number, Prepared>>>();
  /** Lag of the partitions assigned to this member, by `topic/partition`. */
  readonly #lag = new Map<string, PartitionLag>();
  #consumer: Consumer | undefined;
  #admin: Admin | undefined;
  #commitFn: EachBatchPayload['commitOffsetsIfNecessary'] | undefined;
  readonly #committing = new Set<Promise<void>>();
  #dirty = false;
  #commitTimer: NodeJS.Timeout | undefined;
  /** When #commitTimer fires (performance.now()). */
  #commitAt = 0;
  /** Deliveries finished since the last commit started, and deliveries running now. */
  #finishedSinceCommit = 0;
  #delivering = 0;
  /**
   * Key-ordered messages admitted to the window and waiting behind an earlier message of their
   * key: they will run, so a commit need not start just because nothing is delivering at the
   * moment one of them takes over from its predecessor.
   */
  #chained = 0;
  /** Finished deliveries that make a commit start at once under pressure. */
  readonly #commitBatch: number;
  readonly #commits: { inc: () => void } | undefined;
  /** Flushes running (a commit then goes on until nothing is left). */
  #flushing = 0;
  #hard = new AbortController();
  #restartTimer: NodeJS.Timeout | undefined;
  #restarting: Promise<void> | undefined;
  #stopping = false;
  /** Tags this consumer's commits, so the group that replaces a renamed one finds its offsets. */
  readonly #owner: string;
  /** The group generation's partitions of this member, by topic. */
  #assignment: Record<string, number[]> = {};
  /** Committed offsets of older groups of this (trigger, function), by topic (once per start). */
  #inheritedLoads = new Map<string, Promise<Map<number, Inherited>>>();
  #groupsLoad: Promise<string[]> | undefined;
  /** The log end of each topic when this start began: `initialOffset: latest` starts there (what came after is delivered). */
  #startEnds = new Map<string, Map<number, number>>();
  /** The rebalance timeout: the configured one, or longer so a delivery in flight can finish within its drain. */
  readonly #rebalanceTimeoutMs: number;
  /** Memory budget bookkeeping (see #onFetchStart): bytes reserved per broker fetch on the wire. */
  #openFetches = new Map<number, number>();
  /** Bytes granted to this consumer while it waited, for its next fetch. */
  #prepaid = 0;
  #budgetPaused = false;
  /** Room of fetches that landed, until their batches took it over (#eachBatch) or a macrotask passed. */
  #landed = 0;
  #budgetWait: AbortController | undefined;
  #fetchBound = 0;

  constructor(options: ConsumerOptions) {
    this.#o = options;
    this.spec = options.spec;
    this.#log = options.logger.child({ namespace: options.spec.namespace, trigger: options.spec.trigger, function: options.spec.function, groupId: options.spec.groupId });
    const ordered = options.spec.delivery.ordering === 'ordered';
    this.#limiter = new InFlightLimiter(ordered ? Number.MAX_SAFE_INTEGER : Math.max(1, options.spec.delivery.maxInFlight), options.maxBytesInFlight);
    this.#commitBatch = ordered ? 1 : Math.max(1, Math.floor(options.spec.delivery.maxInFlight / COMMIT_BATCH_FRACTION));
    this.#commits = options.commitCounter?.labels({ namespace: options.spec.namespace, trigger: options.spec.trigger, function: options.spec.function });
    this.#owner = createHash('sha256').update(options.spec.key).digest('hex').slice(0, 16);
    // Deliveries in flight at a rebalance get 0.8 of it to finish (review F20): the function's timeout fits in that.
    this.#rebalanceTimeoutMs = Math.max(options.rebalanceTimeoutMs, Math.ceil(options.spec.delivery.timeoutMs / 0.8) + 2000);
  }

  /** Connects, joins the group and starts consuming. Rejects when Kafka cannot be reached. */
  async start(): Promise<void> {
    this.#stopping = false;
    await this.#start();
    this.#o.lagSources?.add(this);
  }

  /** The lag of each partition assigned to this member, after its last batch (read at a scrape). */
  lag(): IterableIterator<PartitionLag> {
    return this.#lag.values();
  }

  #lagOf(topic: string, partition: number): PartitionLag {
    const k = `${topic}/${String(partition)}`;
    let l = this.#lag.get(k);
    if (!l) {
      const s = this.spec;
      l = { labels: { namespace: s.namespace, trigger: s.trigger, function: s.function, topic, partition: String(partition) }, value: 0 };
      this.#lag.set(k, l);
    }
    return l;
  }

  async #start(): Promise<void> {
    this.#hard = new AbortController();
    setMaxListeners(0, this.#hard.signal);
    this.#releaseBudget();
    this.#inheritedLoads = new Map();
    this.#groupsLoad = undefined;
    const o = this.#o;
    const consumer = o.kafka.consumer({
      groupId: this.spec.groupId,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: o.heartbeatIntervalMs,
      rebalanceTimeout: this.#rebalanceTimeoutMs,
      maxBytes: o.maxFetchBytes,
      maxBytesPerPartition: o.maxFetchBytesPerPartition,
      // A fetch long-poll also delays stop() (a changed trigger restarts its consumer): keep it short.
      maxWaitTimeInMs: 1000,
      retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 10_000 },
    });
    this.#consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      // A new generation: partitions may have moved, so counts are reloaded from the commits.
      // A batch still running (kafkajs rejoins from its fetch path on a leader change) keeps its
      // state, so its progress is still committed and its slots released.
      for (const [k, ps] of this.#parts) {
        if (ps.batch) continue;
        this.#parts.delete(k);
        // Slots still waiting for a commit of a partition that may have moved: free them.
        const freed = ps.permits.releaseAll();
        this.#limiter.releaseMany(freed.count, freed.bytes);
      }
      this.#metaLoads.clear();
      // Partitions that moved to another member no longer show this member's last lag for them.
      const assigned = e.payload.memberAssignment;
      for (const [k, l] of this.#lag) {
        if (!assigned[l.labels.topic]?.includes(Number(l.labels.partition))) this.#lag.delete(k);
      }
      this.#assignment = assigned;
      // kafkajs forgets pauses when it rebuilds its group after a crash: a consumer waiting for room stays paused.
      if (this.#budgetPaused) {
        try {
          consumer.pause(this.spec.topics.map((topic) => ({ topic })));
        } catch {
          // Not running: nothing fetches.
        }
      }
      const count = Object.values(assigned).reduce((n, ps) => n + ps.length, 0);
      this.#fetchBound = Math.min(o.maxFetchBytes, o.maxFetchBytesPerPartition * Math.max(1, count), o.budget?.limit ?? Number.MAX_SAFE_INTEGER);
      this.state.joined = true;
      this.state.lastError = undefined;
      this.#log.info({ assignment: e.payload.memberAssignment }, 'joined consumer group');
      // Where each partition starts is settled now, at the join ("latest" is the log end of this
      // moment, not of the first batch); the first batch of each partition waits for it.
      for (const topic of Object.keys(assigned)) {
        this.#loadMetadata(topic).catch((err: unknown) => {
          this.#log.warn({ err, topic }, 'reading committed offsets failed; retrying at the first batch');
        });
      }
    });
    if (o.budget) {
      consumer.on(consumer.events.FETCH_START, (e) => {
        this.#onFetchStart(consumer, e.payload.nodeId);
      });
      consumer.on(consumer.events.FETCH, (e) => {
        this.#onFetchEnd(e.payload.nodeId);
      });
    }
    consumer.on(consumer.events.REBALANCING, () => {
      this.state.joined = false;
      // Best effort for partitions idle between batches: commit their finished work before the rejoin.
      this.#requestCommit(undefined, true);
    });
    consumer.on(consumer.events.CRASH, (e) => {
      this.state.joined = false;
      this.state.lastError = e.payload.error.message;
      this.#log.warn({ err: e.payload.error, restart: e.payload.restart }, 'consumer crashed');
      if (!e.payload.restart && !this.#stopping) this.#scheduleRestart();
    });
    this.#admin = o.kafka.admin();
    try {
      await this.#admin.connect();
      this.#startEnds = new Map();
      for (const topic of this.spec.topics) {
        try {
          this.#startEnds.set(topic, new Map((await this.#admin.fetchTopicOffsets(topic)).map((x) => [x.partition, Number(x.high)])));
        } catch {
          // A topic that does not exist yet: its log end is read at the join.
        }
      }
      await consumer.connect();
      // Always from the beginning for kafkajs: that is its reset on OFFSET_OUT_OF_RANGE (review F7:
      // latest skipped the whole retained backlog). `initialOffset: latest` is applied at the join
      // instead, to partitions of topics the group never committed (#prepare).
      await consumer.subscribe({ topics: this.spec.topics, fromBeginning: true });
      // stop() may have run while we connected: it found nothing to stop, so tear down here.
      if (this.#isStopping()) throw new Error('stopped while starting');
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: o.partitionsConcurrency,
        eachBatch: (payload) => this.#eachBatch(payload),
      });
    } catch (err) {
      this.state.lastError = err instanceof Error ? err.message : String(err);
      await this.#disconnect();
      throw err;
    }
    this.state.running = true;
  }

  /** A method, not the field, so a check after an await is not narrowed away by the compiler. */
  #isStopping(): boolean {
    return this.#stopping;
  }

  /** Work marked for a commit since the last one started (a method for the same reason). */
  #hasDirty(): boolean {
    return this.#dirty;
  }

  #scheduleRestart(): void {
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => {
      this.#restarting = (async () => {
        await this.#disconnect();
        if (this.#stopping) return;
        try {
          await this.#start();
        } catch (err) {
          if (this.#isStopping()) return;
          this.#log.warn({ err }, 'consumer restart failed; retrying');
          this.#scheduleRestart();
        }
      })().finally(() => {
        this.#restarting = undefined;
      });
    }, 5000);
    this.#restartTimer.unref();
  }

  /**
   * Graceful stop: no new deliveries, those in flight finish (up to `drainTimeoutMs`, then they
   * are aborted and stay uncommitted), offsets are committed, the group is left.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    // An internal restart in progress finishes (or gives up, seeing #stopping) before we stop what it made.
    await this.#restarting;
    // Finished work of partitions idle between batches is committed while the member still may.
    await this.#flush();
    const force = setTimeout(() => {
      this.#hard.abort(new Error('shutdown'));
    }, this.#o.drainTimeoutMs);
    try {
      await this.#consumer?.stop();
    } catch (err) {
      this.#log.warn({ err }, 'consumer stop failed');
    } finally {
      clearTimeout(force);
    }
    // A commit still on the wire finishes (or fails) before its connection is closed.
    await Promise.allSettled(this.#committing);
    await this.#disconnect();
    clearTimeout(this.#commitTimer);
    this.#commitTimer = undefined;
    this.state.running = false;
    this.state.joined = false;
    this.#o.lagSources?.delete(this);
    this.#lag.clear();
  }

  async #disconnect(): Promise<void> {
    const c = this.#consumer;
    const a = this.#admin;
    this.#consumer = undefined;
    this.#admin = undefined;
    await c?.disconnect().catch(() => undefined);
    await a?.disconnect().catch(() => undefined);
    this.#releaseBudget();
  }

  /** Gives back every byte this consumer reserved for fetching, and leaves the budget's queue. */
  #releaseBudget(): void {
    const budget = this.#o.budget;
    this.#budgetWait?.abort(new Error('stopped'));
    this.#budgetWait = undefined;
    this.#budgetPaused = false;
    if (!budget) return;
    let bytes = this.#prepaid;
    for (const b of this.#openFetches.values()) bytes += b;
    bytes += this.#landed;
    this.#prepaid = 0;
    this.#landed = 0;
    this.#openFetches = new Map();
    budget.release(bytes);
  }

  /**
   * A fetch from one broker is about to go out (kafkajs emits this synchronously, before it builds
   * the request): it may bring up to #fetchBound bytes, so it goes out only if that much fits in the
   * budget. Otherwise every partition of this consumer is paused (the fetch then asks for nothing)
   * and the consumer queues for the room; once granted, it resumes and its next fetch uses it.
   * Queued consumers are served in order, so consumers take turns when the budget is tight.
   */
  #onFetchStart(consumer: Consumer, nodeId: number): void {
    const budget = this.#o.budget;
    if (!budget || this.#consumer !== consumer) return;
    // A fetch that failed without its end event: its room is free again.
    const stale = this.#openFetches.get(nodeId);
    if (stale !== undefined) {
      this.#openFetches.delete(nodeId);
      budget.release(stale);
    }
    // A fetch that begins while paused asks for nothing. If the resume reaches it before it builds
    // its request, the room granted for the resume (held until this consumer's next fetch begins,
    // after that one's batches ended) covers it.
    if (this.#budgetPaused) return;
    const bound = Math.max(1, this.#fetchBound || this.#o.maxFetchBytesPerPartition);
    if (this.#prepaid > 0) {
      this.#openFetches.set(nodeId, this.#prepaid);
      this.#prepaid = 0;
      return;
    }
    if (budget.tryReserve(bound)) {
      this.#openFetches.set(nodeId, bound);
      return;
    }
    this.#budgetPaused = true;
    const topics = this.spec.topics.map((topic) => ({ topic }));
    try {
      consumer.pause(topics);
    } catch {
      // Not running any more: nothing fetches.
    }
    const wait = new AbortController();
    this.#budgetWait = wait;
    this.#log.debug({ used: budget.used, limit: budget.limit, bound }, 'memory budget full; fetching paused');
    budget.acquire(bound, wait.signal).then(
      () => {
        if (this.#budgetWait !== wait || this.#consumer !== consumer) {
          budget.release(bound);
          return;
        }
        this.#budgetWait = undefined;
        this.#budgetPaused = false;
        this.#prepaid += bound;
        try {
          consumer.resume(topics);
        } catch {
          // Stopped meanwhile: #releaseBudget gives the room back.
        }
      },
      () => undefined,
    );
  }

  /**
   * A fetch landed: its room passes to the batches it brought as they enter #eachBatch (all
   * reachable from here without I/O), and what they did not take is given back a macrotask later.
   * The room is handed over, never counted twice nor left uncounted in between.
   */
  #onFetchEnd(nodeId: number): void {
    const budget = this.#o.budget;
    const bytes = this.#openFetches.get(nodeId);
    if (!budget || bytes === undefined) return;
    this.#openFetches.delete(nodeId);
    this.#landed += bytes;
    setImmediate(() => {
      const rest = Math.min(this.#landed, bytes);
      this.#landed -= rest;
      budget.release(rest);
    });
  }

  /**
   * Where each assigned partition of `topic` starts, with its committed metadata (once per
   * generation, started at the join): its own commit when the group has one; else the commit of
   * an older group of this (trigger, function) (a renamed group: changed `consumerGroup`); else
   * the earliest offset when the group already committed on the topic (a partition added later)
   * or `initialOffset` is earliest; else the log end as this consumer started (`initialOffset:
   * latest`, a new group or a topic new to it: what was produced after the start is delivered). A
   * start below the log start (retention deleted what the group had not consumed) moves to the log
   * start and is recorded in the metadata (status: RecordsSkipped). Positions it chose are sought
   * and committed at once, inside the generation, so no other member races them.
   */
  #loadMetadata(topic: string): Promise<Map<number, Prepared>> {
    let p = this.#metaLoads.get(topic);
    if (!p) {
      const admin = this.#admin;
      const consumer = this.#consumer;
      p = admin && consumer ? this.#prepare(topic, admin, consumer) : Promise.resolve(new Map<number, Prepared>());
      p.catch(() => this.#metaLoads.delete(topic));
      this.#metaLoads.set(topic, p);
    }
    return p;
  }

  async #prepare(topic: string, admin: Admin, consumer: Consumer): Promise<Map<number, Prepared>> {
    const out = new Map<number, Prepared>();
    const own = new Map<number, { offset: number; meta: CommitMetadata }>();
    for (const t of await admin.fetchOffsets({ groupId: this.spec.groupId, topics: [topic] })) {
      for (const part of t.partitions) own.set(part.partition, { offset: Number(part.offset), meta: decodeMetadata(part.metadata) });
    }
    const assigned = this.#assignment[topic] ?? [];
    const topicCommitted = [...own.values()].some((x) => x.offset >= 0);
    let marks: Map<number, { low: number; high: number }> | undefined;
    const watermarks = async (): Promise<Map<number, { low: number; high: number }>> => {
      marks ??= new Map((await admin.fetchTopicOffsets(topic)).map((x) => [x.partition, { low: Number(x.low), high: Number(x.high) }]));
      return marks;
    };
    const seeks: { partition: number; offset: number; meta: CommitMetadata }[] = [];
    // The log end is read first: `latest` means at the start or the join at the latest, not after the group look-up.
    if (assigned.some((p) => !((own.get(p)?.offset ?? -1) >= 0))) await Promise.all([watermarks(), this.#inherited(topic)]);
    for (const partition of assigned) {
      // A batch still running across the rejoin keeps its state and position.
      if (this.#parts.get(`${topic}/${String(partition)}`)?.batch) continue;
      const mine = own.get(partition);
      let start: { offset: number; meta: CommitMetadata; chosen: boolean } | undefined;
      if (mine && mine.offset >= 0) {
        start = { offset: mine.offset, meta: mine.meta, chosen: false };
      } else {
        const inherited = (await this.#inherited(topic)).get(partition);
        if (inherited) {
          start = { offset: inherited.offset, meta: { ...inherited.meta, owner: this.#owner }, chosen: true };
          this.#log.info({ topic, partition, offset: inherited.offset, previousGroup: inherited.group }, 'partition starts where the previous consumer group left it');
        } else if (!topicCommitted && !this.spec.fromBeginning) {
          start = { offset: this.#startEnds.get(topic)?.get(partition) ?? (await watermarks()).get(partition)?.high ?? 0, meta: { attempts: new Map() }, chosen: true };
        }
      }
      if (!start) {
        // kafkajs starts it at the earliest offset (subscribed from the beginning).
        out.set(partition, { meta: { attempts: new Map() }, committed: undefined });
        continue;
      }
      const low = (await watermarks()).get(partition)?.low ?? 0;
      if (start.offset < low) {
        start.meta = { ...start.meta, skipped: addSkip(start.meta.skipped, start.offset, low) };
        this.#log.warn({ topic, partition, committed: start.offset, logStart: low, skipped: low - start.offset }, 'records were deleted by retention before delivery; resuming at the log start');
        start.offset = low;
        start.chosen = true;
      }
      out.set(partition, { meta: start.meta, committed: start.offset });
      if (start.chosen) seeks.push({ partition, offset: start.offset, meta: start.meta });
    }
    // A rebalance while this ran may have given a partition to another member: leave it to that one.
    const still = this.#assignment[topic] ?? [];
    const mine = seeks.filter((x) => still.includes(x.partition));
    if (mine.length > 0) {
      for (const x of mine) consumer.seek({ topic, partition: x.partition, offset: String(x.offset) });
      await consumer.commitOffsets(mine.map((x) => ({ topic, partition: x.partition, offset: String(x.offset), metadata: encodeMetadata({ ...x.meta, owner: this.#owner }) })));
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
      const admin = this.#admin;
      p = (async () => {
        const out = new Map<number, Inherited>();
        if (!admin) return out;
        const suffix = `.${this.spec.namespace}.${this.spec.trigger}.${this.spec.function}`;
        this.#groupsLoad ??= admin.listGroups().then(({ groups }) => groups.map((g) => g.groupId).filter((g) => g !== this.spec.groupId && g.endsWith(suffix)));
        let groups: string[];
        try {
          groups = await this.#groupsLoad;
        } catch (err) {
          this.#groupsLoad = undefined;
          this.#log.warn({ err }, 'listing consumer groups failed; a renamed group cannot find its predecessor');
          return out;
        }
        for (const group of groups) {
          for (const t of await admin.fetchOffsets({ groupId: group, topics: [topic] })) {
            for (const part of t.partitions) {
              const offset = Number(part.offset);
              if (offset < 0) continue;
              const meta = decodeMetadata(part.metadata);
              if (meta.owner !== this.#owner) continue;
              const cur = out.get(part.partition);
              if (!cur || offset > cur.offset) out.set(part.partition, { offset, meta, group });
            }
          }
        }
        return out;
      })();
      p.catch(() => this.#inheritedLoads.delete(topic));
      this.#inheritedLoads.set(topic, p);
    }
    return p;
  }

  async #partition(topic: string, partition: number): Promise<PartitionState> {
    const k = `${topic}/${String(partition)}`;
    let ps = this.#parts.get(k);
    if (!ps) {
      const prepared = (await this.#loadMetadata(topic)).get(partition);
      const meta: CommitMetadata = prepared?.meta ?? { attempts: new Map() };
      ps = this.#parts.get(k);
      if (!ps) {
        ps = {
          topic,
          partition,
          attempts: meta.attempts,
          stalls: new Map(meta.stalled ? [[meta.stalled.offset, meta.stalled]] : []),
          skipped: meta.skipped,
          lowCheck: undefined,
          batch: undefined,
          firstOffset: 0,
          permits: new PermitQueue(),
          source: `/apis/v1/namespaces/${this.spec.namespace}/kafkatriggers/${this.spec.trigger}#${topic}`,
          partitionText: String(partition),
          lag: this.#lagOf(topic, partition),
          committed: prepared?.committed,
          done: undefined,
          dirty: false,
        };
        this.#parts.set(k, ps);
      }
    }
    return ps;
  }

  /** Counts the batch in the memory budget while it is processed (its messages are held until it ends). */
  async #eachBatch(payload: EachBatchPayload): Promise<void> {
    const budget = this.#o.budget;
    if (!budget) return this.#processBatch(payload);
    let held = 0;
    for (const m of payload.batch.messages) held += messageBytes(m);
    // Room its fetch reserved becomes the batch's; only bytes beyond it are added.
    const taken = Math.min(this.#landed, held);
    this.#landed -= taken;
    budget.reserve(held - taken);
    try {
      await this.#processBatch(payload);
    } finally {
      budget.release(held);
    }
  }

  async #processBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    this.#commitFn = (offsets) => payload.commitOffsetsIfNecessary(offsets);
    if (batch.messages.length === 0) return;
    const ps = this.#parts.get(`${batch.topic}/${String(batch.partition)}`) ?? (await this.#partition(batch.topic, batch.partition));
    // Fetched before the join chose this partition's start (#prepare sought it elsewhere): not ours to deliver.
    if (payload.isStale()) return;
    const first = Number(batch.messages[0]?.offset ?? 0);
    const expected = ps.done ?? ps.committed;
    if (expected !== undefined && first > expected) await this.#checkRetention(ps, expected);
    for (const o of ps.stalls.keys()) if (o < first) ps.stalls.delete(o);
    const tracker = new BatchOffsets(batch.messages.map((m) => Number(m.offset)));
    ps.batch = tracker;
    ps.firstOffset = Number(batch.messages[0]?.offset ?? 0);
    // Per batch, so kept cheap (a batch may hold one message): plain controllers, one listener,
    // no AbortSignal.any and no setMaxListeners (each costs tens of microseconds) unless needed.
    const stop = new AbortController();
    const rebalance: { error?: Error } = {};
    // Deliveries in flight at a rebalance get until shortly before the rebalance timeout; past
    // that they are aborted and left uncommitted, so the group is not held up by one slow call.
    // A hard stop (drain timeout of stop()) aborts them too.
    const attempts = new AbortController();
    const hard = this.#hard.signal;
    const onHard = (): void => {
      attempts.abort(hard.reason);
    };
    if (hard.aborted) onHard();
    else hard.addEventListener('abort', onHard, { once: true });
    // Rate-limited deliveries wait on this signal, many at once.
    if (this.spec.delivery.rateLimit !== undefined) allowManyListeners(attempts.signal);
    const attemptSignal = attempts.signal;
    const drainTimer: { t: NodeJS.Timeout | undefined } = { t: undefined };
    const checkRunning = (): void => {
      if (!payload.isRunning() || payload.isStale()) stop.abort(new Error('stopping'));
    };
    const hb = setInterval(() => {
      checkRunning();
      payload.heartbeat().catch((err: unknown) => {
        // REBALANCE_IN_PROGRESS (or a lost session): finish what is in flight, commit, rejoin.
        if (!rebalance.error) {
          rebalance.error = err instanceof Error ? err : new Error(String(err));
          drainTimer.t = setTimeout(() => {
            attempts.abort(new Error('rebalance drain timeout'));
          }, Math.max(1000, this.#rebalanceTimeoutMs * 0.8));
        }
        stop.abort(new Error('rebalance'));
      });
    }, Math.max(200, Math.min(1000, this.#o.heartbeatIntervalMs)));
    const tasks: Promise<void>[] = [];
    const mode = this.spec.delivery.ordering;
    const chains = new Map<string, Promise<void>>();
    const run = { ps, tracker, stop: stop.signal, attemptSignal };
    // kafkajs's running and staleness flags change only while this loop yields (isStale() looks
    // its seek map up): checked at the start and after each await, not on every message.
    let yielded = true;
    try {
      for (const m of batch.messages) {
        if (yielded) {
          checkRunning();
          yielded = false;
        }
        if (stop.signal.aborted) break;
        const bytes = (m.value?.length ?? 0) + (m.key?.length ?? 0);
        // A free slot is taken at once; only a full window waits (and yields to the event loop).
        if (!this.#limiter.tryAcquire(bytes)) {
          // Queued at once (the waiter counts as pressure, also when one large message does not fit).
          const admitted = this.#limiter.acquire(bytes, stop.signal);
          // The window is full: a commit batch waiting out its delay would free slots now.
          if (this.#dirty) this.#requestCommit();
          try {
            await admitted;
          } catch {
            break;
          }
          yielded = true;
        }
        const offset = Number(m.offset);
        ps.permits.push(offset, bytes);
        if (mode === 'ordered') {
          await this.#run(run, m, offset);
          yielded = true;
        } else if (mode === 'key-ordered' && m.key !== null) {
          const key = m.key.toString('latin1');
          const prev = chains.get(key);
          let next: Promise<void>;
          if (prev) {
            this.#chained++;
            next = prev.then(
              () => {
                this.#chained--;
                return this.#run(run, m, offset);
              },
              (err: unknown) => {
                this.#chained--;
                throw err;
              },
            );
          } else {
            next = this.#run(run, m, offset);
          }
          chains.set(key, next);
          tasks.push(next);
        } else {
          tasks.push(this.#run(run, m, offset));
        }
      }
      await Promise.allSettled(tasks);
    } finally {
      clearInterval(hb);
      clearTimeout(drainTimer.t);
      hard.removeEventListener('abort', onHard);
      if (tracker.commitOffset !== undefined) ps.done = tracker.commitOffset;
      ps.batch = undefined;
      if (!rebalance.error && !stop.signal.aborted && tracker.allDone && !this.#stopping) {
        // The usual end: kafkajs may fetch the next batch now. The commit runs on in the
        // background and frees the slots it covers, so the uncommitted window stays bounded.
        this.#requestCommit(ps);
      } else {
        // Revoke, stop (kafkajs leaves the group once this returns), or an unfinished batch:
        // commit what is done before letting go.
        await this.#flush();
        // Whatever was not committed is re-read by the next owner; its slots are free again.
        const freed = ps.permits.releaseAll();
        this.#limiter.releaseMany(freed.count, freed.bytes);
      }
    }
    const next = tracker.commitOffset;
    if (next !== undefined) payload.resolveOffset(String(next - 1));
    ps.lag.value = Math.max(0, Number(batch.highWatermark) - (next ?? Number(batch.firstOffset() ?? 0)));
    if (rebalance.error) throw rebalance.error;
  }

  /**
   * The batch starts past where the partition was: compaction or transaction markers, or
   * retention deleted records before they were delivered (kafkajs then resets to the earliest
   * offset, as subscribed). Only the latter is recorded: when the log start is past `expected`.
   */
  async #checkRetention(ps: PartitionState, expected: number): Promise<void> {
    const now = Date.now();
    let low = ps.lowCheck && now - ps.lowCheck.at < LOW_CHECK_MS ? ps.lowCheck.low : undefined;
    if (low === undefined) {
      const admin = this.#admin;
      if (!admin) return;
      try {
        const marks = await admin.fetchTopicOffsets(ps.topic);
        low = Number(marks.find((x) => x.partition === ps.partition)?.low ?? 0);
      } catch (err) {
        this.#log.debug({ err, topic: ps.topic, partition: ps.partition }, 'reading the log start failed');
        return;
      }
      ps.lowCheck = { at: now, low };
    }
    if (expected >= low) return;
    ps.skipped = addSkip(ps.skipped, expected, low);
    ps.dirty = true;
    this.#log.warn({ topic: ps.topic, partition: ps.partition, committed: expected, logStart: low, skipped: low - expected }, 'records were deleted by retention before delivery; resuming at the log start');
  }

  /** Delivers one message of a batch, then marks it done there (and asks for a commit when the prefix grew). */
  async #run(run: BatchRun, m: KafkaMessage, offset: number): Promise<void> {
    this.#delivering++;
    let done = false;
    try {
      done = await this.#process(run.ps, m, offset, run.stop, run.attemptSignal);
    } finally {
      this.#delivering--;
    }
    if (!done) return;
    this.#finishedSinceCommit++;
    if (run.tracker.markDone(offset)) this.#requestCommit(run.ps);
    // The last delivery running finished without growing a prefix: slots may wait on a commit all the same.
    else if (this.#idle() && this.#dirty) this.#requestCommit();
  }

  /** Delivers one message until done; false when it must be left for a later owner (stop, rebalance). */
  async #process(ps: PartitionState, m: KafkaMessage, offset: number, stop: AbortSignal, attemptSignal: AbortSignal): Promise<boolean> {
    const d = this.#o.deliverer;
    const delivery = d.delivery;
    const event = this.#event(ps, m);
    let attempts = ps.attempts.get(offset) ?? 0;
    for (;;) {
      if (stop.aborted || attemptSignal.aborted) return false;
      try {
        await d.attempt(event, attempts + 1, attemptSignal);
        this.#settled(ps, offset);
        return true;
      } catch (err) {
        if (this.#aborted(attemptSignal)) return false;
        attempts++;
        ps.attempts.set(offset, attempts);
        const f = describeFailure(err);
        let delay: number;
        if (!f.retriable || d.exhausted(attempts)) {
          if (delivery.onExhausted === 'deadLetter' && delivery.deadLetter) {
            allowManyListeners(stop);
            const ok = await this.#deadLetter(ps, m, f, attempts, stop);
            if (ok) this.#settled(ps, offset);
            return ok;
          }
          if (delivery.onExhausted === 'drop') {
            this.#log.warn({ topic: ps.topic, partition: ps.partition, offset, attempts, reason: f.reason }, 'event dropped after its retries (onExhausted: drop)');
            d.recordDrop(f.reason);
            this.#settled(ps, offset);
            return true;
          }
          // block: nothing is lost; retry at the cap and report Stalled through the commit metadata.
          const reason = `${f.reason}: ${f.message}`;
          const cur = ps.stalls.get(offset);
          if (cur?.reason !== reason || cur.cause === 'deadLetter') {
            ps.stalls.set(offset, { offset, reason, since: cur?.since ?? new Date().toISOString(), cause: 'retries' });
            if (!cur) this.#log.warn({ topic: ps.topic, partition: ps.partition, offset, attempts, reason: f.reason }, 'event exhausted its retries; blocking (onExhausted: block)');
          }
          // Never 0 ms (review F2): a failure without I/O would otherwise spin the event loop.
          delay = Math.max(MIN_BLOCK_DELAY_MS, delivery.backoffMaxMs);
        } else {
          delay = Math.max(MIN_RETRY_DELAY_MS, d.delayBeforeRetry(err, attempts));
        }
        ps.dirty = true;
        this.#requestCommit(ps);
        try {
          // Messages of this batch backing off at once each listen on `stop`.
          allowManyListeners(stop);
          await sleep(delay, stop);
        } catch {
          return false;
        }
      }
    }
  }

  /** True once deliveries in flight were aborted (a method defeats stale narrowing after an await). */
  #aborted(signal: AbortSignal): boolean {
    return signal.aborted;
  }

  #settled(ps: PartitionState, offset: number): void {
    if (ps.attempts.delete(offset)) ps.dirty = true;
    if (ps.stalls.delete(offset)) ps.dirty = true;
  }

  #event(ps: PartitionState, m: KafkaMessage): EventInput {
    return kafkaEvent(ps, m);
  }

  /** Produces the record to the dead-letter topic with the error in headers; retries until it lands or the batch stops. */
  async #deadLetter(ps: PartitionState, m: KafkaMessage, f: { reason: string; message: string }, attempts: number, stop: AbortSignal): Promise<boolean> {
    const topic = this.spec.delivery.deadLetter ?? '';
    const headers: Record<string, string | Buffer> = {};
    for (const [k, v] of Object.entries(m.headers ?? {})) {
      const one = Array.isArray(v) ? v[0] : v;
      if (one !== undefined) headers[k] = one;
    }
    Object.assign(headers, {
      'kubeless-error-reason': f.reason,
      'kubeless-error-message': f.message.slice(0, 1000),
      'kubeless-attempts': String(attempts),
      'kubeless-source-topic': ps.topic,
      'kubeless-source-partition': String(ps.partition),
      'kubeless-source-offset': m.offset,
      'kubeless-trigger': `${this.spec.namespace}/${this.spec.trigger}`,
      'kubeless-function': this.spec.function,
      'kubeless-event-id': `partition:${String(ps.partition)}/offset:${m.offset}`,
    });
    const delivery = this.spec.delivery;
    const offset = Number(m.offset);
    // kafkajs does not tell which codec a fetched batch had, and writes only GZIP itself: a record
    // of some size goes compressed, so one that arrived compressed fits the broker's limit again
    // (review F5: 1.5 MiB arriving as gzip came back uncompressed, MESSAGE_TOO_LARGE forever).
    const size = (m.value?.length ?? 0) + (m.key?.length ?? 0);
    const compression = size >= DEAD_LETTER_COMPRESS_BYTES ? CompressionTypes.GZIP : CompressionTypes.None;
    for (let failures = 0; ; ) {
      if (stop.aborted) return false;
      try {
        // Raced with stop: a hanging connect or send does not hold a revoke or shutdown past its deadline.
        const producer = await raceAbort(this.#o.producer(), stop);
        await raceAbort(producer.send({ topic, acks: -1, compression, messages: [{ key: m.key, value: m.value, headers, timestamp: m.timestamp }] }), stop);
        this.#o.deliverer.recordDeadLetter(f.reason);
        this.#log.warn({ topic: ps.topic, partition: ps.partition, offset: m.offset, deadLetter: topic, attempts, reason: f.reason }, 'event sent to the dead letter');
        return true;
      } catch (err) {
        if (this.#aborted(stop)) return false;
        failures++;
        const e = err as { type?: unknown; name?: unknown; message?: unknown; cause?: { type?: unknown } };
        const kind = typeof e.type === 'string' ? e.type : typeof e.cause?.type === 'string' ? e.cause.type : typeof e.name === 'string' ? e.name : 'Error';
        if (failures >= DEAD_LETTER_ATTEMPTS) {
          // It may never succeed (too large for the dead-letter topic, not authorized, no topic):
          // the partition is Stalled with the reason until an operator fixes it; retried at the cap.
          const reason = `dead letter to ${topic} failed: ${kind}: ${String(e.message ?? err)}`;
          const cur = ps.stalls.get(offset);
          if (cur?.reason !== reason) {
            ps.stalls.set(offset, { offset, reason, since: cur?.cause === 'deadLetter' ? cur.since : new Date().toISOString(), cause: 'deadLetter' });
            this.#requestCommit(ps);
            if (cur?.cause !== 'deadLetter') this.#log.warn({ err, topic: ps.topic, partition: ps.partition, offset: m.offset, deadLetter: topic, failures }, 'dead letter keeps failing; partition stalled');
          }
        } else {
          this.#log.warn({ err, deadLetter: topic, failures }, 'dead-letter produce failed; retrying');
        }
        const cap = Math.max(MIN_BLOCK_DELAY_MS, delivery.backoffMaxMs);
        const delay = failures >= DEAD_LETTER_ATTEMPTS ? cap : Math.min(cap, Math.max(MIN_BLOCK_DELAY_MS, delivery.backoffDelayMs) * 2 ** (failures - 1));
        try {
          await sleep(delay, stop);
        } catch {
          return false;
        }
      }
    }
  }

  /**
   * Asks for a commit of the partitions marked dirty. It runs at once when `now`, or when the
   * in-flight window waits on it (slots are freed by commits) and a commit batch finished since
   * the last one (or nothing else is running or queued to finish); otherwise within COMMIT_DELAY_MS
   * under pressure and COMMIT_IDLE_DELAY_MS without, so that one commit covers many deliveries.
   */
  #requestCommit(ps?: PartitionState, now = false): void {
    if (ps) ps.dirty = true;
    this.#dirty = true;
    const pressing = now || this.#commitPressing();
    // A running commit goes on to this one; under pressure a second one may start beside it.
    if (this.#committing.size >= (pressing ? MAX_COMMITS_IN_FLIGHT : 1)) return;
    if (pressing && (now || this.#commitDue())) {
      this.#commitNow();
      return;
    }
    const delay = pressing ? COMMIT_DELAY_MS : COMMIT_IDLE_DELAY_MS;
    const at = performance.now() + delay;
    if (this.#commitTimer && this.#commitAt <= at) return;
    clearTimeout(this.#commitTimer);
    this.#commitAt = at;
    this.#commitTimer = setTimeout(() => {
      this.#commitTimer = undefined;
      this.#commitNow();
    }, delay);
    this.#commitTimer.unref();
  }

  /** Under pressure: a commit batch finished since the last commit, or nothing running will add to it. */
  #commitDue(): boolean {
    return this.#finishedSinceCommit >= this.#commitBatch || this.#idle() || this.#flushing > 0 || this.#stopping;
  }

  /**
   * Nothing is delivering and no admitted message waits for its key's predecessor. Not when a
   * key-ordered chain is only passing from one message to the next: a hot key would otherwise
   * commit after every message (an OffsetCommit per event); the COMMIT_DELAY_MS timer still
   * bounds how long its finished messages wait.
   */
  #idle(): boolean {
    return this.#delivering === 0 && this.#chained === 0;
  }

  #commitNow(): void {
    clearTimeout(this.#commitTimer);
    this.#commitTimer = undefined;
    if (this.#committing.size >= MAX_COMMITS_IN_FLIGHT || !this.#dirty) return;
    const loop: Promise<void> = this.#commitLoop().finally(() => {
      this.#committing.delete(loop);
      if (this.#dirty) this.#requestCommit();
    });
    this.#committing.add(loop);
  }

  /** True when deliveries wait for slots that only a commit frees (or a flush is running). */
  #commitPressing(): boolean {
    const l = this.#limiter;
    return this.#flushing > 0 || this.#stopping || l.waiting > 0 || l.count * 2 >= l.maxCount || l.bytes * 2 >= l.maxBytes;
  }

  async #flush(): Promise<void> {
    this.#flushing++;
    try {
      this.#dirty = true;
      // Until nothing is left to commit and no commit is on the wire: a commit that ends while
      // work is dirty starts the next one itself (and clears the dirty mark as it starts).
      do {
        this.#commitNow();
        await Promise.all(this.#committing);
      } while ((this.#hasDirty() || this.#committing.size > 0) && this.#commitFn);
    } finally {
      this.#flushing--;
    }
  }

  async #commitLoop(): Promise<void> {
    while (this.#dirty) {
      this.#dirty = false;
      const commit = this.#commitFn;
      if (!commit) return;
      const work: { ps: PartitionState; offset: number }[] = [];
      const byTopic = new Map<string, { partition: number; offset: string; metadata: string }[]>();
      for (const ps of this.#parts.values()) {
        if (!ps.dirty) continue;
        ps.dirty = false;
        const offset = ps.batch?.commitOffset ?? ps.done ?? ps.committed ?? ps.firstOffset;
        if (ps.skipped && Date.now() - Date.parse(ps.skipped.at) >= SKIP_REPORT_MS) ps.skipped = undefined;
        const metadata = encodeMetadata({ attempts: ps.attempts, stalled: lowestStall(ps.stalls), skipped: ps.skipped, owner: this.#owner });
        let list = byTopic.get(ps.topic);
        if (!list) byTopic.set(ps.topic, (list = []));
        list.push({ partition: ps.partition, offset: String(offset), metadata });
        work.push({ ps, offset });
      }
      if (work.length === 0) continue;
      this.#finishedSinceCommit = 0;
      try {
        await commit({ topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) });
        this.#commits?.inc();
        for (const { ps, offset } of work) {
          // A commit answered after a later one (it failed and was retried) does not go back.
          if (ps.committed !== undefined && offset < ps.committed) continue;
          ps.committed = offset;
          const freed = ps.permits.releaseBelow(offset);
          this.#limiter.releaseMany(freed.count, freed.bytes);
        }
        // Work finished meanwhile: commit it at once only under pressure with a batch due, else after a delay.
        if (!this.#commitPressing() || !this.#commitDue()) return;
      } catch (err) {
        // A rebalance or a moved coordinator: the batch's end (or its next delivery) commits again.
        for (const { ps } of work) ps.dirty = true;
        this.#log.debug({ err }, 'offset commit failed');
        // Try again shortly even if nothing else moves (slots wait on this commit).
        if (!this.#stopping && !this.#hard.signal.aborted) {
          setTimeout(() => {
            this.#requestCommit();
          }, 250).unref();
        }
        return;
      }
    }
  }
}
