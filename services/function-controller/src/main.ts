/**
 * function-controller: process wiring only. Functions -> ConfigMap, Service, Deployment, HPA.
 */
import os from 'node:os';
import { commonShape, env, leaseShape, loadConfig } from '@kubeless/config';
import { KubeClient, Manager, leaderElectionFrom, stopOnSignals } from '@kubeless/controller';
import { HealthServer, createLogger, createRegistry } from '@kubeless/observability';
import { buildFunctionController } from './controller.js';

const config = loadConfig({
  ...commonShape,
  /** Namespace of kubeless-config; default the controller's own. */
  KUBELESS_NAMESPACE: env.string().optional(),
  RECONCILE_CONCURRENCY: env.int(1, 256).default(8),
  ...leaseShape('kubeless-function-controller'),
  /** Every Function is reconciled again this often, changed or not. */
  RESYNC_PERIOD: env.duration().prefault('10m'),
});
const identity = config.POD_NAME ?? `${os.hostname()}-${String(process.pid)}`;
const logger = createLogger({ name: 'function-controller', level: config.LOG_LEVEL });
const registry = createRegistry();
const health = new HealthServer({ port: config.HEALTH_PORT, host: config.HEALTH_HOST, registry, logger });
const client = KubeClient.fromKubeconfig(config.KUBECONFIG, { userAgent: `kubeless-function-controller/${identity}` });

const { controller, informers } = buildFunctionController({
  client,
  logger,
  registry,
  watchNamespace: config.WATCH_NAMESPACE,
  configNamespace: config.KUBELESS_NAMESPACE ?? config.POD_NAMESPACE,
  concurrency: config.RECONCILE_CONCURRENCY,
  instance: identity,
  resyncPeriodMs: config.RESYNC_PERIOD,
});
const manager = new Manager({
  client,
  logger,
  health,
  leaderElection: leaderElectionFrom(config, identity),
});
for (const i of informers) manager.addInformer(i);
manager.addController(controller);

const port = await health.listen();
logger.info({ port, identity }, 'health server listening');
await manager.start();

stopOnSignals(logger, () =>
  manager
    .stop()
    .then(() => health.close()),
);
