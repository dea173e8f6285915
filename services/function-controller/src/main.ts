/**
 * function-controller: its configuration and one runControllerProcess.
 * Functions -> ConfigMap, Service, Deployment, HPA.
 */
import { commonShape, env, leaseShape, loadConfig } from '@kubeless/config';
import { runControllerProcess } from '@kubeless/controller';
import { buildFunctionController } from './assemble.js';

const config = loadConfig({
  ...commonShape,
  /** Namespace of kubeless-config; default the controller's own. */
  KUBELESS_NAMESPACE: env.string().optional(),
  RECONCILE_CONCURRENCY: env.int(1, 256).default(8),
  ...leaseShape('kubeless-function-controller'),
  /** Every Function is reconciled again this often, changed or not. */
  RESYNC_PERIOD: env.duration().prefault('10m'),
});

await runControllerProcess({
  name: 'function-controller',
  config,
  assemble: (service) =>
    buildFunctionController({
      ...service,
      configNamespace: config.KUBELESS_NAMESPACE ?? config.POD_NAMESPACE,
      concurrency: config.RECONCILE_CONCURRENCY,
      resyncPeriodMs: config.RESYNC_PERIOD,
    }),
});
