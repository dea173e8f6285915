/**
 * The runners of an event trigger kind (Kafka consumers, SQS receivers) on every replica: a
 * Supervisor that follows the planned runner specs, the versions of the Secrets those specs read
 * their credentials from, and the Runnable the Manager starts and stops them with.
 */
import type { Logger } from '@kubeless/observability';
import type { KubeClient } from './kube-client.js';
import type { Runnable } from './manager.js';
import { SecretVersions } from './secret-versions.js';
import { Supervisor, type ChangeSource, type Runner } from './supervisor.js';

export interface ReplicaRunnersOptions<S extends { key: string; namespace: string }, State, R extends Runner<State, S>> {
  /** The Runnable's name, for logs (`kafka-consumers`). */
  name: string;
  client: KubeClient;
  logger: Logger;
  /** The runner specs the caches ask for now (a pure plan of the triggers and functions). */
  planned: () => S[];
  /** The Secret (in the spec's namespace) a spec reads its credentials from; undefined or empty for none. */
  secretOf: (spec: S) => string | undefined;
  /** `spec` carrying its Secret's version (a digest of the data, never the data). */
  withSecretVersion: (spec: S, version: string) => S;
  /** How often the Secrets in use are re-read. Default 10 s. */
  secretResyncMs?: number | undefined;
  create: (spec: S) => Promise<R>;
  /** The state reported for a key whose runner is not running. */
  idleState: State;
  /** Log fields for a started runner. */
  describe?: (spec: S) => Record<string, unknown>;
  /** Whose changes can change `planned()` (the caches it reads); the Secret versions are added. */
  sources: readonly ChangeSource[];
  /** How often the runners are synced without a change (retries failed starts). Default 5 s. */
  syncIntervalMs?: number | undefined;
  /** How long a runner that failed to start waits before the next try. Default 5 s. */
  retryAfterMs?: number | undefined;
  /** Closes what the runners share (clients), once every runner stopped. */
  close: () => void | Promise<void>;
}

/**
 * Runners on every replica (the Runnable needs no Lease), following `planned()` once the caches
 * synced. A spec that reads a Secret runs with the Secret's version in it, so a rotated Secret
 * restarts its runner with the new data; it starts once the first read told the version
 * (milliseconds), not before, so that first read restarts nothing. On stop: the Secrets are no
 * longer re-read, every runner stops gracefully, then `close` runs.
 */
export function replicaRunners<S extends { key: string; namespace: string }, State, R extends Runner<State, S>>(
  o: ReplicaRunnersOptions<S, State, R>,
): { runnable: Runnable; supervisor: Supervisor<S, State, R> } {
  const secrets = new SecretVersions({ client: o.client, logger: o.logger, intervalMs: o.secretResyncMs });
  const desired = (): S[] =>
    o.planned().flatMap((spec) => {
      const secret = o.secretOf(spec);
      if (!secret) return [spec];
      const version = secrets.version(spec.namespace, secret);
      return version === undefined ? [] : [o.withSecretVersion(spec, version)];
    });
  // Runners follow the caches: at once on a change (bursts coalesce), and every syncIntervalMs.
  const supervisor = new Supervisor<S, State, R>({
    create: o.create,
    logger: o.logger,
    retryAfterMs: o.retryAfterMs,
    idleState: o.idleState,
    describe: o.describe,
    desired,
    sources: [...o.sources, secrets],
    syncIntervalMs: o.syncIntervalMs,
  });
  const runnable: Runnable = {
    name: o.name,
    needLeaderElection: false,
    start: () => {
      secrets.start();
      supervisor.start();
    },
    stop: async () => {
      secrets.stop();
      await supervisor.stop();
      await o.close();
    },
  };
  return { runnable, supervisor };
}
