/** The real `kubeless` binary as a child process against the stack (in @kubeless/stack), and the controllers beside it. */
import { spawnController, type ControllerProcess } from '@kubeless/stack';

export { kubeless, kubelessOk, KUBELESS_BIN as BIN, type Run, type RunOptions } from '@kubeless/stack';

/** The function controller as its own process on its ServiceAccount, watching `namespace` (kubeless-config read from there too). */
export const startFunctionController = (namespace: string): ControllerProcess => spawnController('function-controller', { watchNamespace: namespace, podNamespace: namespace });

/** The kafka-trigger as its own process on its ServiceAccount, sending straight to EndpointSlice endpoints (no cluster DNS here). */
export const startKafkaTrigger = (namespace: string): ControllerProcess =>
  spawnController('kafka-trigger', { watchNamespace: namespace, podNamespace: namespace, env: { STATUS_INTERVAL: '1s' } });
