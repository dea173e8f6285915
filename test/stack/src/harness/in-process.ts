/** A controller run in the test's own process against the stack (shared by every package's integration tests). */
import { KubeClient, Manager, type Parts } from '@kubeless/controller';
import { createLogger, createRegistry, type Logger, type Registry } from '@kubeless/observability';
import type { ControllerName } from '../identities.js';
import { controllerKubeconfig } from '../testing.js';

export interface InProcessController<P extends Parts> {
  client: KubeClient;
  registry: Registry;
  /** What `assemble` built, as the Manager runs it. */
  parts: P;
  /** Stops the Manager (in its order: runnables drain, controllers stop, informers stop), then closes the client. */
  stop: () => Promise<void>;
}

/**
 * Builds controller `name` with `assemble` and runs it in-process, leading at once (no Lease). Its
 * client is on the controller's own ServiceAccount's token (written by `stack up`), as the chart
 * runs it, unless `client` is given (then `stop` closes that one); its logger is `<name>-test` at
 * TEST_LOG_LEVEL (silent unless set); its registry has no default metrics. Resolves once the
 * caches synced and its controllers and runnables started.
 */
export async function startInProcess<P extends Parts>(
  name: ControllerName,
  assemble: (ctx: { client: KubeClient; logger: Logger; registry: Registry }) => P,
  options: { client?: KubeClient } = {},
): Promise<InProcessController<P>> {
  const logger = createLogger({ name: `${name}-test`, level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const client = options.client ?? KubeClient.fromKubeconfig(controllerKubeconfig(name), { userAgent: `kubeless-${name}/test` });
  const registry = createRegistry({ defaultMetrics: false });
  const parts = assemble({ client, logger, registry });
  const manager = new Manager({ client, logger, leaderElection: false });
  manager.addAll(parts);
  await manager.start();
  return {
    client,
    registry,
    parts,
    stop: async () => {
      await manager.stop();
      client.close();
    },
  };
}
