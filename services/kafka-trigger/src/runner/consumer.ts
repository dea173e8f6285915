import { createHash } from 'node:crypto';
import { InFlightLimiter, sleep, type Deliverer, type MemoryBudget } from '@kubeless/delivery';
import type { Counter, Logger } from '@kubeless/observability';
import type { ConsumerSpec } from '../plan.js';
import { BatchRunner, recordBytes } from './batch-runner.js';
import { FetchBudget } from './budget-gate.js';
import { CommitScheduler } from './commit-scheduler.js';
import type { DeadLetterSink } from './dead-letter.js';
import { encodeMetadata, lowestStall } from './offsets.js';
import { Pauses, carryOf, commitOffsetOf, newPartition, type Carried, type PartitionLag, type PartitionState } from './partition.js';
import type { BatchContext, FetchedBatch, GroupAdmin, GroupConsumer, KafkaPort, OffsetCommit } from './port.js';
import { SKIP_REPORT_MS, StartPositions } from './start-position.js';

export type { PartitionLag } from './partition.js';

export interface ConsumerOptions {
  spec: ConsumerSpec;
  /** The connection's Kafka client, behind the port (kafkajs.ts). */
  port: KafkaPort;
  /** The connection's dead-letter producer. */
  deadLetter: DeadLetterSink;
  deliverer: Deliverer;
  logger: Logger;
  /** Bytes of record bodies in requests in flight (with `delivery.maxInFlight`, the requests bound). */
  maxBytesInFlight: number;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
  /** Partitions handed over at once by the client. */
  partitionsConcurrency: number;
  /** Fetch limits (bounded memory). */
  maxFetchBytes: number;
  maxFetchBytesPerPartition: number;
  /** How long `stop()` waits for deliveries in flight before aborting them. */
  drainTimeoutMs: number;
  /** The consumers whose partitions' lag `kubeless_kafka_consumer_lag` shows at a scrape: a consumer is in it from start to stop. */
  lagSources?: Set<TriggerConsumer> | undefined;
  /** Offset commits this replica made (`kubeless_kafka_offset_commits_total`). */
  commitCounter?: Counter<'namespace' | 'trigger' | 'function'> | undefined;
  /** The process's memory budget, shared by every consumer (SPEC §4; see budget-gate.ts). None: unbounded. */
  budget?: MemoryBudget | undefined;
}

/** What this replica knows about the consumer, for logs and readiness. */
export interface ConsumerState {
  running: boolean;
  joined: boolean;
  lastError?: string | undefined;
}

/** What one start of the client is made of (a crash restarts all of it). */
interface Run {
  consumer: GroupConsumer;
  admin: GroupAdmin;
  pauses: Pauses;
  scheduler: CommitScheduler;
  runner: BatchRunner;
  positions: StartPositions;
  gate: FetchBudget | undefined;
}

/**
 * One Kafka consumer group member for one (trigger, function) pair (SPEC §4): the lifecycle
 * (start, restart after a crash, graceful stop), the group's generations, and the commits. What
 * is delivered when is the BatchRunner's; when commits go out, the CommitScheduler's; where a
 * partition starts, StartPositions'.
 *
 * At a join every delivery of the ending generation stops (the client's assigner hook, before the
 * JoinGroup goes out), and partitions start again from their commits: what was delivered and not
 * committed (at most the commit window) is delivered again. A rebalance seen by a batch's
 * heartbeat first lets deliveries in flight finish and commits them. A stop lets them finish (up
 * to `drainTimeoutMs`), commits, then leaves the group.
 */
export class TriggerConsumer {
  readonly spec: ConsumerSpec;
  readonly state: ConsumerState = { running: false, joined: false };
  readonly #o: ConsumerOptions;
  readonly #log: Logger;
  readonly #limiter: InFlightLimiter;
  readonly #parts = new Map<string, PartitionState>();
  /** Lag of the partitions assigned to this member, by `topic/partition`. */
  readonly #lag = new Map<string, PartitionLag>();
  readonly #jobs = new Set<Promise<void>>();
  /** Done and not committed when a partition's generation ended here, by `topic/partition` (see Carried). */
  readonly #carried = new Map<string, Carried>();
  readonly #commits: { inc: () => void } | undefined;
  /** Tags this consumer's commits, so the group that replaces a renamed one finds its offsets. */
  readonly #owner: string;
  /** The rebalance timeout: the configured one, or longer so a delivery in flight can finish within its drain. */
  readonly #rebalanceTimeoutMs: number;
  #run: Run | undefined;
  /** The latest batch's context: commits go through it. */
  #ctx: BatchContext | undefined;
  /** Aborted when the generation winds down (a rebalance, a stop): nothing new is dispatched and backoffs end. */
  #calm = new AbortController();
  #generation = 0;
  #assignment: Record<string, number[]> = {};
  /** The log end of each topic when this start began: `initialOffset: latest` starts there. */
  #startEnds = new Map<string, Map<number, number>>();
  #fetchBound = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  #restarting: Promise<void> | undefined;
  #stopping = false;

  constructor(options: ConsumerOptions) {
    this.#o = options;
    this.spec = options.spec;
    const s = options.spec;
    this.#log = options.logger.child({ namespace: s.namespace, trigger: s.trigger, function: s.function, groupId: s.groupId });
    const ordered = s.delivery.ordering === 'ordered';
    this.#limiter = new InFlightLimiter(ordered ? Number.MAX_SAFE_INTEGER : Math.max(1, s.delivery.maxInFlight), options.maxBytesInFlight);
    this.#commits = options.commitCounter?.labels({ namespace: s.namespace, trigger: s.trigger, function: s.function });
    this.#owner = createHash('sha256').update(s.key).digest('hex').slice(0, 16);
    // Deliveries in flight at a rebalance get 0.8 of it to finish (review F20): the function's timeout fits in that.
    this.#rebalanceTimeoutMs = Math.max(options.rebalanceTimeoutMs, Math.ceil(s.delivery.timeoutMs / 0.8) + 2000);
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
    const o = this.#o;
    this.#calm = new AbortController();
    this.#revokeAll('restart');
    // This start's parts, once made: events of a client that was replaced are ignored.
    const ref: { run?: Run } = {};
    const current = (): boolean => this.#run !== undefined && this.#run === ref.run;
    const consumer = o.port.consumer({
      groupId: this.spec.groupId,
      topics: this.spec.topics,
      sessionTimeoutMs: o.sessionTimeoutMs,
      heartbeatIntervalMs: o.heartbeatIntervalMs,
      rebalanceTimeoutMs: this.#rebalanceTimeoutMs,
      maxFetchBytes: o.maxFetchBytes,
      maxFetchBytesPerPartition: o.maxFetchBytesPerPartition,
      partitionsConcurrency: o.partitionsConcurrency,
      fetchEvents: o.budget !== undefined,
      listener: {
        joining: () => {
          if (current()) this.#joining();
        },
        joined: (assignment) => {
          if (current()) this.#joined(assignment);
        },
        rebalancing: () => {
          if (!current()) return;
          this.state.joined = false;
          // Written before the client's JoinGroup on the same connection: still this generation's.
          ref.run?.scheduler.request(true);
        },
        crashed: (error, restart) => {
          if (!current()) return;
          this.state.joined = false;
          this.state.lastError = error.message;
          this.#log.warn({ err: error, restart }, 'consumer crashed');
          if (!restart && !this.#stopping) this.#scheduleRestart();
        },
        fetchStart: (nodeId) => {
          if (current()) ref.run?.gate?.fetchStart(nodeId);
        },
        fetchEnd: (nodeId) => {
          if (current()) ref.run?.gate?.fetchEnd(nodeId);
        },
      },
    });
    const admin = o.port.admin();
    const pauses = new Pauses((pause, resume) => {
      try {
        if (pause.length > 0) consumer.pause(pause);
        if (resume.length > 0) consumer.resume(resume);
      } catch {
        // Not running any more: nothing fetches.
      }
    });
    const scheduler = new CommitScheduler({
      intervalMs: this.spec.delivery.commitIntervalMs,
      commit: () => this.#commitDirty(),
      onError: (err) => {
        this.#log.debug({ err }, 'offset commit failed');
      },
    });
    const gate = o.budget ? new FetchBudget({ budget: o.budget, log: this.#log, pauseAll: (on) => {
            pauses.setAll(on);
          }, bound: () => this.#fetchBound || o.maxFetchBytesPerPartition }) : undefined;
    const runner = new BatchRunner({
      spec: this.spec,
      deliverer: o.deliverer,
      limiter: this.#limiter,
      scheduler,
      pauses,
      deadLetter: o.deadLetter,
      log: this.#log,
      heartbeatMs: Math.max(200, Math.min(1000, o.heartbeatIntervalMs)),
      rebalanceDrainMs: Math.max(1000, this.#rebalanceTimeoutMs * 0.8),
      calm: () => this.#calm.signal,
      jobs: this.#jobs,
      releaseBytes: gate
        ? (bytes) => {
            gate.release(bytes);
          }
        : undefined,
    });
    const positions = new StartPositions({ spec: this.spec, admin, consumer, owner: this.#owner, log: this.#log, startEnds: this.#startEnds, assignment: () => this.#assignment });
    const run: Run = { consumer, admin, pauses, scheduler, runner, positions, gate };
    ref.run = run;
    this.#run = run;
    this.#ctx = undefined;
    try {
      await admin.connect();
      this.#startEnds.clear();
      for (const topic of this.spec.topics) {
        try {
          this.#startEnds.set(topic, new Map((await admin.watermarks(topic)).map((x) => [x.partition, x.high])));
        } catch {
          // A topic that does not exist yet: its log end is read at the join.
        }
      }
      // stop() may have run while we connected: it found nothing to stop, so tear down here.
      if (this.#isStopping()) throw new Error('stopped while starting');
      await consumer.run((batch, ctx) => this.#handle(run, batch, ctx));
    } catch (err) {
      this.state.lastError = err instanceof Error ? err.message : String(err);
      await this.#disconnect();
      throw err;
    }
    this.state.running = true;
  }

  /** A join is about to go out: the ending generation's deliveries stop, and its partitions are forgotten. */
  #joining(): void {
    this.state.joined = false;
    this.#revokeAll('rebalance');
  }

  #revokeAll(why: string): void {
    for (const [k, ps] of this.#parts) {
      ps.revoked.abort(new Error(why));
      const carried = carryOf(ps);
      if (carried) this.#carried.set(k, carried);
    }
    this.#parts.clear();
    this.#generation++;
  }

  #joined(assignment: Record<string, number[]>): void {
    const run = this.#run;
    if (!run) return;
    this.#revokeAll('rebalance');
    if (!this.#stopping) this.#calm = new AbortController();
    this.#assignment = assignment;
    run.pauses.assign(assignment);
    run.positions.reset();
    for (const k of this.#carried.keys()) {
      const [topic, partition] = [k.slice(0, k.lastIndexOf('/')), Number(k.slice(k.lastIndexOf('/') + 1))];
      if (!assignment[topic]?.includes(partition)) this.#carried.delete(k);
    }
    // Partitions that moved to another member no longer show this member's last lag for them.
    for (const [k, l] of this.#lag) {
      if (!assignment[l.labels.topic]?.includes(Number(l.labels.partition))) this.#lag.delete(k);
    }
    const o = this.#o;
    const count = Object.values(assignment).reduce((n, ps) => n + ps.length, 0);
    this.#fetchBound = Math.min(o.maxFetchBytes, o.maxFetchBytesPerPartition * Math.max(1, count), o.budget?.limit ?? Number.MAX_SAFE_INTEGER);
    this.state.joined = true;
    this.state.lastError = undefined;
    this.#log.info({ assignment }, 'joined consumer group');
    // Where each partition starts is settled now, at the join ("latest" is the log end of this
    // moment, not of the first batch); the first batch of each partition waits for it.
    for (const topic of Object.keys(assignment)) {
      run.positions.load(topic).catch((err: unknown) => {
        this.#log.warn({ err, topic }, 'reading committed offsets failed; retrying at the first batch');
      });
    }
  }

  /** A method, not the field, so a check after an await is not narrowed away by the compiler. */
  #isStopping(): boolean {
    return this.#stopping;
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
   * Graceful stop: nothing new is dispatched and backoffs end, deliveries in flight finish (up to
   * `drainTimeoutMs`, then they are aborted and stay uncommitted), offsets are committed, the group
   * is left.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    // An internal restart in progress finishes (or gives up, seeing #stopping) before we stop what it made.
    await this.#restarting;
    this.#calm.abort(new Error('stopping'));
    await this.#drain(this.#o.drainTimeoutMs);
    const run = this.#run;
    await run?.scheduler.flush();
    try {
      await run?.consumer.stop();
    } catch (err) {
      this.#log.warn({ err }, 'consumer stop failed');
    }
    await this.#disconnect();
    this.state.running = false;
    this.state.joined = false;
    this.#o.lagSources?.delete(this);
    this.#lag.clear();
  }

  /** Waits for every job to end, up to `ms`; then aborts the rest (they stay uncommitted). */
  async #drain(ms: number): Promise<void> {
    if (this.#jobs.size === 0) return;
    const timer = new AbortController();
    await Promise.race([Promise.allSettled([...this.#jobs]), sleep(ms, timer.signal).catch(() => undefined)]);
    timer.abort();
    if (this.#jobs.size === 0) return;
    for (const ps of this.#parts.values()) ps.revoked.abort(new Error('shutdown'));
    await Promise.allSettled([...this.#jobs]);
  }

  async #disconnect(): Promise<void> {
    const run = this.#run;
    this.#run = undefined;
    this.#revokeAll('stopped');
    if (!run) return;
    await run.scheduler.close();
    await run.consumer.disconnect().catch(() => undefined);
    await run.admin.disconnect().catch(() => undefined);
    run.gate?.reset();
  }

  /** One fetched batch: the partition's state, a retention gap, then the runner. */
  async #handle(run: Run, batch: FetchedBatch, ctx: BatchContext): Promise<void> {
    this.#ctx = ctx;
    const messages = batch.messages;
    if (messages.length === 0) return;
    const gate = run.gate;
    let held = 0;
    if (gate) {
      for (const m of messages) held += recordBytes(m);
      gate.hold(held);
    }
    let ps: PartitionState | undefined;
    try {
      ps = this.#parts.get(`${batch.topic}/${String(batch.partition)}`) ?? (await this.#partition(run, batch.topic, batch.partition));
      // Fetched before the join chose this partition's start (it was sought elsewhere), or in an older generation: not ours.
      if (!ps || !ctx.isCurrent()) ps = undefined;
    } finally {
      if (gate && !ps) gate.release(held);
    }
    if (!ps) return;
    const first = Number(messages[0]?.offset ?? 0);
    const expected = ps.next ?? ps.committed;
    if (expected !== undefined && first > expected && (await run.positions.checkRetention(ps, expected))) {
      ps.dirty = true;
      run.scheduler.request();
    }
    // Stalls below where the generation starts were settled by an earlier owner.
    if (ps.next === undefined) for (const o of ps.stalls.keys()) if (o < first) ps.stalls.delete(o);
    try {
      await run.runner.run(batch, ctx, ps);
    } catch (err) {
      // The batch's heartbeat failed (the group rebalances, or the coordinator moved).
      await this.#quiesce(run);
      throw err;
    }
  }

  /**
   * After a batch's heartbeat failed, before the client rejoins or retries: backoffs end,
   * deliveries in flight finish (up to the rebalance drain), progress is committed, and every
   * partition starts again from its commit: sought there, since without a rejoin the client would
   * go on past records that were parked and are now given up.
   */
  async #quiesce(run: Run): Promise<void> {
    this.#calm.abort(new Error('rebalance'));
    await this.#drain(Math.max(1000, this.#rebalanceTimeoutMs * 0.8));
    await run.scheduler.flush(1);
    if (this.#run !== run) return;
    for (const ps of this.#parts.values()) {
      const at = commitOffsetOf(ps);
      if (at === undefined || ps.revoked.signal.aborted) continue;
      try {
        run.consumer.seek(ps.topic, ps.partition, at);
      } catch (err) {
        this.#log.debug({ err, topic: ps.topic, partition: ps.partition }, 'seek after a failed heartbeat failed');
      }
    }
    this.#revokeAll('heartbeat failed');
    if (!this.#stopping) this.#calm = new AbortController();
  }

  async #partition(run: Run, topic: string, partition: number): Promise<PartitionState | undefined> {
    const generation = this.#generation;
    const prepared = (await run.positions.load(topic)).get(partition);
    // A join while the start was read: this batch belongs to the generation that ended.
    if (generation !== this.#generation || this.#run !== run) return undefined;
    const k = `${topic}/${String(partition)}`;
    let ps = this.#parts.get(k);
    if (!ps) {
      ps = newPartition({
        topic,
        partition,
        source: `/apis/v1/namespaces/${this.spec.namespace}/kafkatriggers/${this.spec.trigger}#${topic}`,
        lag: this.#lagOf(topic, partition),
        meta: prepared?.meta ?? { attempts: new Map() },
        committed: prepared?.committed,
        carried: this.#carried.get(k),
      });
      this.#carried.delete(k);
      this.#parts.set(k, ps);
    }
    return ps;
  }

  /** Commits every partition marked since the last commit: its done prefix and its metadata. */
  async #commitDirty(): Promise<boolean> {
    const ctx = this.#ctx;
    const run = this.#run;
    if (!ctx || !run) return false;
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
      await ctx.commit(offsets);
    } catch (err) {
      for (const { ps } of work) ps.dirty = true;
      throw err;
    }
    this.#commits?.inc();
    for (const { ps, offset } of work) {
      // A commit answered after a later one (it failed and was retried) does not go back.
      if (ps.committed !== undefined && offset < ps.committed) continue;
      ps.committed = offset;
      ps.window.releaseBelow(offset);
      run.runner.maybeResume(ps);
    }
    return true;
  }
}
