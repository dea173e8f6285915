/**
 * The `kubeless` binary: reads the environment once, runs one command, prints any error as one
 * line on stderr and exits with the code of `EXIT` (errors.ts) that names what went wrong.
 */
import { readFileSync } from 'node:fs';
import { env, loadConfig } from '@kubeless/config';
import { createApp } from './app.js';
import { run } from './program.js';

const config = loadConfig({
  KUBECONFIG: env.string().optional(),
  KAFKA_BROKERS: env.string().optional(),
  /** Namespace of kubeless-config, as for the function controller; default `kubeless`. */
  KUBELESS_NAMESPACE: env.string().optional(),
});
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
const app = createApp({ kubeconfig: config.KUBECONFIG, kafkaBrokers: config.KAFKA_BROKERS, configNamespace: config.KUBELESS_NAMESPACE }, process.stdout, process.stderr, pkg.version);

try {
  process.exitCode = await run(app, process.argv);
} finally {
  app.close();
}
