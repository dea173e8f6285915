/** The real function controller, in-process, for the function-pod tests of one namespace. */
import { KubeClient, Manager } from '@kubeless/controller';
import { buildFunctionController } from '@kubeless/function-controller';
import { createLogger } from '@kubeless/observability';
import { stackEnv } from '../testing.js';

/** Starts it on `namespace` (kubeless-config read from there too); `stop` ends it and its client. */
export async function startFunctionController(namespace: string, userAgent: string): Promise<{ client: KubeClient; stop: () => Promise<void> }> {
  const client = KubeClient.fromKubeconfig(stackEnv().KUBECONFIG, { userAgent });
  const logger = createLogger({ name: 'fc', level: 'silent' });
  const manager = new Manager({ client, logger, leaderElection: false });
  manager.addAll(buildFunctionController({ client, logger, watchNamespace: namespace, configNamespace: namespace }));
  await manager.start();
  return {
    client,
    stop: async () => {
      await manager.stop();
      client.close();
    },
  };
}
