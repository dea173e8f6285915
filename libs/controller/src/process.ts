import type { Logger } from '@kubeless/observability';
import type { LeaderElectionOptions } from './leader.js';

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
