import type { Logger } from '@kubeless/observability';
import { canonical } from './controller.js';

/** Something a supervisor runs: started once, stopped gracefully, with a state to report. */
export interface Runner<State, S = unknown> {
  readonly state: State;
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Optional: takes a changed spec in place, without a stop. True when it did (the runner now runs
   * `spec`); false when the change needs a new runner (the supervisor then restarts it, as it does
   * for runners without this method). Called after the runner's start finished, never at the same
   * time as its start or stop; a throw counts as false.
   */
  reconfigure?(spec: S): boolean;
}

interface Entry<S, R> {
  /** What the runner runs (or was last asked to start with). */
  spec: S;
  /** Of the spec the runner runs or is about to run: `spec`, or `next` once that is queued. */
  hash: string;
  runner: R | undefined;
  starting: boolean;
  failedAt: number | undefined;
  error: string | undefined;
  /** A changed spec queued for the runner's `reconfigure`, the latest one wins. */
  next: { spec: S; hash: string } | undefined;
}

/** What a Supervisor follows: an Informer (any kind), or SecretVersions. */
export interface ChangeSource {
  on(event: 'add' | 'update' | 'delete', handler: () => void): void;
}

/**
 * Keeps the runners of this replica (a trigger's Kafka consumers, SQS receivers) equal to a
 * desired set of specs, each with a `key`. `sync` is level-based: runners no longer desired stop
 * (gracefully), changed ones (by canonical JSON of the spec) restart, new ones start; a runner that
 * failed to start is retried by a later sync after `retryAfterMs` (5 s). A changed runner that has
 * `reconfigure` is first offered the new spec in place (logged `runner reconfigured`), and restarted
 * only when it refuses. Operations are serialised per key only, so a trigger whose broker or
 * endpoint hangs never delays another trigger's changes.
 *
 * With `desired`, it follows the caches between `start()` and `stop()`: it syncs `desired()` at
 * once, `debounceMs` (50 ms) after a change of any of `sources` (a burst of changes is one sync),
 * and every `syncIntervalMs` (5 s) even without one (runners that failed to start are retried). It
 * listens from construction, so it can be built before the caches start. `stop()` stops following,
 * then every runner; both are idempotent.
 */
export class Supervisor<S extends { key: string }, State, R extends Runner<State, S>> {
  readonly #create: (spec: S) => Promise<R>;
  readonly #logger: Logger;
  readonly #retryAfterMs: number;
  readonly #idle: State;
  readonly #describe: (spec: S) => Record<string, unknown>;
  readonly #entries = new Map<string, Entry<S, R>>();
  readonly #ops = new Map<string, Promise<void>>();
  readonly #desired: (() => S[]) | undefined;
  readonly #syncIntervalMs: number;
  readonly #debounceMs: number;
  #following = false;
  #timer: NodeJS.Timeout | undefined;
  #interval: NodeJS.Timeout | undefined;

  constructor(o: {
    create: (spec: S) => Promise<R>;
    logger: Logger;
    /** The state reported for a key whose runner is not running. */
    idleState: State;
    /** Log fields for a started runner. */
    describe?: (spec: S) => Record<string, unknown>;
    retryAfterMs?: number | undefined;
    /** What should run, followed between `start()` and `stop()`; without it, only `sync` runs runners. */
    desired?: () => S[];
    /** Whose changes trigger a sync of `desired()`. */
    sources?: readonly ChangeSource[];
    syncIntervalMs?: number | undefined;
    debounceMs?: number | undefined;
  }) {
    this.#create = o.create;
    this.#logger = o.logger;
    this.#idle = o.idleState;
    this.#describe = o.describe ?? (() => ({}));
    this.#retryAfterMs = o.retryAfterMs ?? 5000;
    this.#desired = o.desired;
    this.#syncIntervalMs = o.syncIntervalMs ?? 5000;
    this.#debounceMs = o.debounceMs ?? 50;
    const schedule = (): void => {
      if (!this.#following || this.#timer) return;
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#follow();
      }, this.#debounceMs);
    };
    for (const s of o.sources ?? []) {
      s.on('add', schedule);
      s.on('update', schedule);
      s.on('delete', schedule);
    }
  }

  #follow(): void {
    if (this.#desired) this.sync(this.#desired());
  }

  /** Starts following `desired()` (see the class). Idempotent. */
  start(): void {
    if (this.#following) return;
    this.#following = true;
    this.#follow();
    this.#interval = setInterval(() => {
      this.#follow();
    }, this.#syncIntervalMs);
    this.#interval.unref();
  }

  /** Stops following, then every runner gracefully. Idempotent. */
  async stop(): Promise<void> {
    this.#following = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    clearInterval(this.#interval);
    this.#interval = undefined;
    await this.stopAll();
  }

  /** What this replica runs, by key, with the error of a failed start. */
  states(): Map<string, State & { error?: string | undefined }> {
    const out = new Map<string, State & { error?: string | undefined }>();
    for (const [k, e] of this.#entries) out.set(k, { ...(e.runner?.state ?? this.#idle), error: e.error });
    return out;
  }

  /** The state of one key's runner (what `states()` holds for it), without building the whole map. */
  state(key: string): (State & { error?: string | undefined }) | undefined {
    const e = this.#entries.get(key);
    return e ? { ...(e.runner?.state ?? this.#idle), error: e.error } : undefined;
  }

  /** Resolves when every operation queued so far has finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#ops.size > 0) await Promise.all([...this.#ops.values()]);
  }

  #enqueue(key: string, op: () => Promise<void>): void {
    const p = (this.#ops.get(key) ?? Promise.resolve()).then(op).catch((err: unknown) => {
      this.#logger.error({ err, runner: key }, 'runner operation failed');
    });
    this.#ops.set(key, p);
    void p.finally(() => {
      if (this.#ops.get(key) === p) this.#ops.delete(key);
    });
  }

  /** Applies the desired set; returns at once (operations run in the background, per key). */
  sync(desired: S[]): void {
    const want = new Map(desired.map((s) => [s.key, { spec: s, hash: canonical(s) }]));
    for (const [key, e] of this.#entries) {
      const w = want.get(key);
      if (w?.hash === e.hash) continue;
      if (w && e.runner?.reconfigure) {
        // Offered in place once the runner's start (if still running) finished; the entry stays,
        // so later syncs see the new hash and a newer spec replaces this one before it is applied.
        e.hash = w.hash;
        const queued = e.next !== undefined;
        e.next = w;
        if (!queued) this.#enqueue(key, () => this.#reconfigure(key, e));
        continue;
      }
      this.#entries.delete(key);
      this.#logger.info({ runner: key, reason: w ? 'changed' : 'no longer wanted' }, 'stopping runner');
      // Runs after a start still in flight for this key, so it sees the runner that start made.
      this.#enqueue(key, async () => {
        await e.runner?.stop();
        e.runner = undefined;
      });
    }
    const now = Date.now();
    for (const [key, w] of want) {
      let e = this.#entries.get(key);
      if (e?.runner || e?.starting) continue;
      if (e?.failedAt !== undefined && now - e.failedAt < this.#retryAfterMs) continue;
      if (!e) {
        e = this.#entry(w);
        this.#entries.set(key, e);
      }
      this.#start(key, e);
    }
  }

  #entry(w: { spec: S; hash: string }): Entry<S, R> {
    return { spec: w.spec, hash: w.hash, runner: undefined, starting: false, failedAt: undefined, error: undefined, next: undefined };
  }

  /** Queues the start of the entry's runner with its spec. */
  #start(key: string, entry: Entry<S, R>): void {
    entry.starting = true;
    const spec = entry.spec;
    this.#enqueue(key, async () => {
      try {
        const runner = await this.#create(spec);
        entry.runner = runner;
        await runner.start();
        entry.failedAt = undefined;
        entry.error = undefined;
        this.#logger.info({ runner: key, ...this.#describe(spec) }, 'runner started');
      } catch (err) {
        entry.runner = undefined;
        entry.failedAt = Date.now();
        entry.error = err instanceof Error ? err.message : String(err);
        this.#logger.warn({ runner: key, err }, 'runner failed to start; retrying later');
      } finally {
        entry.starting = false;
      }
      // Removed while starting: stop what the start made.
      if (this.#entries.get(key) !== entry && entry.runner) {
        await entry.runner.stop();
        entry.runner = undefined;
      }
    });
  }

  /** The queued spec of an entry, in place when its runner takes it, else by a restart. */
  async #reconfigure(key: string, e: Entry<S, R>): Promise<void> {
    const next = e.next;
    e.next = undefined;
    // Removed since (its stop is queued after this), or back to what it runs.
    if (!next || this.#entries.get(key) !== e || next.hash === canonical(e.spec)) return;
    const runner = e.runner;
    let applied = false;
    try {
      applied = runner?.reconfigure?.(next.spec) ?? false;
    } catch (err) {
      this.#logger.warn({ runner: key, err }, 'runner reconfigure failed; restarting it');
    }
    if (applied) {
      e.spec = next.spec;
      this.#logger.info({ runner: key, ...this.#describe(next.spec) }, 'runner reconfigured');
      return;
    }
    // Refused, or its start failed meanwhile: a new runner, started once this one stopped (the
    // start is queued behind this operation). The new entry is in place during the stop, so a
    // sync meanwhile sees it (and may still remove it).
    this.#entries.delete(key);
    this.#logger.info({ runner: key, reason: 'changed' }, 'stopping runner');
    const fresh = this.#entry(next);
    this.#entries.set(key, fresh);
    this.#start(key, fresh);
    await runner?.stop();
    e.runner = undefined;
  }

  /** Stops every runner gracefully. */
  async stopAll(): Promise<void> {
    for (const [key, e] of this.#entries) {
      this.#entries.delete(key);
      this.#enqueue(key, async () => {
        await e.runner?.stop();
        e.runner = undefined;
      });
    }
    await this.idle();
  }
}
