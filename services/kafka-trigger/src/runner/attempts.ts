import { afterFailure, describeFailure, sleep, type Deliverer, type EventInput, type InFlightLimiter } from '@kubeless/delivery';
import type { Logger } from '@kubeless/observability';
import { isAborted, sendToDeadLetter, type DeadLetterContext } from './dead-letter.js';
import { kafkaEvent } from './event.js';
import type { PartitionState } from './partition.js';
import type { KafkaRecord } from './port.js';

/** The shortest wait of the block path (a 0 ms loop once froze the process). */
const MIN_BLOCK_DELAY_MS = 100;
/** The shortest wait between two attempts of one record (a full-jitter draw may be 0). */
const MIN_RETRY_DELAY_MS = 10;

/** What one record's attempts need of the runner. */
export interface AttemptContext {
  deliverer: Deliverer;
  /** Requests in flight: a slot is held only while a request is out (not while backing off). */
  limiter: InFlightLimiter;
  log: Logger;
  /** Aborted when the consumer winds down: backoffs end, and a record between attempts is left. */
  calm: () => AbortSignal;
  /** Ordered mode: the partition is paused while a record backs off. */
  ordered: boolean;
  deadLetter: DeadLetterContext;
  /** Attempts or a stall changed the partition's commit metadata. */
  metadataChanged: () => void;
  /** A record of `ps` starts (true) or ends (false) a backoff (ordered mode only). */
  backingOff: (ps: PartitionState, on: boolean) => void;
  /** The record is done (delivered, dead-lettered or dropped). */
  done: (ps: PartitionState, offset: number) => void;
}

/**
 * Delivers one record until it is done, or left for a later owner (stop, revoke): attempts as the
 * trigger's retry and backoff say, then the exhaustion policy (`afterFailure`): the dead letter, a
 * drop, or blocking at `backoffMax` with the partition reported Stalled. `park` is called when the
 * record stops being something its batch waits for (a backoff, the dead letter). Without `slot`
 * (a request slot already held) one is taken first.
 */
export async function deliverRecord(o: AttemptContext, ps: PartitionState, m: KafkaRecord, offset: number, bytes: number, slot: boolean, park: () => void): Promise<void> {
  if (!slot) {
    if (ps.revoked.signal.aborted || o.calm().aborted) return;
    if (!o.limiter.tryAcquire(bytes)) await o.limiter.acquire(bytes, ps.revoked.signal);
  }
  await new Promise<void>((resolve, reject) => {
    startRecord(o, ps, m, offset, bytes, park, (err) => {
      if (err === undefined) resolve();
      else reject(err);
    });
  });
}

/**
 * `deliverRecord` with a request slot held, without promises for the usual case (the first
 * attempt succeeds: one callback, no promise per record); a failure goes on in `retry`. `end`
 * is called once, when the record is done or left, with an error only for a bug; possibly before
 * this returns.
 */
export function startRecord(o: AttemptContext, ps: PartitionState, m: KafkaRecord, offset: number, bytes: number, park: () => void, end: (err?: Error) => void): void {
  if (ps.revoked.signal.aborted) {
    o.limiter.release(bytes);
    end();
    return;
  }
  let event: EventInput;
  try {
    event = kafkaEvent(ps, m);
  } catch (err) {
    o.limiter.release(bytes);
    end(bug(err));
    return;
  }
  const attempts = ps.attempts.get(offset) ?? 0;
  o.deliverer.begin(event, attempts + 1, ps.revoked.signal, (failure) => {
    o.limiter.release(bytes);
    if (failure === undefined) {
      o.done(ps, offset);
      end();
      return;
    }
    // The event is made again for a retry: kept here, it would outlive the request for nothing on the usual path.
    retry(o, ps, m, offset, bytes, park, attempts, failure).then(
      () => {
        end();
      },
      (err: unknown) => {
        end(bug(err));
      },
    );
  });
}

/** An unexpected throw, as an Error. */
function bug(err: unknown): Error {
  return err instanceof Error ? err : new Error('delivery job failed', { cause: err });
}

/**
 * After attempt `attempts + 1` of a record failed with `failure` (no slot held): the exhaustion
 * policy, backoffs and further attempts until it is done or left.
 */
async function retry(o: AttemptContext, ps: PartitionState, m: KafkaRecord, offset: number, bytes: number, park: () => void, attempts: number, failure: unknown): Promise<void> {
  const d = o.deliverer;
  let event: EventInput | undefined;
  const delivery = d.delivery;
  const revoked = ps.revoked.signal;
  let held = false;
  try {
    for (;;) {
      if (isAborted(revoked)) return;
      attempts++;
      ps.attempts.set(offset, attempts);
      ps.dirty = true;
      const f = describeFailure(failure);
      const next = afterFailure({ retriable: f.retriable, exhausted: d.exhausted(attempts), onExhausted: delivery.onExhausted, deadLetter: delivery.deadLetter });
      if (next === 'deadLetter') {
        park();
        const stop = AbortSignal.any([revoked, o.calm()]);
        if (await sendToDeadLetter(o.deadLetter, ps, m, f, attempts, stop)) o.done(ps, offset);
        return;
      }
      if (next === 'drop') {
        o.log.warn({ topic: ps.topic, partition: ps.partition, offset, attempts, reason: f.reason }, 'event dropped after its retries (onExhausted: drop)');
        d.recordDrop(f.reason);
        o.done(ps, offset);
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
      o.metadataChanged();
      park();
      ps.backingOff++;
      if (o.ordered) o.backingOff(ps, true);
      try {
        await sleep(delay, AbortSignal.any([revoked, o.calm()]));
      } catch {
        return;
      } finally {
        ps.backingOff--;
        if (ps.backingOff === 0 && o.ordered) o.backingOff(ps, false);
      }
      // The next attempt, in a request slot of its own.
      if (revoked.aborted || o.calm().aborted) return;
      if (!o.limiter.tryAcquire(bytes)) await o.limiter.acquire(bytes, revoked);
      held = true;
      try {
        event ??= kafkaEvent(ps, m);
        await d.attempt(event, attempts + 1, revoked);
        failure = undefined;
      } catch (err) {
        failure = err ?? new Error('delivery attempt failed');
      }
      o.limiter.release(bytes);
      held = false;
      if (failure === undefined) {
        o.done(ps, offset);
        return;
      }
    }
  } finally {
    if (held) o.limiter.release(bytes);
  }
}
