import { sleep, type Deliverer } from '@kubeless/delivery';
import type { Logger } from '@kubeless/observability';
import type { ResolvedDelivery } from '@kubeless/api';
import type { PartitionState } from './partition.js';
import type { KafkaRecord } from './port.js';

/** A record as the dead-letter topic gets it. */
export interface DeadLetterRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string | Buffer>;
  timestamp: string;
  /** GZIP it (see DEAD_LETTER_COMPRESS_BYTES). */
  compress: boolean;
}

/** Where dead letters go: the connection's shared producer, connected lazily (kafkajs.ts). */
export interface DeadLetterSink {
  producer(): Promise<{ send(topic: string, record: DeadLetterRecord): Promise<void> }>;
}

/** Dead-letter produce attempts before the partition reports Stalled (DeadLetterFailed); it keeps retrying at backoffMax. */
export const DEAD_LETTER_ATTEMPTS = 5;
/** Records at least this large go GZIP-compressed (kafkajs does not tell a fetched batch's codec, and writes only GZIP). */
const DEAD_LETTER_COMPRESS_BYTES = 1024;
/** The shortest wait between dead-letter attempts (a 0 ms loop once froze the process). */
const MIN_DELAY_MS = 100;

/** Read through a call, so a check after an await is not narrowed away by the compiler. */
export function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

/** Settles like `p`, or rejects once `signal` aborts; the listener is removed either way (it once leaked). */
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

export interface DeadLetterContext {
  sink: DeadLetterSink;
  delivery: ResolvedDelivery;
  deliverer: Deliverer;
  log: Logger;
  namespace: string;
  trigger: string;
  function: string;
  /** A stall's metadata changed: commit it (status shows Stalled from the commit metadata). */
  stalled: (ps: PartitionState) => void;
}

/**
 * Produces the record to the dead-letter topic with the error in headers; retries until it lands
 * or `stop` aborts (false: the record is left for a later owner). After DEAD_LETTER_ATTEMPTS
 * failures the partition reports Stalled with the reason (too large for the dead-letter topic,
 * not authorized, no topic) until an operator fixes it; it keeps retrying at backoffMax.
 */
export async function sendToDeadLetter(
  c: DeadLetterContext,
  ps: PartitionState,
  m: KafkaRecord,
  f: { reason: string; message: string },
  attempts: number,
  stop: AbortSignal,
): Promise<boolean> {
  const topic = c.delivery.deadLetter ?? '';
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
    'kubeless-trigger': `${c.namespace}/${c.trigger}`,
    'kubeless-function': c.function,
    'kubeless-event-id': `partition:${String(ps.partition)}/offset:${m.offset}`,
  });
  const offset = Number(m.offset);
  // A record of some size goes compressed, so one that arrived compressed fits the broker's limit
  // again (1.5 MiB arriving as gzip came back uncompressed, MESSAGE_TOO_LARGE forever).
  const compress = (m.value?.length ?? 0) + (m.key?.length ?? 0) >= DEAD_LETTER_COMPRESS_BYTES;
  const record: DeadLetterRecord = { key: m.key, value: m.value, headers, timestamp: m.timestamp, compress };
  const cap = Math.max(MIN_DELAY_MS, c.delivery.backoffMaxMs);
  for (let failures = 0; ; ) {
    if (stop.aborted) return false;
    try {
      // Raced with stop: a hanging connect or send does not hold a revoke or shutdown past its deadline.
      const producer = await raceAbort(c.sink.producer(), stop);
      await raceAbort(producer.send(topic, record), stop);
      c.deliverer.recordDeadLetter(f.reason);
      c.log.warn({ topic: ps.topic, partition: ps.partition, offset: m.offset, deadLetter: topic, attempts, reason: f.reason }, 'event sent to the dead letter');
      return true;
    } catch (err) {
      if (isAborted(stop)) return false;
      failures++;
      const e = err as { type?: unknown; name?: unknown; message?: unknown; cause?: { type?: unknown } };
      const kind = typeof e.type === 'string' ? e.type : typeof e.cause?.type === 'string' ? e.cause.type : typeof e.name === 'string' ? e.name : 'Error';
      if (failures >= DEAD_LETTER_ATTEMPTS) {
        const reason = `dead letter to ${topic} failed: ${kind}: ${String(e.message ?? err)}`;
        const cur = ps.stalls.get(offset);
        if (cur?.reason !== reason) {
          ps.stalls.set(offset, { offset, reason, since: cur?.cause === 'deadLetter' ? cur.since : new Date().toISOString(), cause: 'deadLetter' });
          c.stalled(ps);
          if (cur?.cause !== 'deadLetter') c.log.warn({ err, topic: ps.topic, partition: ps.partition, offset: m.offset, deadLetter: topic, failures }, 'dead letter keeps failing; partition stalled');
        }
      } else {
        c.log.warn({ err, deadLetter: topic, failures }, 'dead-letter produce failed; retrying');
      }
      const delay = failures >= DEAD_LETTER_ATTEMPTS ? cap : Math.min(cap, Math.max(MIN_DELAY_MS, c.delivery.backoffDelayMs) * 2 ** (failures - 1));
      try {
        await sleep(delay, stop);
      } catch {
        return false;
      }
    }
  }
}
