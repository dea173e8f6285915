import type { Deliverer, InFlightLimiter } from '@kubeless/delivery';
import type { Logger } from '@kubeless/observability';
import type { ConsumerSpec } from '../plan.js';
import { deliverRecord, startRecord, type AttemptContext } from './attempts.js';
import type { CommitScheduler } from './commit-scheduler.js';
import type { DeadLetterSink } from './dead-letter.js';
import { Countdown, type Job, type PartitionState, type Pauses } from './partition.js';
import type { BatchContext, FetchedBatch, KafkaRecord } from './port.js';

export interface BatchRunnerOptions {
  spec: ConsumerSpec;
  deliverer: Deliverer;
  /** Requests in flight (maxInFlight and bytes); a slot is held only while a request is out. */
  limiter: InFlightLimiter;
  scheduler: CommitScheduler;
  pauses: Pauses;
  deadLetter: DeadLetterSink;
  log: Logger;
  /** How often a batch in hand heartbeats (deliveries may take the function's timeout). */
  heartbeatMs: number;
  /** How long deliveries in flight may finish after a rebalance was seen, before they are aborted. */
  rebalanceDrainMs: number;
  /** Aborted when the consumer stops: nothing new is dispatched and backoffs end (their records are left uncommitted). */
  calm: () => AbortSignal;
  /** Every job of the consumer, until it ends (a stop waits for them). */
  jobs: Countdown;
  /** A batch's records ended: their bytes leave the memory budget. */
  releaseBytes?: ((bytes: number) => void) | undefined;
}

/** A record enters the partition's commit window and tracker: it is the partition's latest dispatched one. */
function admit(ps: PartitionState, offset: number, bytes: number): void {
  ps.window.push(offset, bytes);
  ps.tracker.push(offset);
  ps.next = offset + 1;
  ps.firstOffset ??= offset;
}

/** Bytes a fetched record holds (key, value, headers). */
export function recordBytes(m: KafkaRecord): number {
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

/**
 * Dispatches the records of fetched batches to the function (docs/delivery.md#ordering), per ordering mode:
 * `unordered`, all at once up to `maxInFlight`; `key-ordered`, one at a time per key; `ordered`,
 * one at a time per partition. At least once: a record counts as done only when the function
 * accepted it (or it went to the dead letter, or was dropped by an explicit `drop`), and only the
 * partition's done prefix is committed.
 *
 * A batch in hand waits only for its deliveries in flight: a record that backs off (or waits
 * behind one of its key) is parked, so the client fetches the partition's next records, and the
 * other partitions', meanwhile (a blocked batch once stopped every partition on its broker). What a partition may dispatch past its last commit is
 * bounded by its commit window (`delivery.commitWindow`): a full window pauses the partition
 * until a commit makes room. In ordered mode nothing can pass a record that backs off, so its
 * partition is paused while it does.
 */
export class BatchRunner {
  readonly #o: BatchRunnerOptions;
  readonly #mode: ConsumerSpec['delivery']['ordering'];
  readonly #window: number;
  readonly #attempts: AttemptContext;

  constructor(o: BatchRunnerOptions) {
    this.#o = o;
    this.#mode = o.spec.delivery.ordering;
    this.#window = Math.max(1, o.spec.delivery.commitWindow);
    this.#attempts = {
      deliverer: o.deliverer,
      limiter: o.limiter,
      log: o.log,
      calm: o.calm,
      ordered: this.#mode === 'ordered',
      deadLetter: {
        sink: o.deadLetter,
        delivery: o.deliverer.delivery,
        deliverer: o.deliverer,
        log: o.log,
        namespace: o.spec.namespace,
        trigger: o.spec.trigger,
        function: o.spec.function,
        stalled: (ps) => {
          ps.dirty = true;
          o.scheduler.request();
        },
      },
      metadataChanged: () => {
        o.scheduler.request();
      },
      backingOff: (ps, on) => {
        if (on) o.pauses.set(ps.topic, ps.partition, 'backoff', true);
        else this.maybeResume(ps);
      },
      done: (ps, offset) => {
        this.#done(ps, offset);
      },
    };
  }

  /** Whether `ps` may dispatch another record now (else it is paused with the reason). */
  hasRoom(ps: PartitionState): boolean {
    return ps.window.size < this.#window && !(this.#mode === 'ordered' && ps.backingOff > 0);
  }

  /** A commit freed room or a backoff ended: resume the partition when it has room again. */
  maybeResume(ps: PartitionState): void {
    if (ps.revoked.signal.aborted) return;
    const { pauses } = this.#o;
    if (ps.window.size < this.#window) pauses.set(ps.topic, ps.partition, 'window', false);
    if (ps.backingOff === 0) pauses.set(ps.topic, ps.partition, 'backoff', false);
  }

  /**
   * Dispatches the batch's records and waits for those in flight; throws the heartbeat's error
   * when the group started rebalancing (the client rejoins then). `batchBytes` (what the batch
   * holds in the memory budget) is released when its last dispatched record ends.
   */
  async run(batch: FetchedBatch, ctx: BatchContext, ps: PartitionState, batchBytes = 0): Promise<void> {
    const o = this.#o;
    const messages = batch.messages;
    const revoked = ps.revoked.signal;
    const calm = o.calm();
    // Records of this batch in flight and not parked: the batch waits for them.
    const unreleased = new Countdown();
    const rebalance: { error?: Error } = {};
    const drainTimer: { t: NodeJS.Timeout | undefined } = { t: undefined };
    const hb = setInterval(() => {
      ctx.heartbeat().catch((err: unknown) => {
        // REBALANCE_IN_PROGRESS (or a lost session): dispatch no more, let what is in flight finish, commit, rejoin.
        if (rebalance.error) return;
        rebalance.error = err instanceof Error ? err : new Error(String(err));
        drainTimer.t = setTimeout(() => {
          ps.revoked.abort(new Error('rebalance drain timeout'));
        }, o.rebalanceDrainMs);
      });
    }, o.heartbeatMs);
    const stopped = (): boolean => rebalance.error !== undefined || revoked.aborted || calm.aborted;
    let count = 0;
    // The batch's bytes stay in the memory budget until its last dispatched record ends.
    const hold = { records: 0, open: true };
    const endOne = (): void => {
      if (--hold.records === 0 && !hold.open && batchBytes > 0) o.releaseBytes?.(batchBytes);
    };
    let last: number | undefined;
    // The client's running and staleness flags change only while this loop yields: checked at the start and after each await.
    let yielded = true;
    try {
      for (const m of messages) {
        const offset = Number(m.offset);
        if (ps.next !== undefined && offset < ps.next) continue;
        if (yielded) {
          if (!ctx.isCurrent()) break;
          yielded = false;
        }
        if (stopped()) break;
        if (!this.hasRoom(ps)) {
          o.pauses.set(ps.topic, ps.partition, ps.window.size >= this.#window ? 'window' : 'backoff', true);
          // Its room comes back only with a commit.
          if (ps.window.size >= this.#window) o.scheduler.request(true);
          break;
        }
        const bytes = (m.value?.length ?? 0) + (m.key?.length ?? 0);
        const carried = ps.carried;
        if (carried && ((carried.below !== undefined && offset < carried.below) || carried.done.has(offset))) {
          // Done here in an earlier generation and not committed then: done again without a delivery.
          admit(ps, offset, bytes);
          last = offset;
          this.#done(ps, offset);
          continue;
        }
        const key = this.#mode === 'unordered' ? undefined : this.#mode === 'ordered' ? '' : m.key === null ? undefined : m.key.toString('latin1');
        const prev = key === undefined ? undefined : ps.tails.get(key);
        let slot = false;
        if (!prev) {
          // A free slot is taken at once; only a full limiter waits (the function is the bottleneck).
          if (!o.limiter.tryAcquire(bytes)) {
            try {
              await o.limiter.acquire(bytes, revoked);
            } catch {
              break;
            }
            yielded = true;
            if (stopped() || !ctx.isCurrent()) {
              o.limiter.release(bytes);
              break;
            }
          }
          slot = true;
        }
        hold.records++;
        admit(ps, offset, bytes);
        last = offset;
        count++;
        unreleased.add();
        this.#start(ps, m, offset, bytes, prev, slot, key, endOne, unreleased);
      }
    } finally {
      hold.open = false;
      if (hold.records === 0 && batchBytes > 0) o.releaseBytes?.(batchBytes);
    }
    // The next fetch starts past what was dispatched. Not for a partition let go meanwhile: the
    // new generation's position is its committed offset.
    if (last !== undefined && !revoked.aborted) ctx.resolveOffset(last);
    try {
      await unreleased.idle();
    } finally {
      clearInterval(hb);
      clearTimeout(drainTimer.t);
    }
    if (count > 0 || ps.lag.value > 0) {
      const next = ps.tracker.commitOffset ?? ps.committed ?? ps.firstOffset ?? Number(messages[0]?.offset ?? 0);
      ps.lag.value = Math.max(0, Number(batch.highWatermark) - next);
    }
    if (rebalance.error) throw rebalance.error;
  }

  /**
   * Starts the job of one record: at once (unordered, or the first of its key), or after `prev`
   * (its key's or partition's previous record). Its batch's `unreleased` count drops once, when it
   * ends or parks. The unordered path makes no promise beyond the delivery's own (it runs per event).
   */
  #start(ps: PartitionState, m: KafkaRecord, offset: number, bytes: number, prev: Job | undefined, slot: boolean, key: string | undefined, endOne: () => void, unreleased: Countdown): void {
    const o = this.#o;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      unreleased.done();
    };
    o.jobs.add();
    if (key === undefined) {
      // Unordered: the slot is held (there is no earlier record to wait for); no promise per record.
      startRecord(this.#attempts, ps, m, offset, bytes, release, (err) => {
        if (err !== undefined) this.#failed(ps, offset, err);
        release();
        o.jobs.done();
        endOne();
      });
      return;
    }
    let releaseJob!: () => void;
    const job: Job = { parked: false, released: new Promise<void>((r) => (releaseJob = r)), ended: Promise.resolve() };
    const park = (): void => {
      if (job.parked) return;
      job.parked = true;
      releaseJob();
      release();
    };
    if (prev) {
      // Waiting behind a record that parked: this one is parked too (its batch need not wait).
      void prev.released.then(() => {
        if (prev.parked) park();
      });
    }
    job.ended = (async () => {
      if (prev) await prev.ended;
      await deliverRecord(this.#attempts, ps, m, offset, bytes, slot, park);
    })()
      .catch((err: unknown) => {
        this.#failed(ps, offset, err);
      })
      .finally(() => {
        releaseJob();
        release();
        if (ps.tails.get(key) === job) ps.tails.delete(key);
        o.jobs.done();
        endOne();
      });
    ps.tails.set(key, job);
  }

  #failed(ps: PartitionState, offset: number, err: unknown): void {
    this.#o.log.error({ err, topic: ps.topic, partition: ps.partition, offset }, 'delivery job failed unexpectedly; the record stays uncommitted');
  }

  /** The record is done: its attempts and stall are forgotten, and the done prefix may have grown. */
  #done(ps: PartitionState, offset: number): void {
    if (ps.attempts.delete(offset)) ps.dirty = true;
    if (ps.stalls.delete(offset)) ps.dirty = true;
    if (ps.revoked.signal.aborted) return;
    if (ps.tracker.markDone(offset)) {
      ps.dirty = true;
      // Half the window is done and waits only for a commit: start one now, so room comes back
      // before the window is full (and a commit covers half a window, not one record).
      this.#o.scheduler.request((ps.window.size - ps.tracker.pending) * 2 >= this.#window);
    } else if (ps.dirty) {
      this.#o.scheduler.request();
    }
  }
}
