/** The real function controller, in-process, for the function-pod tests of one namespace. */
import { KubeClient } from '@kubeless/controller';
import { buildFunctionController } from '@kubeless/function-controller';
import { stackEnv } from '../testing.js';
import { startInProcess } from './in-process.js';

/** Starts it on `namespace` (kubeless-config read from there too), as the admin with `userAgent`; `stop` ends it and its client. */
export function startFunctionController(namespace: string, userAgent: string): Promise<{ client: KubeClient; stop: () => Promise<void> }> {
  const client = KubeClient.fromKubeconfig(stackEnv().KUBECONFIG, { userAgent });
  return startInProcess('function-controller', ({ logger }) => buildFunctionController({ client, logger, watchNamespace: namespace, configNamespace: namespace }), { client });
}
