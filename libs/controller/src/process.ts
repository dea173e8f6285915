import os from 'node:os';
import type { Config, commonShape, leaseShape } from '@kubeless/config';
import { HealthServer, createLogger, createRegistry, type Logger, type Registry } from '@kubeless/observability';
import { KubeClient } from './kube-client.js';
import type { LeaderElectionOptions } from './leader.js';
import { Manager, type Parts } from './manager.js';
import type { ServiceOptions } from './service.js';

/** The leader-election settings every controller process reads (`commonShape` and `leaseShape` of @kubeless/config). */
export interface LeaseConfig {
  LEADER_ELECT: boolean;
  POD_NAMESPACE: string;
  LEASE_NAME: string;
  LEASE_DURATION: number;
  LEASE_RENEW_DEADLINE: number;
  LEASE_RETRY_PERIOD: number;
}

/** The Manager's `leaderElection` option from a process's config: its Lease in POD_NAMESPACE, or off. */
export function leaderElectionFrom(config: LeaseConfig, identity: string): LeaderElectionOptions | false {
  if (!config.LEADER_ELECT) return false;
  return {
    namespace: config.POD_NAMESPACE,
    name: config.LEASE_NAME,
    identity,
    leaseDurationMs: config.LEASE_DURATION,
    renewDeadlineMs: config.LEASE_RENEW_DEADLINE,
    retryPeriodMs: config.LEASE_RETRY_PERIOD,
  };
}

/**
 * On the first SIGTERM or SIGINT: logs it, runs `stop` (drain, release the Lease, close the health
 * server), then exits with `process.exitCode` (0 unless set, e.g. 1 after a lost Lease). While stopping, the other signal is ignored and a repeat of the same one
 * ends the process at once (its default action): a second Ctrl-C does not wait for the drain.
 */
export function stopOnSignals(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      void stop().then(() => process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0));
    });
  }
}

/** What every controller process reads: `commonShape` and `leaseShape` of @kubeless/config. */
export type ProcessConfig = Config<typeof commonShape> & Config<ReturnType<typeof leaseShape>>;

/** What a service's assembly gets from `runControllerProcess`: the ServiceOptions every assembly takes. */
export interface ProcessContext extends ServiceOptions {
  registry: Registry;
  /** WATCH_NAMESPACE; undefined watches all. */
  watchNamespace: string | undefined;
  /** This replica: POD_NAME, else `<hostname>-<pid>`. */
  instance: string;
}

export interface ControllerProcessOptions {
  /** The component (`kafka-trigger`): the logger's name; the API user agent is `kubeless-<name>/<identity>`. */
  name: string;
  config: ProcessConfig;
  /** The Manager's: how long a stop waits for reconciles in flight. Default 20 s. */
  shutdownTimeoutMs?: number;
  /** Builds the service's informers, controllers and runnables. */
  assemble: (ctx: ProcessContext) => Parts | Promise<Parts>;
  /** More fields for the `health server listening` line. */
  logFields?: Record<string, unknown>;
}

/**
 * The process around a controller: its logger, metrics registry, /healthz /readyz /metrics server
 * and API client, a Manager with the Lease of `config` (or none with LEADER_ELECT=false) that
 * runs what `assemble` returns, the health server listening, and on SIGTERM or SIGINT a graceful
 * stop (the Manager's order, then the health server) and exit; a lost Lease stops the process
 * the same way with exit code 1. Resolves once the Manager started.
 */
export async function runControllerProcess(o: ControllerProcessOptions): Promise<Manager> {
  const { config } = o;
  const identity = config.POD_NAME ?? `${os.hostname()}-${String(process.pid)}`;
  const logger = createLogger({ name: o.name, level: config.LOG_LEVEL });
  const registry = createRegistry();
  const health = new HealthServer({ port: config.HEALTH_PORT, host: config.HEALTH_HOST, registry, logger });
  const client = KubeClient.fromKubeconfig(config.KUBECONFIG, { userAgent: `kubeless-${o.name}/${identity}` });
  const manager = new Manager({
    client,
    logger,
    health,
    leaderElection: leaderElectionFrom(config, identity),
    registry,
    shutdownTimeoutMs: o.shutdownTimeoutMs,
  });
  manager.addAll(await o.assemble({ client, logger, registry, watchNamespace: config.WATCH_NAMESPACE, instance: identity }));

  const port = await health.listen();
  logger.info({ port, identity, ...o.logFields }, 'health server listening');
  await manager.start();

  stopOnSignals(logger, () => manager.stop().then(() => health.close()));
  return manager;
}
