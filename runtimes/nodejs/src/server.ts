/**
 * Entry point of the Node.js runtime: `node dist/server.js`. Reads the environment (config.ts) and
 * starts the supervisor (supervisor.ts), which runs the server and the function in a worker thread
 * (runtime-worker.ts) and replaces it when a function blocks its event loop past the timeout. On
 * SIGTERM or SIGINT it drains in-flight invocations and exits 0. A bad environment or a function
 * that cannot be loaded exits 1 with the reason on stderr.
 */
import { ConfigError } from '@kubeless/config';
import { loadRuntimeConfig } from './config.js';
import { Supervisor } from './supervisor.js';

const io = {
  stdout: (data: string | Uint8Array): void => {
    process.stdout.write(data);
  },
  stderr: (text: string): void => {
    process.stderr.write(text);
  },
};

function fail(err: unknown): never {
  const message = err instanceof ConfigError || !(err instanceof Error) ? String(err) : err.message;
  process.stderr.write(`kubeless runtime failed to start: ${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  const config = loadRuntimeConfig();
  for (const warning of config.warnings) io.stderr(`${new Date().toISOString()} warning: ${warning}\n`);
  const supervisor = new Supervisor(config, io);
  supervisor.onFatal = (message) => {
    io.stderr(`${new Date().toISOString()} kubeless runtime stopped: ${message}\n`);
    process.exit(1);
  };
  const url = await supervisor.start();
  io.stdout(`kubeless runtime listening on ${url} (function ${config.moduleName}.${config.functionName}, timeout ${config.timeoutSeconds}s)\n`);
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    io.stdout(`received ${signal}: draining the requests in flight\n`);
    void supervisor.drain().then((idle) => {
      io.stdout(idle ? 'drained, exiting\n' : 'drain timed out, exiting\n');
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch(fail);
