import { afterFailure, describeFailure, sleep, type Deliverer, type InFlightLimiter } from '@kubeless/delivery';
import type { Logger } from '@kubeless/observability';
import type { ConsumerSpec } from '../plan.js';
import type { CommitScheduler } from './commit-scheduler.js';
import { sendToDeadLetter, type DeadLetterSink } from './dead-letter.js';
import { kafkaEvent } from './event.js';
import type { Job, PartitionState, Pauses } from './partition.js';
import type { BatchContext, FetchedBatch, KafkaRecord } from './port.js';

/** The shortest wait of the block path (review F2: a 0 ms loop froze the process). */
const MIN_BLOCK_DELAY_MS = 100;
/** The shortest wait between two attempts of one record (a full-jitter draw may be 0). */
const MIN_RETRY_DELAY_MS = 10;

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
  jobs: Set<Promise<void>>;
  /** A batch's records ended: their bytes leave the memory budget. */
  releaseBytes?: ((bytes: number) => void) | undefined;
}

/** Read through a call, so a check after an await is not narrowed away by the compiler. */
function aborted(signal: AbortSignal): boolean {
  return signal.aborted;
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
 * Dispatches the records of fetched batches to the function (SPEC §4), per ordering mode:
 * `unordered`, all at once up to `maxInFlight`; `key-ordered`, one at a time per key; `ordered`,
 * one at a time per partition. At least once: a record counts as done only when the function
 * accepted it (or it went to the dead letter, or was dropped by an explicit `drop`), and only the
 * partition's done prefix is committed.
 *
 * A batch in hand waits only for its deliveries in flight: a record that backs off (or waits
 * behind one of its key) is parked, so the client fetches the partition's next records, and the
 * other partitions', meanwhile (review F6). What a partition may dispatch past its last commit is
 * bounded by its commit window (`delivery.commitWindow`): a full window pauses the partition
 * until a commit makes room. In ordered mode nothing can pass a record that backs off, so its
 * partition is paused while it does.
 */
export class BatchRunner {
  readonly #o: BatchRunnerOptions;
  readonly #mode: ConsumerSpec['delivery']['ordering'];
  readonly #window: number;

  constructor(o: BatchRunnerOptions) {
    this.#o = o;
    this.#mode = o.spec.delivery.ordering;
    this.#window = Math.max(1, o.spec.delivery.commitWindow);
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
   * when the group started rebalancing (the client rejoins then).
   */
  async run(batch: FetchedBatch, ctx: BatchContext, ps: PartitionState): Promise<void> {
    const o = this.#o;
    const messages = batch.messages;
    const revoked = ps.revoked.signal;
    const calm = o.calm();
    const released: Promise<void>[] = [];
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
    let held = 0;
    let count = 0;
    const hold = { records: 0, bytes: 0, open: true };
    const endOne = (): void => {
      if (--hold.records === 0 && !hold.open && hold.bytes > 0) o.releaseBytes?.(hold.bytes);
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
          ps.window.push(offset, bytes);
          ps.tracker.push(offset);
          ps.next = offset + 1;
          ps.firstOffset ??= offset;
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
        if (o.releaseBytes) {
          held += recordBytes(m);
          hold.records++;
        }
        ps.window.push(offset, bytes);
        ps.tracker.push(offset);
        ps.next = offset + 1;
        ps.firstOffset ??= offset;
        last = offset;
        count++;
        const job = this.#start(ps, m, offset, bytes, prev, slot, key, endOne);
        released.push(job.released);
      }
    } finally {
      if (o.releaseBytes) {
        // Records not dispatched leave the budget now; the others when their jobs end.
        const total = messages.reduce((n, m) => n + recordBytes(m), 0);
        hold.bytes = held;
        hold.open = false;
        if (total > held) o.releaseBytes(total - held);
        if (hold.records === 0 && held > 0) o.releaseBytes(held);
      }
    }
    // The next fetch starts past what was dispatched. Not for a partition let go meanwhile: the
    // new generation's position is its committed offset.
    if (last !== undefined && !revoked.aborted) ctx.resolveOffset(last);
    try {
      await Promise.all(released);
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

  /** Starts the job of one record: after `prev` (its key's or partition's previous record) when there is one. */
  #start(ps: PartitionState, m: KafkaRecord, offset: number, bytes: number, prev: Job | undefined, slot: boolean, key: string | undefined, endOne: () => void): Job {
    let release!: () => void;
    const job: Job = { parked: false, released: new Promise<void>((r) => (release = r)), ended: Promise.resolve() };
    const park = (): void => {
      if (job.parked) return;
      job.parked = true;
      release();
    };
    if (prev) {
      // Waiting behind a record that parked: this one is parked too (its batch need not wait).
      void prev.released.then(() => {
        if (prev.parked) park();
      });
    }
    const ended = (async () => {
      if (prev) await prev.ended;
      await this.#deliver(ps, m, offset, bytes, slot, park);
    })()
      .catch((err: unknown) => {
        this.#o.log.error({ err, topic: ps.topic, partition: ps.partition, offset }, 'delivery job failed unexpectedly; the record stays uncommitted');
      })
      .finally(() => {
        release();
        if (key !== undefined && ps.tails.get(key) === job) ps.tails.delete(key);
        this.#o.jobs.delete(ended);
        endOne();
      });
    job.ended = ended;
    if (key !== undefined) ps.tails.set(key, job);
    this.#o.jobs.add(ended);
    return job;
  }

  /** Delivers one record until it is done, or left for a later owner (stop, revoke). */
  async #deliver(ps: PartitionState, m: KafkaRecord, offset: number, bytes: number, slot: boolean, park: () => void): Promise<void> {
    const o = this.#o;
    const d = o.deliverer;
    const delivery = d.delivery;
    const revoked = ps.revoked.signal;
    let held = slot;
    try {
      const event = kafkaEvent(ps, m);
      let attempts = ps.attempts.get(offset) ?? 0;
      for (;;) {
        if (revoked.aborted || (!held && o.calm().aborted)) return;
        if (!held) {
          if (!o.limiter.tryAcquire(bytes)) await o.limiter.acquire(bytes, revoked);
          held = true;
        }
        let failure: unknown;
        let failed = false;
        try {
          await d.attempt(event, attempts + 1, revoked);
        } catch (err) {
          failed = true;
          failure = err;
        }
        o.limiter.release(bytes);
        held = false;
        if (!failed) {
          this.#done(ps, offset);
          return;
        }
        if (aborted(revoked)) return;
        attempts++;
        ps.attempts.set(offset, attempts);
        ps.dirty = true;
        const f = describeFailure(failure);
        const next = afterFailure({ retriable: f.retriable, exhausted: d.exhausted(attempts), onExhausted: delivery.onExhausted, deadLetter: delivery.deadLetter });
        if (next === 'deadLetter') {
          park();
          const stop = AbortSignal.any([revoked, o.calm()]);
          if (await sendToDeadLetter(this.#deadLetterContext(), ps, m, f, attempts, stop)) this.#done(ps, offset);
          return;
        }
        if (next === 'drop') {
          o.log.warn({ topic: ps.topic, partition: ps.partition, offset, attempts, reason: f.reason }, 'event dropped after its retries (onExhausted: drop)');
          d.recordDrop(f.reason);
          this.#done(ps, offset);
          return;
        }
        let delay: number;
        if (next === 'block') {
          // Nothing is lost: retry at the cap and report Stalled through the commit metadata.
          const reason = `${f.reason}: ${f.message}`;
          const cur = ps.stalls.get(offset);
          if (cur?.reason !== reason || cur.cause === 'deadLetter') {
            ps.stalls.set(offset, { offset, reason, since: cur?.since ?? new Date().toISOString(), cause: 'retries' });
            if (!cur) o.log.warn({ topic: ps.topic, partition: ps.partition, offset, attempts, reason: f.reason }, 'event exhausted its retries; blocking (onExhausted: block)');
          }
          delay = Math.max(MIN_BLOCK_DELAY_MS, delivery.backoffMaxMs);
        } else {
          delay = Math.max(MIN_RETRY_DELAY_MS, d.delayBeforeRetry(failure, attempts));
        }
        o.scheduler.request();
        park();
        ps.backingOff++;
        if (this.#mode === 'ordered') o.pauses.set(ps.topic, ps.partition, 'backoff', true);
        try {
          await sleep(delay, AbortSignal.any([revoked, o.calm()]));
        } catch {
          return;
        } finally {
          ps.backingOff--;
          if (ps.backingOff === 0 && this.#mode === 'ordered') this.maybeResume(ps);
        }
      }
    } finally {
      if (held) o.limiter.release(bytes);
    }
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

  #deadLetterContext(): Parameters<typeof sendToDeadLetter>[0] {
    const o = this.#o;
    return {
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
    };
  }
}
