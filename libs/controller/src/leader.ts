import type { Logger } from '@kubeless/observability';
import { isConflict, isNotFound } from './errors.js';
import type { KubeClient, KubeObject } from './kube-client.js';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  /** Unique per replica, e.g. the pod name. */
  identity: string;
  /** Default 15 s, renew deadline 10 s, retry period 2 s (client-go's defaults). */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  logger?: Logger;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}
type Lease = KubeObject & { spec?: LeaseSpec };

const microTime = (d = new Date()): string => d.toISOString().replace(/Z$/, '000Z');

/** Why a leader stopped leading: it lost the Lease (could not renew in time), or released it on stop. */
export type LeadershipEnd = 'lost' | 'released';

/**
 * Lease-based leader election, as client-go's: one replica holds a coordination.k8s.io Lease and
 * renews it every retry period; the others watch it and take over when it has not changed for
 * the lease duration, measured on their own clock (no clock-skew assumption).
 *
 * A leader that has not renewed within the renew deadline stops leading at that moment, even if
 * a request is still hanging (an API server that is paused or cut off): every acquire or renew
 * request is bounded by the renew deadline, and a timer ends the leadership when the deadline
 * passes. Since the renew deadline is shorter than the lease duration, a cut-off leader stops
 * acting before any follower may take over. Leadership lost is final for this elector (`run`
 * returns): as client-go's callers do, the process should exit and be restarted (Manager does),
 * rather than carry on with controllers that were stopped. On stop, the leader releases the Lease
 * so a successor need not wait.
 */
export class LeaderElector {
  readonly #client: KubeClient;
  readonly #o: Required<Omit<LeaderElectionOptions, 'logger'>>;
  readonly #logger: Logger | undefined;
  #leading = false;
  #observedRecord = '';
  #observedAt = 0;

  constructor(client: KubeClient, options: LeaderElectionOptions) {
    this.#client = client;
    this.#logger = options.logger;
    this.#o = {
      namespace: options.namespace,
      name: options.name,
      identity: options.identity,
      leaseDurationMs: options.leaseDurationMs ?? 15_000,
      renewDeadlineMs: options.renewDeadlineMs ?? 10_000,
      retryPeriodMs: options.retryPeriodMs ?? 2_000,
    };
    if (this.#o.renewDeadlineMs >= this.#o.leaseDurationMs) throw new TypeError('leader election: the renew deadline must be shorter than the lease duration');
    if (this.#o.retryPeriodMs >= this.#o.renewDeadlineMs) throw new TypeError('leader election: the retry period must be shorter than the renew deadline');
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  get #path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.#o.namespace}/leases/${this.#o.name}`;
  }

  /**
   * Campaigns until `signal` aborts or leadership is lost. Calls `onStarted` on acquiring the
   * Lease and `onStopped` once when leadership ends: `lost` (not renewed within the renew
   * deadline; `run` then returns without campaigning again) or `released` (on abort).
   */
  async run(signal: AbortSignal, callbacks: { onStarted: () => void; onStopped: (why: LeadershipEnd) => void }): Promise<void> {
    let deadline: NodeJS.Timeout | undefined;
    const lose = new AbortController();
    const stepDown = (): void => {
      if (!this.#leading) return;
      this.#leading = false;
      this.#logger?.error({ lease: this.#o.name, identity: this.#o.identity, renewDeadlineMs: this.#o.renewDeadlineMs }, 'lost leadership: the Lease was not renewed within the renew deadline');
      lose.abort();
      callbacks.onStopped('lost');
    };
    const both = AbortSignal.any([signal, lose.signal]);
    // A function, not the property: an await in between may have aborted it.
    const ended = (): boolean => both.aborted;
    while (!ended()) {
      let ok = false;
      // The deadline runs from the start of the attempt that renewed: the Lease was written no
      // earlier, so this leader stops before a follower's lease duration from that write ends.
      const startedAt = Date.now();
      try {
        ok = await this.#tryAcquireOrRenew(AbortSignal.any([both, AbortSignal.timeout(this.#o.renewDeadlineMs)]));
      } catch (err) {
        if (!ended()) this.#logger?.warn({ err }, 'lease update failed');
      }
      if (ok && !ended()) {
        clearTimeout(deadline);
        deadline = setTimeout(stepDown, Math.max(0, startedAt + this.#o.renewDeadlineMs - Date.now()));
        deadline.unref();
        if (!this.#leading) {
          this.#leading = true;
          this.#logger?.info({ lease: this.#o.name, identity: this.#o.identity }, 'became leader');
          callbacks.onStarted();
        }
      }
      await sleepUnlessAborted(this.#o.retryPeriodMs, both);
    }
    clearTimeout(deadline);
    if (this.#leading) {
      this.#leading = false;
      await this.#release().catch((err: unknown) => this.#logger?.warn({ err }, 'lease release failed'));
      callbacks.onStopped('released');
    }
  }

  async #tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const now = new Date();
    const seconds = Math.ceil(this.#o.leaseDurationMs / 1000);
    let lease: Lease;
    try {
      lease = await this.#client.get<Lease>(this.#path, signal);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await this.#client.create(`/apis/coordination.k8s.io/v1/namespaces/${this.#o.namespace}/leases`, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.#o.name, namespace: this.#o.namespace },
          spec: { holderIdentity: this.#o.identity, leaseDurationSeconds: seconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
        }, signal);
        return true;
      } catch (e) {
        if (isConflict(e)) return false;
        throw e;
      }
    }
    const spec = lease.spec ?? {};
    const record = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.acquireTime]);
    if (record !== this.#observedRecord) {
      this.#observedRecord = record;
      this.#observedAt = Date.now();
    }
    const holder = spec.holderIdentity ?? '';
    const mine = holder === this.#o.identity;
    const expired = holder === '' || Date.now() - this.#observedAt > (spec.leaseDurationSeconds ?? seconds) * 1000;
    if (!mine && !expired) return false;
    const next: LeaseSpec = {
      holderIdentity: this.#o.identity,
      leaseDurationSeconds: seconds,
      acquireTime: mine ? spec.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: mine ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
    };
    try {
      // PUT with the resourceVersion we read: a concurrent taker makes this a 409, and loses.
      await this.#client.replace(this.#path, { ...lease, spec: next }, signal);
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  async #release(): Promise<void> {
    const signal = AbortSignal.timeout(this.#o.renewDeadlineMs);
    const lease = await this.#client.get<Lease>(this.#path, signal);
    if (lease.spec?.holderIdentity !== this.#o.identity) return;
    await this.#client.replace(this.#path, { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime() } }, signal);
    this.#logger?.info({ lease: this.#o.name, identity: this.#o.identity }, 'released leadership');
  }
}

/**
 * Resolves after `ms`, or at once when `signal` aborts. The abort listener goes when the timer
 * fires: the elector sleeps on one signal every retry period for the life of the process, and a
 * listener left behind per sleep grew without bound (Node warned after eleven).
 */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
