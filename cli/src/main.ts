/**
 * The `kubeless` binary: reads the environment once, runs one command, prints any error as one
 * line on stderr and exits non-zero.
 */
import { readFileSync } from 'node:fs';
import { env, loadConfig } from '@kubeless/config';
import { createApp } from './app.js';
import { errorMessage } from './errors.js';
import { buildProgram } from './program.js';

const config = loadConfig({
  KUBECONFIG: env.string().optional(),
  KAFKA_BROKERS: env.string().optional(),
  /** Namespace of kubeless-config, as for the function controller; default `kubeless`. */
  KUBELESS_NAMESPACE: env.string().optional(),
});
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
const app = createApp({ kubeconfig: config.KUBECONFIG, kafkaBrokers: config.KAFKA_BROKERS, configNamespace: config.KUBELESS_NAMESPACE }, process.stdout, process.stderr, pkg.version);

try {
  await buildProgram(app).parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`Error: ${errorMessage(err)}\n`);
  process.exitCode = 1;
} finally {
  app.close();
}
