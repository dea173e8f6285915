/**
 * Entry point of the Node.js runtime: `node dist/server.js`. Reads the environment (config.ts),
 * loads `<KUBELESS_INSTALL_VOLUME>/<MOD_NAME>.js`, serves on FUNC_HOST:FUNC_PORT and, on SIGTERM or
 * SIGINT, drains in-flight invocations and exits 0. A bad environment or a function that cannot be
 * loaded exits 1 with the reason on stderr.
 */
import { ConfigError } from '@kubeless/config';
import { loadRuntimeConfig } from './config.js';
import { startRuntimeServer } from './runtime-server.js';

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

// A stray rejected promise in a function must not take down every other invocation in flight.
process.on('unhandledRejection', (reason) => {
  io.stderr(`${new Date().toISOString()} unhandled promise rejection in the function: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}\n`);
});

async function main(): Promise<void> {
  const config = loadRuntimeConfig();
  const started = await startRuntimeServer(config, io);
  const log = started.accessLog;
  log.line(`kubeless runtime listening on ${started.url} (function ${config.moduleName}.${config.functionName}, timeout ${config.timeoutSeconds}s)`);
  log.flush();
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.line(`received ${signal}: draining ${started.runtime.inFlight} request(s) in flight`);
    log.flush();
    void started.shutdown().then((idle) => {
      log.line(idle ? 'drained, exiting' : 'drain timed out, exiting');
      log.flush();
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch(fail);
