import type { HealthServer, Logger } from '@kubeless/observability';
import type { Controller, Reconcilable } from './controller.js';
import type { Informer } from './informer.js';
import { LeaderElector, type LeaderElectionOptions } from './leader.js';
import type { KubeClient } from './kube-client.js';

export interface ManagerOptions {
  client: KubeClient;
  logger: Logger;
  health?: HealthServer;
  /** Lease settings; false runs every controller at once (a single replica, or tests). */
  leaderElection: LeaderElectionOptions | false;
  /** How long `stop()` waits for reconciles in flight. Default 20 s. */
  shutdownTimeoutMs?: number;
  /**
   * Called once when this replica loses the Lease (it could not renew within the renew deadline;
   * its controllers are already stopped). Default: the process stops as on SIGTERM (the handler of
   * `stopOnSignals` drains runners and exits with code 1), so the kubelet restarts it and it
   * campaigns afresh, as client-go's controllers do.
   */
  onLostLeadership?: () => void;
}

/**
 * Wires one controller process: starts the informers on every replica (followers keep warm
 * caches and are ready to take over), runs the controllers only while this replica holds the
 * Lease (followers write nothing), gates readiness on the first sync of every informer, and
 * shuts down in order on `stop()`: controllers drain, the Lease is released, informers stop. A
 * replica that loses the Lease stops its controllers at once and then the process
 * (`onLostLeadership`): a controller whose work queue was shut down never serves again in-process.
 */
export class Manager {
  readonly #o: ManagerOptions;
  readonly #informers: Informer[] = [];
  readonly #controllers: Controller<Reconcilable>[] = [];
  readonly #abort = new AbortController();
  #election: Promise<void> | undefined;
  #elector: LeaderElector | undefined;

  constructor(options: ManagerOptions) {
    this.#o = options;
  }

  addInformer<I extends Informer>(informer: I): I {
    this.#informers.push(informer);
    return informer;
  }

  addController<T extends Reconcilable>(controller: Controller<T>): Controller<T> {
    this.#controllers.push(controller as unknown as Controller<Reconcilable>);
    return controller;
  }

  get isLeader(): boolean {
    return this.#o.leaderElection === false || (this.#elector?.isLeader ?? false);
  }

  get synced(): boolean {
    return this.#informers.every((i) => i.synced);
  }

  /** Starts informers and (when leading) controllers; resolves once the informers synced. */
  async start(): Promise<void> {
    this.#o.health?.addReadinessGate('informers-synced', () => this.synced);
    for (const i of this.#informers) i.start();
    await Promise.all(this.#informers.map((i) => i.waitForSync(this.#abort.signal)));
    this.#o.logger.info({ informers: this.#informers.map((i) => i.resource.plural) }, 'caches synced');
    if (this.#o.leaderElection === false) {
      for (const c of this.#controllers) c.start();
      return;
    }
    this.#elector = new LeaderElector(this.#o.client, { ...this.#o.leaderElection, logger: this.#o.logger });
    this.#election = this.#elector.run(this.#abort.signal, {
      onStarted: () => {
        for (const c of this.#controllers) c.start();
      },
      onStopped: (why) => {
        void Promise.all(this.#controllers.map((c) => c.stop()));
        if (why === 'lost') (this.#o.onLostLeadership ?? exitAfterLostLeadership)();
      },
    });
  }

  /** Graceful shutdown; safe to call twice. */
  async stop(): Promise<void> {
    this.#o.health?.markShuttingDown();
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, this.#o.shutdownTimeoutMs ?? 20_000).unref());
    await Promise.race([Promise.all(this.#controllers.map((c) => c.stop())), timeout]);
    this.#abort.abort();
    await this.#election;
    await Promise.all(this.#informers.map((i) => i.stop()));
  }
}

/** The default reaction to a lost Lease: stop like on SIGTERM (drain, then exit), with exit code 1. */
function exitAfterLostLeadership(): void {
  process.exitCode = 1;
  process.kill(process.pid, 'SIGTERM');
}
