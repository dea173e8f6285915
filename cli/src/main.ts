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
/** The package's version, written into the single-file bundle when it is built (bundle.mjs, esbuild `define`). */
declare const KUBELESS_CLI_VERSION: string | undefined;
// The tsc build (bin/kubeless.js in a checkout) reads it from package.json beside dist/.
const version = typeof KUBELESS_CLI_VERSION === 'string' ? KUBELESS_CLI_VERSION : (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const app = createApp({ kubeconfig: config.KUBECONFIG, kafkaBrokers: config.KAFKA_BROKERS, configNamespace: config.KUBELESS_NAMESPACE }, process.stdout, process.stderr, version);

try {
  process.exitCode = await run(app, process.argv);
} finally {
  app.close();
}
