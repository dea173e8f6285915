import { canonical } from '@kubeless/controller';
import type { Logger } from '@kubeless/observability';
import type { ConsumerSpec } from './plan.js';
import type { ConsumerState, TriggerConsumer } from './runner/consumer.js';

interface Entry {
  spec: ConsumerSpec;
  hash: string;
  consumer: TriggerConsumer | undefined;
  starting: boolean;
  failedAt: number | undefined;
  error: string | undefined;
}

/**
 * Keeps this replica's consumers equal to the desired set (every replica runs every consumer;
 * Kafka spreads the partitions). `sync` is level-based: consumers no longer desired stop
 * (gracefully), changed ones restart, new ones start; a consumer that failed to start is retried
 * by a later sync after `retryAfterMs`. Operations are serialised per consumer key only, so a
 * trigger whose broker hangs never delays another trigger's changes.
 */
export class ConsumerSupervisor {
  readonly #create: (spec: ConsumerSpec) => Promise<TriggerConsumer>;
  readonly #logger: Logger;
  readonly #retryAfterMs: number;
  readonly #entries = new Map<string, Entry>();
  readonly #ops = new Map<string, Promise<void>>();

  constructor(o: { create: (spec: ConsumerSpec) => Promise<TriggerConsumer>; logger: Logger; retryAfterMs?: number }) {
    this.#create = o.create;
    this.#logger = o.logger;
    this.#retryAfterMs = o.retryAfterMs ?? 5000;
  }

  /** What this replica runs, by consumer key. */
  states(): Map<string, ConsumerState & { error?: string | undefined }> {
    const out = new Map<string, ConsumerState & { error?: string | undefined }>();
    for (const [k, e] of this.#entries) out.set(k, { ...(e.consumer?.state ?? { running: false, joined: false }), error: e.error });
    return out;
  }

  /** Resolves when every operation queued so far has finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#ops.size > 0) await Promise.all([...this.#ops.values()]);
  }

  #enqueue(key: string, op: () => Promise<void>): void {
    const p = (this.#ops.get(key) ?? Promise.resolve()).then(op).catch((err: unknown) => {
      this.#logger.error({ err, consumer: key }, 'consumer operation failed');
    });
    this.#ops.set(key, p);
    void p.finally(() => {
      if (this.#ops.get(key) === p) this.#ops.delete(key);
    });
  }

  /** Applies the desired set; returns at once (operations run in the background, per key). */
  sync(desired: ConsumerSpec[]): void {
    const want = new Map(desired.map((s) => [s.key, { spec: s, hash: canonical(s) }]));
    for (const [key, e] of this.#entries) {
      const w = want.get(key);
      if (w?.hash === e.hash) continue;
      this.#entries.delete(key);
      this.#logger.info({ consumer: key, reason: w ? 'changed' : 'no longer wanted' }, 'stopping consumer');
      // Runs after a start still in flight for this key, so it sees the consumer that start made.
      this.#enqueue(key, async () => {
        await e.consumer?.stop();
        e.consumer = undefined;
      });
    }
    const now = Date.now();
    for (const [key, w] of want) {
      let e = this.#entries.get(key);
      if (e?.consumer || e?.starting) continue;
      if (e?.failedAt !== undefined && now - e.failedAt < this.#retryAfterMs) continue;
      if (!e) {
        e = { spec: w.spec, hash: w.hash, consumer: undefined, starting: false, failedAt: undefined, error: undefined };
        this.#entries.set(key, e);
      }
      const entry = e;
      entry.starting = true;
      this.#enqueue(key, async () => {
        try {
          const consumer = await this.#create(w.spec);
          entry.consumer = consumer;
          await consumer.start();
          entry.failedAt = undefined;
          entry.error = undefined;
          this.#logger.info({ consumer: key, topics: w.spec.topics, groupId: w.spec.groupId }, 'consumer started');
        } catch (err) {
          entry.consumer = undefined;
          entry.failedAt = Date.now();
          entry.error = err instanceof Error ? err.message : String(err);
          this.#logger.warn({ consumer: key, err }, 'consumer failed to start; retrying later');
        } finally {
          entry.starting = false;
        }
        // Removed while starting: stop what the start made.
        if (this.#entries.get(key) !== entry && entry.consumer) {
          await entry.consumer.stop();
          entry.consumer = undefined;
        }
      });
    }
  }

  /** Stops every consumer gracefully. */
  async stopAll(): Promise<void> {
    for (const [key, e] of this.#entries) {
      this.#entries.delete(key);
      this.#enqueue(key, async () => {
        await e.consumer?.stop();
        e.consumer = undefined;
      });
    }
    await this.idle();
  }
}
