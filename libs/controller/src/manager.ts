import { Gauge, type HealthServer, type Logger, type Registry } from '@kubeless/observability';
import type { Controller, Reconcilable } from './controller.js';
import type { Informer } from './informer.js';
import { LeaderElector, type LeaderElectionOptions } from './leader.js';
import type { KubeClient } from './kube-client.js';

/**
 * Something the Manager runs besides informers and controllers (controller-runtime's `Runnable`
 * with `NeedLeaderElection`): a trigger's consumers or receivers on every replica, a scheduler on
 * the leader only.
 */
export interface Runnable {
  /** For logs. */
  readonly name: string;
  /**
   * True: runs only while this replica holds the Lease (it writes, e.g. the cronjob scheduler);
   * false: runs on every replica once the caches synced (e.g. Kafka consumers, SQS receivers).
   */
  readonly needLeaderElection: boolean;
  /** Called once the caches synced (and, with `needLeaderElection`, on taking the Lease). */
  start(): void | Promise<void>;
  /**
   * Graceful stop (drain). Called on `Manager.stop()` for every runnable, started or not, so it
   * must be a no-op for one that never started.
   */
  stop(): Promise<void>;
  /**
   * Leader-only runnables: stops at once, without another write, when the Lease is lost (a
   * successor may lead once it expires). Without it, `stop()` is called and not awaited.
   */
  abort?(): void;
}

/** What a service's assembly hands the Manager (`Manager.addAll`). */
export interface Parts {
  informers: readonly Informer[];
  /** Run by the leader only. */
  controllers?: readonly Pick<Controller<never>, 'start' | 'stop'>[];
  runnables?: readonly Runnable[];
}

type Startable = Pick<Controller<never>, 'start' | 'stop'>;

export interface ManagerOptions {
  client: KubeClient;
  logger: Logger;
  health?: HealthServer;
  /** Lease settings; false runs every controller at once (a single replica, or tests). */
  leaderElection: LeaderElectionOptions | false;
  /** How long `stop()` waits for reconciles in flight (after the runnables stopped). Default 20 s. */
  shutdownTimeoutMs?: number;
  /**
   * Called once when this replica loses the Lease (it could not renew within the renew deadline;
   * its controllers are already stopped and its leader-only runnables aborted). Default: the
   * process stops as on SIGTERM (the handler of `stopOnSignals` drains runners and exits with
   * code 1), so the kubelet restarts it and it campaigns afresh, as client-go's controllers do.
   */
  onLostLeadership?: () => void;
  /**
   * The process's metrics registry: with leader election, the Manager registers client-go's
   * `leader_election_master_status{name}` on it (1 while this replica holds the Lease `name`, else 0).
   */
  registry?: Registry;
}

/** client-go's leader-election gauge (k8s.io/client-go/tools/leaderelection/metrics.go). */
export const LEADER_ELECTION_GAUGE = 'leader_election_master_status';

/**
 * Runs one controller process: starts the informers on every replica (followers keep warm
 * caches and are ready to take over), then the runnables that need no leader; runs the
 * controllers and the leader-only runnables only while this replica holds the Lease (followers
 * write nothing); gates readiness on the first sync of every informer. `stop()` shuts down in
 * order: runnables in reverse order of adding (consumers drain, commit and leave their groups;
 * a scheduler's attempts end while the Lease is still held), controllers drain, the Lease is
 * released, informers stop. A replica that loses the Lease stops its controllers and aborts its
 * leader-only runnables at once, then the process (`onLostLeadership`): a controller whose work
 * queue was shut down never serves again in-process.
 */
export class Manager {
  readonly #o: ManagerOptions;
  readonly #informers: Informer[] = [];
  readonly #controllers: Startable[] = [];
  readonly #runnables: Runnable[] = [];
  readonly #abort = new AbortController();
  #election: Promise<void> | undefined;
  #elector: LeaderElector | undefined;
  #stopped: Promise<void> | undefined;

  constructor(options: ManagerOptions) {
    this.#o = options;
    const { registry, leaderElection } = options;
    // One Manager per process registry: a second one on the same registry leaves the first one's gauge.
    if (registry && leaderElection !== false && !registry.getSingleMetric(LEADER_ELECTION_GAUGE)) {
      const isLeader = (): boolean => this.isLeader;
      new Gauge({
        name: LEADER_ELECTION_GAUGE,
        help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master.',
        labelNames: ['name'] as const,
        registers: [registry],
        collect() {
          this.set({ name: leaderElection.name }, isLeader() ? 1 : 0);
        },
      });
    }
  }

  addInformer<I extends Informer>(informer: I): I {
    this.#informers.push(informer);
    return informer;
  }

  addController<T extends Reconcilable>(controller: Controller<T>): Controller<T> {
    this.#controllers.push(controller);
    return controller;
  }

  add<R extends Runnable>(runnable: R): R {
    this.#runnables.push(runnable);
    return runnable;
  }

  /** Adds a service's informers, controllers and runnables, in their order. */
  addAll(parts: Parts): void {
    for (const i of parts.informers) this.#informers.push(i);
    for (const c of parts.controllers ?? []) this.#controllers.push(c);
    for (const r of parts.runnables ?? []) this.#runnables.push(r);
  }

  get isLeader(): boolean {
    return this.#o.leaderElection === false || (this.#elector?.isLeader ?? false);
  }

  get synced(): boolean {
    return this.#informers.every((i) => i.synced);
  }

  /**
   * Starts informers, then (when leading) controllers and leader-only runnables, then the
   * runnables of every replica; resolves once those started (a throw of theirs rejects).
   */
  async start(): Promise<void> {
    this.#o.health?.addReadinessGate('informers-synced', () => this.synced);
    for (const i of this.#informers) i.start();
    await Promise.all(this.#informers.map((i) => i.waitForSync(this.#abort.signal)));
    this.#o.logger.info({ informers: this.#informers.map((i) => i.resource.plural) }, 'caches synced');
    if (this.#o.leaderElection === false) {
      this.#lead();
    } else {
      this.#elector = new LeaderElector(this.#o.client, { ...this.#o.leaderElection, logger: this.#o.logger });
      this.#election = this.#elector.run(this.#abort.signal, {
        onStarted: () => {
          this.#lead();
        },
        onStopped: (why) => {
          void Promise.all(this.#controllers.map((c) => c.stop()));
          if (why !== 'lost') return;
          // No write after the renew deadline: a successor may lead once the Lease expires.
          for (const r of this.#leaderRunnables()) {
            if (r.abort) r.abort();
            else
              void r.stop().catch((err: unknown) => {
                this.#o.logger.error({ err, runnable: r.name }, 'runnable failed to stop');
              });
          }
          (this.#o.onLostLeadership ?? exitAfterLostLeadership)();
        },
      });
    }
    for (const r of this.#runnables) if (!r.needLeaderElection) await r.start();
  }

  #leaderRunnables(): Runnable[] {
    return this.#runnables.filter((r) => r.needLeaderElection);
  }

  /** On taking the Lease (or at once without election): controllers, then leader-only runnables. */
  #lead(): void {
    for (const c of this.#controllers) c.start();
    for (const r of this.#leaderRunnables()) {
      const start = async (): Promise<void> => {
        await r.start();
      };
      void start().catch((err: unknown) => {
        this.#o.logger.error({ err, runnable: r.name }, 'runnable failed to start');
      });
    }
  }

  /** Graceful shutdown; a second call waits for the first. */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    for (const r of [...this.#runnables].reverse()) await r.stop();
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
