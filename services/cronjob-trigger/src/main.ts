/**
 * cronjob-trigger: process wiring only. CronJobTriggers -> one CloudEvent per slot to the function.
 * Every replica keeps warm caches; the Lease holder alone runs the scheduler (claims slots, sends,
 * writes status). A replica that loses the Lease aborts its attempts at once and exits (the kubelet
 * restarts it and it campaigns afresh); its successor continues each slot under way (scheduler.ts).
 */
import os from 'node:os';
import { commonShape, env, leaseShape, loadConfig } from '@kubeless/config';
import { KubeClient, LeaderElector, Manager, leaderElectionFrom, stopOnSignals } from '@kubeless/controller';
import { HealthServer, createLogger, createRegistry } from '@kubeless/observability';
import { buildCronjobTrigger } from './controller.js';

const config = loadConfig({
  ...commonShape,
  /** EndpointSlice managers trusted beside the endpointslice controller (comma-separated; a service mesh's). */
  TRUSTED_ENDPOINTSLICE_MANAGERS: env.list().default([]),
  /** `service`: the function Service's DNS name; `endpointslice`: its ready endpoints directly. */
  ENDPOINT_MODE: env.enum(['service', 'endpointslice']).default('service'),
  CLUSTER_DOMAIN: env.string().default('cluster.local'),
  /** mTLS to functions: CA, client certificate and key files (reloaded when they change). */
  DELIVERY_TLS_CA: env.string().optional(),
  DELIVERY_TLS_CERT: env.string().optional(),
  DELIVERY_TLS_KEY: env.string().optional(),
  /** The largest payload a trigger may send. */
  MAX_EVENT_BYTES: env.int(1, 1 << 30).default(1024 * 1024),
  /** How long a stop waits for attempts in flight before it leaves them to the next leader. */
  DRAIN_TIMEOUT: env.duration().prefault('20s'),
  /** Every trigger is planned at least this often (conditions follow the caches). */
  RESYNC_INTERVAL: env.duration().prefault('30s'),
  ...leaseShape('kubeless-cronjob-trigger'),
});
const identity = config.POD_NAME ?? `${os.hostname()}-${String(process.pid)}`;
const logger = createLogger({ name: 'cronjob-trigger', level: config.LOG_LEVEL });
const registry = createRegistry();
const health = new HealthServer({ port: config.HEALTH_PORT, host: config.HEALTH_HOST, registry, logger });
const client = KubeClient.fromKubeconfig(config.KUBECONFIG, { userAgent: `kubeless-cronjob-trigger/${identity}` });
const deliveryTls =
  config.DELIVERY_TLS_CA ?? config.DELIVERY_TLS_CERT ?? config.DELIVERY_TLS_KEY
    ? { caFile: config.DELIVERY_TLS_CA, certFile: config.DELIVERY_TLS_CERT, keyFile: config.DELIVERY_TLS_KEY }
    : undefined;

const parts = buildCronjobTrigger({
  client,
  logger,
  registry,
  watchNamespace: config.WATCH_NAMESPACE,
  instance: identity,
  endpointMode: config.ENDPOINT_MODE,
  clusterDomain: config.CLUSTER_DOMAIN,
  trustedEndpointManagers: config.TRUSTED_ENDPOINTSLICE_MANAGERS,
  deliveryTls,
  maxEventBytes: config.MAX_EVENT_BYTES,
  resyncMs: config.RESYNC_INTERVAL,
});
// The Manager keeps the caches and readiness on every replica; the scheduler is not a kit
// Controller (its status writes carry a resourceVersion, the kit's do not), so it follows its
// own elector on the same Lease settings.
const manager = new Manager({ client, logger, health, leaderElection: false });
for (const i of parts.informers) manager.addInformer(i);

const port = await health.listen();
logger.info({ port, identity }, 'health server listening');
await manager.start();

const stopElection = new AbortController();
const lease = leaderElectionFrom(config, identity);
let election: Promise<void> = Promise.resolve();
if (lease === false) {
  parts.scheduler.start();
} else {
  const elector = new LeaderElector(client, { ...lease, logger });
  election = elector.run(stopElection.signal, {
    onStarted: () => {
      parts.scheduler.start();
    },
    onStopped: (why) => {
      if (why !== 'lost') return;
      // No write after the renew deadline: a successor may lead once the Lease expires.
      parts.scheduler.abortAll();
      process.exitCode = 1;
      process.kill(process.pid, 'SIGTERM');
    },
  });
}

stopOnSignals(logger, async () => {
  // Attempts in flight end and their results are written while this replica still holds the Lease.
  await parts.scheduler.stop(config.DRAIN_TIMEOUT);
  stopElection.abort();
  await election;
  await parts.close();
  await manager.stop();
  await health.close();
});
