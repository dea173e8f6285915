import { canonical } from '@kubeless/controller';
import type { Logger } from '@kubeless/observability';
import type { ConsumerSpec } from './plan.js';
import type { ConsumerState, TriggerConsumer } from './runner/consumer.js';

interface Entry {
  spec: ConsumerSpec;
  hash: string;
  consumer: TriggerConsumer | undefined;
  failedAt: number | undefined;
  error: string | undefined;
}

/**
 * Keeps this replica's consumers equal to the desired set (every replica runs every consumer;
 * Kafka spreads the partitions). `sync` is level-based and serialised: consumers no longer
 * desired stop (gracefully), changed ones restart, new ones start; a consumer that failed to start
 * is retried by a later sync after `retryAfterMs`.
 */
export class ConsumerSupervisor {
  readonly #create: (spec: ConsumerSpec) => Promise<TriggerConsumer>;
  readonly #logger: Logger;
  readonly #retryAfterMs: number;
  readonly #entries = new Map<string, Entry>();
  #chain: Promise<void> = Promise.resolve();

  constructor(o: { create: (spec: ConsumerSpec) => Promise<TriggerConsumer>; logger: Logger; retryAfterMs?: number }) {
    this.#create = o.create;
    this.#logger = o.logger;
    this.#retryAfterMs = o.retryAfterMs ?? 5000;
  }

  sync(desired: ConsumerSpec[]): Promise<void> {
    const run = this.#chain.then(() => this.#sync(desired));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /** What this replica runs, by consumer key. */
  states(): Map<string, ConsumerState & { error?: string | undefined }> {
    const out = new Map<string, ConsumerState & { error?: string | undefined }>();
    for (const [k, e] of this.#entries) out.set(k, { ...(e.consumer?.state ?? { running: false, joined: false }), error: e.error });
    return out;
  }

  async #sync(desired: ConsumerSpec[]): Promise<void> {
    const want = new Map(desired.map((s) => [s.key, { spec: s, hash: canonical(s) }]));
    const stops: Promise<void>[] = [];
    for (const [key, e] of this.#entries) {
      const w = want.get(key);
      if (w?.hash === e.hash) continue;
      this.#entries.delete(key);
      if (e.consumer) {
        this.#logger.info({ consumer: key, reason: w ? 'changed' : 'no longer wanted' }, 'stopping consumer');
        stops.push(e.consumer.stop());
      }
    }
    await Promise.all(stops);
    const now = Date.now();
    const starts: Promise<void>[] = [];
    for (const [key, w] of want) {
      let e = this.#entries.get(key);
      if (e?.consumer) continue;
      if (e?.failedAt !== undefined && now - e.failedAt < this.#retryAfterMs) continue;
      if (!e) {
        e = { spec: w.spec, hash: w.hash, consumer: undefined, failedAt: undefined, error: undefined };
        this.#entries.set(key, e);
      }
      const entry = e;
      starts.push(
        (async () => {
          let consumer: TriggerConsumer | undefined;
          try {
            consumer = await this.#create(w.spec);
            await consumer.start();
            entry.consumer = consumer;
            entry.failedAt = undefined;
            entry.error = undefined;
            this.#logger.info({ consumer: key, topics: w.spec.topics, groupId: w.spec.groupId }, 'consumer started');
          } catch (err) {
            entry.failedAt = Date.now();
            entry.error = err instanceof Error ? err.message : String(err);
            this.#logger.warn({ consumer: key, err }, 'consumer failed to start; retrying later');
          }
        })(),
      );
    }
    await Promise.all(starts);
  }

  /** Stops every consumer gracefully. */
  async stopAll(): Promise<void> {
    await this.#chain;
    const all = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(all.map((e) => (e.consumer ? e.consumer.stop() : Promise.resolve())));
  }
}
