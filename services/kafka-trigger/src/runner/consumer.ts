import { setMaxListeners } from 'node:events';
import { InFlightLimiter, describeFailure, sleep, type Deliverer, type EventInput } from '@kubeless/delivery';
import type { Counter, Logger } from '@kubeless/observability';
import type { Admin, Consumer, EachBatchPayload, KafkaMessage, Producer } from 'kafkajs';
import type { KafkaClient } from '../kafka.js';
import type { ConsumerSpec } from '../plan.js';
import { kafkaEvent } from './event.js';
import { BatchOffsets, PermitQueue, decodeMetadata, encodeMetadata, type CommitMetadata } from './offsets.js';

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
  stalled: CommitMetadata['stalled'];
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
  readonly #metaLoads = new Map<string, Promise<Map<number, CommitMetadata>>>();
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

  constructor(options: ConsumerOptions) {
    this.#o = options;
    this.spec = options.spec;
    this.#log = options.logger.child({ namespace: options.spec.namespace, trigger: options.spec.trigger, function: options.spec.function, groupId: options.spec.groupId });
    const ordered = options.spec.delivery.ordering === 'ordered';
    this.#limiter = new InFlightLimiter(ordered ? Number.MAX_SAFE_INTEGER : Math.max(1, options.spec.delivery.maxInFlight), options.maxBytesInFlight);
    this.#commitBatch = ordered ? 1 : Math.max(1, Math.floor(options.spec.delivery.maxInFlight / COMMIT_BATCH_FRACTION));
    this.#commits = options.commitCounter?.labels({ namespace: options.spec.namespace, trigger: options.spec.trigger, function: options.spec.function });
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
    const o = this.#o;
    const consumer = o.kafka.consumer({
      groupId: this.spec.groupId,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: o.heartbeatIntervalMs,
      rebalanceTimeout: o.rebalanceTimeoutMs,
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
      this.state.joined = true;
      this.state.lastError = undefined;
      this.#log.info({ assignment: e.payload.memberAssignment }, 'joined consumer group');
    });
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
      await consumer.connect();
      await consumer.subscribe({ topics: this.spec.topics, fromBeginning: this.spec.fromBeginning });
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
  }

  /** Committed metadata of every partition of `topic` for this group (once per generation). */
  #loadMetadata(topic: string): Promise<Map<number, CommitMetadata>> {
    let p = this.#metaLoads.get(topic);
    if (!p) {
      const admin = this.#admin;
      p = (async () => {
        const out = new Map<number, CommitMetadata>();
        if (!admin) return out;
        const res = await admin.fetchOffsets({ groupId: this.spec.groupId, topics: [topic] });
        for (const t of res) for (const part of t.partitions) out.set(part.partition, decodeMetadata(part.metadata));
        return out;
      })();
      p.catch(() => this.#metaLoads.delete(topic));
      this.#metaLoads.set(topic, p);
    }
    return p;
  }

  async #partition(topic: string, partition: number): Promise<PartitionState> {
    const k = `${topic}/${String(partition)}`;
    let ps = this.#parts.get(k);
    if (!ps) {
      const meta: CommitMetadata = (await this.#loadMetadata(topic)).get(partition) ?? { attempts: new Map() };
      ps = this.#parts.get(k);
      if (!ps) {
        ps = {
          topic,
          partition,
          attempts: meta.attempts,
          stalled: meta.stalled,
          batch: undefined,
          firstOffset: 0,
          permits: new PermitQueue(),
          source: `/apis/v1/namespaces/${this.spec.namespace}/kafkatriggers/${this.spec.trigger}#${topic}`,
          partitionText: String(partition),
          lag: this.#lagOf(topic, partition),
          committed: undefined,
          done: undefined,
          dirty: false,
        };
        this.#parts.set(k, ps);
      }
    }
    return ps;
  }

  async #eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    this.#commitFn = (offsets) => payload.commitOffsetsIfNecessary(offsets);
    if (batch.messages.length === 0) return;
    const ps = this.#parts.get(`${batch.topic}/${String(batch.partition)}`) ?? (await this.#partition(batch.topic, batch.partition));
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
          }, Math.max(1000, this.#o.rebalanceTimeoutMs * 0.8));
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
          if (ps.stalled?.offset !== offset) {
            ps.stalled = { offset, reason: `${f.reason}: ${f.message}`, since: new Date().toISOString() };
            this.#log.warn({ topic: ps.topic, partition: ps.partition, offset, attempts, reason: f.reason }, 'event exhausted its retries; blocking (onExhausted: block)');
          }
          delay = delivery.backoffMaxMs;
        } else {
          delay = d.delayBeforeRetry(err, attempts);
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
    if (ps.stalled?.offset === offset) {
      ps.stalled = undefined;
      ps.dirty = true;
    }
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
    for (let i = 0; ; i++) {
      if (stop.aborted) return false;
      try {
        const producer = await this.#o.producer();
        const sent = producer.send({ topic, acks: -1, messages: [{ key: m.key, value: m.value, headers, timestamp: m.timestamp }] });
        // A revoke or shutdown does not wait out the producer's retries: the record stays uncommitted.
        await Promise.race([sent, new Promise((_resolve, reject) => { stop.addEventListener('abort', () => { reject(new Error('stopped')); }, { once: true }); })]);
        this.#o.deliverer.recordDeadLetter(f.reason);
        this.#log.warn({ topic: ps.topic, partition: ps.partition, offset: m.offset, deadLetter: topic, attempts, reason: f.reason }, 'event sent to the dead letter');
        return true;
      } catch (err) {
        this.#log.warn({ err, deadLetter: topic }, 'dead-letter produce failed; retrying');
        try {
          await sleep(Math.min(10_000, 500 * 2 ** i), stop);
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
        const metadata = encodeMetadata({ attempts: ps.attempts, stalled: ps.stalled });
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
