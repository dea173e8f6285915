import { createHash } from 'node:crypto';
import { InFlightLimiter, sleep } from '@kubeless/delivery';
import type { Logger } from '@kubeless/observability';
import type { ConsumerSpec } from '../plan.js';
import { intake } from './intake.js';
import { Countdown, commitOffsetOf, type PartitionLag } from './partition.js';
import { PartitionTable } from './partitions.js';
import type { BatchContext, FetchedBatch } from './port.js';
import { createRun, type ConsumerOptions, type ConsumerState, type Run } from './run.js';

export type { PartitionLag } from './partition.js';
export type { ConsumerOptions, ConsumerState } from './run.js';

/**
 * One Kafka consumer group member for one (trigger, function) pair (docs/delivery.md): the lifecycle
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
  readonly #parts: PartitionTable;
  readonly #jobs = new Countdown();
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
    // Deliveries in flight at a rebalance get 0.8 of it to finish: the function's timeout fits in that.
    this.#rebalanceTimeoutMs = Math.max(options.rebalanceTimeoutMs, Math.ceil(s.delivery.timeoutMs / 0.8) + 2000);
    this.#parts = new PartitionTable({ spec: s, owner: this.#owner });
  }

  /** Connects, joins the group and starts consuming. Rejects when Kafka cannot be reached. */
  async start(): Promise<void> {
    this.#stopping = false;
    await this.#start();
    this.#o.lagSources?.add(this);
  }

  /** The lag of each partition assigned to this member, after its last batch (read at a scrape). */
  lag(): IterableIterator<PartitionLag> {
    return this.#parts.lag();
  }

  async #start(): Promise<void> {
    const o = this.#o;
    this.#calm = new AbortController();
    this.#parts.revokeAll('restart');
    // This start's parts, once made: events of a client that was replaced are ignored.
    const ref: { run?: Run } = {};
    const current = (): boolean => this.#run !== undefined && this.#run === ref.run;
    const run = createRun({
      options: o,
      limiter: this.#limiter,
      log: this.#log,
      owner: this.#owner,
      rebalanceTimeoutMs: this.#rebalanceTimeoutMs,
      commit: () => this.#commitDirty(),
      calm: () => this.#calm.signal,
      jobs: this.#jobs,
      startEnds: this.#startEnds,
      assignment: () => this.#assignment,
      fetchBound: () => this.#fetchBound,
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
    ref.run = run;
    this.#run = run;
    this.#ctx = undefined;
    try {
      await run.admin.connect();
      this.#startEnds.clear();
      for (const topic of this.spec.topics) {
        try {
          this.#startEnds.set(topic, new Map((await run.admin.watermarks(topic)).map((x) => [x.partition, x.high])));
        } catch {
          // A topic that does not exist yet: its log end is read at the join.
        }
      }
      // stop() may have run while we connected: it found nothing to stop, so tear down here.
      if (this.#isStopping()) throw new Error('stopped while starting');
      await run.consumer.run((batch, ctx) => this.#handle(run, batch, ctx, current));
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
    this.#parts.revokeAll('rebalance');
  }

  #joined(assignment: Record<string, number[]>): void {
    const run = this.#run;
    if (!run) return;
    this.#parts.revokeAll('rebalance');
    if (!this.#stopping) this.#calm = new AbortController();
    this.#assignment = assignment;
    run.pauses.assign(assignment);
    run.positions.reset();
    this.#parts.assigned(assignment);
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
    this.#parts.forgetLag();
  }

  /** Waits for every job to end, up to `ms`; then aborts the rest (they stay uncommitted). */
  async #drain(ms: number): Promise<void> {
    if (this.#jobs.size === 0) return;
    const timer = new AbortController();
    await Promise.race([this.#jobs.idle(), sleep(ms, timer.signal).catch(() => undefined)]);
    timer.abort();
    if (this.#jobs.size === 0) return;
    this.#parts.abortAll('shutdown');
    await this.#jobs.idle();
  }

  async #disconnect(): Promise<void> {
    const run = this.#run;
    this.#run = undefined;
    this.#parts.revokeAll('stopped');
    if (!run) return;
    await run.scheduler.close();
    await run.consumer.disconnect().catch(() => undefined);
    await run.admin.disconnect().catch(() => undefined);
    run.gate?.reset();
  }

  /** One fetched batch: accepted (see intake), then delivered; a failed heartbeat winds the generation down. */
  async #handle(run: Run, batch: FetchedBatch, ctx: BatchContext, current: () => boolean): Promise<void> {
    this.#ctx = ctx;
    const taken = await intake(run, this.#parts, current, batch, ctx);
    if (!taken) return;
    try {
      await run.runner.run(batch, ctx, taken.ps, taken.held);
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
    // A batch of a start that was replaced: the generation it would wind down is not the current one.
    if (this.#run !== run) return;
    const calm = this.#calm;
    calm.abort(new Error('rebalance'));
    try {
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
      this.#parts.revokeAll('heartbeat failed');
    } finally {
      // Dispatching resumes (unless a join or a stop already replaced or ended the calm it aborted).
      if (this.#calm === calm && !this.#stopping) this.#calm = new AbortController();
    }
  }

  /** Commits every partition marked since the last commit (the CommitScheduler says when). */
  async #commitDirty(): Promise<boolean> {
    const ctx = this.#ctx;
    const run = this.#run;
    if (!ctx || !run) return false;
    const done = await this.#parts.commit(ctx, (ps) => {
      run.runner.maybeResume(ps);
    });
    if (done) this.#commits?.inc();
    return done;
  }
}
