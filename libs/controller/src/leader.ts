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

/**
 * Lease-based leader election, as client-go's: one replica holds a coordination.k8s.io Lease and
 * renews it every retry period; the others watch it and take over when it has not changed for
 * the lease duration, measured on their own clock (no clock-skew assumption). A leader that
 * cannot renew within the renew deadline steps down. On stop, the leader releases the Lease so
 * a successor need not wait.
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
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  get #path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.#o.namespace}/leases/${this.#o.name}`;
  }

  /**
   * Campaigns until `signal` aborts. Calls `onStarted` on acquiring and `onStopped` on losing the
   * lease (after which it campaigns again). Resolves after releasing the lease on abort.
   */
  async run(signal: AbortSignal, callbacks: { onStarted: () => void; onStopped: () => void }): Promise<void> {
    let lastRenew = 0;
    while (!signal.aborted) {
      let ok = false;
      try {
        ok = await this.#tryAcquireOrRenew();
      } catch (err) {
        this.#logger?.warn({ err }, 'lease update failed');
      }
      const now = Date.now();
      if (ok) {
        lastRenew = now;
        if (!this.#leading) {
          this.#leading = true;
          this.#logger?.info({ lease: this.#o.name, identity: this.#o.identity }, 'became leader');
          callbacks.onStarted();
        }
      } else if (this.#leading && now - lastRenew > this.#o.renewDeadlineMs) {
        this.#leading = false;
        this.#logger?.warn({ lease: this.#o.name, identity: this.#o.identity }, 'lost leadership');
        callbacks.onStopped();
      }
      await sleep(this.#o.retryPeriodMs, signal);
    }
    if (this.#leading) {
      await this.#release().catch((err: unknown) => this.#logger?.warn({ err }, 'lease release failed'));
      this.#leading = false;
      callbacks.onStopped();
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const seconds = Math.ceil(this.#o.leaseDurationMs / 1000);
    let lease: Lease;
    try {
      lease = await this.#client.get<Lease>(this.#path);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await this.#client.create(`/apis/coordination.k8s.io/v1/namespaces/${this.#o.namespace}/leases`, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.#o.name, namespace: this.#o.namespace },
          spec: { holderIdentity: this.#o.identity, leaseDurationSeconds: seconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
        });
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
      await this.#client.replace(this.#path, { ...lease, spec: next });
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  async #release(): Promise<void> {
    const lease = await this.#client.get<Lease>(this.#path);
    if (lease.spec?.holderIdentity !== this.#o.identity) return;
    await this.#client.replace(this.#path, { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime() } });
    this.#logger?.info({ lease: this.#o.name, identity: this.#o.identity }, 'released leadership');
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
