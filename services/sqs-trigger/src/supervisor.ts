import { canonical } from '@kubeless/controller';
import type { Logger } from '@kubeless/observability';
import type { ReceiverSpec } from './plan.js';
import type { ReceiverState, TriggerReceiver } from './runner/receiver.js';

interface Entry {
  spec: ReceiverSpec;
  hash: string;
  receiver: TriggerReceiver | undefined;
  starting: boolean;
  failedAt: number | undefined;
  error: string | undefined;
}

/**
 * Keeps this replica's receivers equal to the desired set (every replica runs every receiver:
 * replicas are competing consumers of each queue). `sync` is level-based: receivers no longer
 * desired stop (gracefully), changed ones restart, new ones start; a receiver that failed to start
 * (missing queue or Secret, unreachable endpoint) is retried by a later sync after `retryAfterMs`.
 * Operations are serialised per receiver key only, so a trigger whose endpoint hangs never delays
 * another trigger's changes.
 */
export class ReceiverSupervisor {
  readonly #create: (spec: ReceiverSpec) => Promise<TriggerReceiver>;
  readonly #logger: Logger;
  readonly #retryAfterMs: number;
  readonly #entries = new Map<string, Entry>();
  readonly #ops = new Map<string, Promise<void>>();

  constructor(o: { create: (spec: ReceiverSpec) => Promise<TriggerReceiver>; logger: Logger; retryAfterMs?: number }) {
    this.#create = o.create;
    this.#logger = o.logger;
    this.#retryAfterMs = o.retryAfterMs ?? 5000;
  }

  /** What this replica runs, by receiver key. */
  states(): Map<string, ReceiverState & { error?: string | undefined }> {
    const out = new Map<string, ReceiverState & { error?: string | undefined }>();
    for (const [k, e] of this.#entries) out.set(k, { ...(e.receiver?.state ?? { running: false }), error: e.error });
    return out;
  }

  /** Resolves when every operation queued so far has finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#ops.size > 0) await Promise.all([...this.#ops.values()]);
  }

  #enqueue(key: string, op: () => Promise<void>): void {
    const p = (this.#ops.get(key) ?? Promise.resolve()).then(op).catch((err: unknown) => {
      this.#logger.error({ err, receiver: key }, 'receiver operation failed');
    });
    this.#ops.set(key, p);
    void p.finally(() => {
      if (this.#ops.get(key) === p) this.#ops.delete(key);
    });
  }

  /** Applies the desired set; returns at once (operations run in the background, per key). */
  sync(desired: ReceiverSpec[]): void {
    const want = new Map(desired.map((s) => [s.key, { spec: s, hash: canonical(s) }]));
    for (const [key, e] of this.#entries) {
      const w = want.get(key);
      if (w?.hash === e.hash) continue;
      this.#entries.delete(key);
      this.#logger.info({ receiver: key, reason: w ? 'changed' : 'no longer wanted' }, 'stopping receiver');
      // Runs after a start still in flight for this key, so it sees the receiver that start made.
      this.#enqueue(key, async () => {
        await e.receiver?.stop();
        e.receiver = undefined;
      });
    }
    const now = Date.now();
    for (const [key, w] of want) {
      let e = this.#entries.get(key);
      if (e?.receiver || e?.starting) continue;
      if (e?.failedAt !== undefined && now - e.failedAt < this.#retryAfterMs) continue;
      if (!e) {
        e = { spec: w.spec, hash: w.hash, receiver: undefined, starting: false, failedAt: undefined, error: undefined };
        this.#entries.set(key, e);
      }
      const entry = e;
      entry.starting = true;
      this.#enqueue(key, async () => {
        try {
          const receiver = await this.#create(w.spec);
          entry.receiver = receiver;
          await receiver.start();
          entry.failedAt = undefined;
          entry.error = undefined;
          this.#logger.info({ receiver: key, queue: w.spec.queue.queueUrl ?? w.spec.queue.queueName, functions: w.spec.targets.map((t) => t.function) }, 'receiver started');
        } catch (err) {
          entry.receiver = undefined;
          entry.failedAt = Date.now();
          entry.error = err instanceof Error ? err.message : String(err);
          this.#logger.warn({ receiver: key, err }, 'receiver failed to start; retrying later');
        } finally {
          entry.starting = false;
        }
        // Removed while starting: stop what the start made.
        if (this.#entries.get(key) !== entry && entry.receiver) {
          await entry.receiver.stop();
          entry.receiver = undefined;
        }
      });
    }
  }

  /** Stops every receiver gracefully. */
  async stopAll(): Promise<void> {
    for (const [key, e] of this.#entries) {
      this.#entries.delete(key);
      this.#enqueue(key, async () => {
        await e.receiver?.stop();
        e.receiver = undefined;
      });
    }
    await this.idle();
  }
}
