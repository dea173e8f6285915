/**
 * The local node agent process: `node test/stack/dist/agent/main.js --run-dir <stack run dir> --port <kubelet port>`.
 * Started by `npm run stack -- up` inside the stack's network namespace.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { KubeClient } from '@kubeless/controller';
import { createLogger } from '@kubeless/observability';
import { readStackEnv } from '../env.js';
import { NodeAgent } from './agent.js';
import { startLogServer } from './log-server.js';

const { values } = parseArgs({ options: { 'run-dir': { type: 'string' }, port: { type: 'string', default: '10250' }, 'config-namespace': { type: 'string', default: 'kubeless' } } });
const runDir = path.resolve(values['run-dir'] ?? '.stack');
const env = readStackEnv(runDir);
const logger = createLogger({ name: 'node-agent', level: process.env.LOG_LEVEL ?? 'info' });
const api = new URL(env.KUBE_API_SERVER);
const pki = path.join(runDir, 'pki');
const client = KubeClient.fromKubeconfig(env.KUBECONFIG, { userAgent: 'kubeless-node-agent' });
const port = Number(values.port);
const agent = new NodeAgent({
  client,
  runDir,
  logger,
  apiHost: api.hostname,
  apiPort: Number(api.port),
  caFile: path.join(pki, 'ca.crt'),
  kubeletPort: port,
  configNamespace: values['config-namespace'],
});
const server = await startLogServer({
  port,
  certFile: path.join(pki, 'kubelet.crt'),
  keyFile: path.join(pki, 'kubelet.key'),
  logFile: (ns, pod, container) => agent.logFile(ns, pod, container),
});
await agent.start();
logger.info({ port }, 'node agent ready');

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void agent
      .stop()
      .then(() => {
        server.close();
        client.close();
      })
      .finally(() => process.exit(0));
  });
}
