/**
 * The worker thread of the Node.js runtime: the HTTP server and the function (runtime-server.ts),
 * started by the supervisor (supervisor.ts) with `workerData: {config, board}`. It beats the board's
 * heartbeat every `HEARTBEAT_MS` and publishes running invocations on it (watchdog.ts).
 *
 * Messages to the supervisor: `{type: 'listening', url}` once serving, `{type: 'failed', message}`
 * when the function cannot be loaded or the port bound, `{type: 'drained', idle}` after a drain.
 * From the supervisor: `{type: 'drain'}` (graceful shutdown).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { RuntimeConfig } from './config.js';
import { startRuntimeServer, type RuntimeServer } from './runtime-server.js';
import { HEARTBEAT_MS, InvocationBoard } from './watchdog.js';

export interface WorkerData {
  config: RuntimeConfig;
  board: SharedArrayBuffer;
  /** `createMetricsStore()`: the metrics, shared by every worker of the process. */
  metrics: SharedArrayBuffer;
}

export type WorkerMessage = { type: 'listening'; url: string } | { type: 'failed'; message: string } | { type: 'drained'; idle: boolean };

const port = parentPort;
if (port === null) throw new Error('runtime-worker.js runs as a worker thread of server.js');
const data = workerData as WorkerData;
const board = new InvocationBoard(data.board);

function post(message: WorkerMessage): void {
  port?.postMessage(message);
}

const io = {
  stdout: (chunk: string | Uint8Array): void => {
    process.stdout.write(chunk);
  },
  stderr: (text: string): void => {
    process.stderr.write(text);
  },
};

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

let started: RuntimeServer | undefined;

// A stray rejected promise in a function must not take down every other invocation in flight.
process.on('unhandledRejection', (reason) => {
  io.stderr(`${new Date().toISOString()} unhandled promise rejection in the function: ${describe(reason)}\n`);
});
// Nor a throw from a timer or an event handler: it fails the running invocation when there is
// exactly one (it must be the culprit); otherwise it is only logged.
process.on('uncaughtException', (err) => {
  const failed = started?.runtime.failRunning(err) ?? false;
  if (!failed) io.stderr(`${new Date().toISOString()} uncaught exception in the function: ${describe(err)}\n`);
});

board.beat();
startRuntimeServer(data.config, io, board, data.metrics).then(
  (server) => {
    started = server;
    setInterval(() => {
      board.beat();
    }, HEARTBEAT_MS).unref();
    port.on('message', (message: { type: string }) => {
      if (message.type !== 'drain') return;
      void server.shutdown().then((idle) => {
        post({ type: 'drained', idle });
      });
    });
    post({ type: 'listening', url: server.url });
  },
  (err: unknown) => {
    post({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
  },
);
