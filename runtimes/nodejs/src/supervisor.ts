/**
 * The main thread of the Node.js runtime: runs the server and the function in a worker thread
 * (runtime-worker.ts) and guards it (watchdog.ts). Every `HEARTBEAT_MS` it reads the board; when
 * `runaway` holds, it writes the 408 on the socket of every running invocation whose head has not
 * gone out (plain HTTP only: over TLS that connection is closed instead), terminates the worker and
 * starts a new one on the same port. A worker that exits on its own (`process.exit()` in a function,
 * out of memory) is replaced too. Requests in flight in a replaced worker lose their connection
 * (a retriable error for a trigger); idle keep-alive connections are closed.
 */
import { writeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import type { RuntimeConfig } from './config.js';
import { createMetricsStore, FunctionMetrics } from './metrics.js';
import type { WorkerData, WorkerMessage } from './runtime-worker.js';
import { boardNow, createBoard, HEARTBEAT_MS, readBoard, runaway, TIMEOUT_RESPONSE, type RunningInvocation } from './watchdog.js';

export interface SupervisorIo {
  stdout: (data: string | Uint8Array) => void;
  stderr: (text: string) => void;
}

/** How long a terminated worker may take to stop (a thread stuck in a system call cannot be stopped). */
const TERMINATE_TIMEOUT_MS = 5000;

/** The worker could not start (function load failure, port in use); the runtime exits 1. */
export class WorkerStartError extends Error {
  override readonly name = 'WorkerStartError';
  readonly code = 'KUBELESS_RUNTIME_START_FAILED';
  readonly retriable = false;
}

interface Running {
  worker: Worker;
  /** Its own board: a replacement never shares one with the worker it replaces. */
  board: SharedArrayBuffer;
  /** Resolves once the worker exited and its stdout and stderr were copied out. */
  gone: Promise<void>;
  /** Set when the supervisor itself ends it (no restart on exit). */
  ending: boolean;
}

function ended(stream: Readable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.readableEnded) resolve();
    else stream.once('end', resolve).once('close', resolve);
  });
}

export class Supervisor {
  readonly #config: RuntimeConfig;
  readonly #io: SupervisorIo;
  readonly #timeoutMs: number;
  readonly #metrics = createMetricsStore();
  #current: Running | undefined;
  #timer: NodeJS.Timeout | undefined;
  #draining = false;
  #restarting = false;
  /** Called when the runtime cannot go on (a replacement worker failed); the process exits 1. */
  onFatal: (message: string) => void = () => undefined;

  constructor(config: RuntimeConfig, io: SupervisorIo) {
    this.#config = config;
    this.#io = io;
    this.#timeoutMs = Math.round(config.timeoutSeconds * 1000);
  }

  /** Starts the first worker; resolves with the URL it serves, rejects with `WorkerStartError`. */
  async start(): Promise<string> {
    const url = await this.#spawn();
    // A replacement binds the port the first one got (FUNC_PORT=0 picks one only once).
    this.#config.port = Number(new URL(url).port);
    this.#timer = setInterval(() => {
      this.#check();
    }, HEARTBEAT_MS);
    return url;
  }

  /**
   * Graceful stop: the worker stops accepting and lets in-flight requests finish (each bounded by
   * FUNC_TIMEOUT; a runaway among them still gets its 408 from the guard). Resolves true when
   * everything finished in time.
   */
  async drain(): Promise<boolean> {
    this.#draining = true;
    const current = this.#current;
    if (current === undefined) return true;
    const idle = await new Promise<boolean>((resolve) => {
      const onMessage = (message: WorkerMessage): void => {
        if (message.type === 'drained') resolve(message.idle);
      };
      current.worker.on('message', onMessage);
      // Replaced or gone while draining: nothing is left in flight.
      void current.gone.then(() => {
        resolve(true);
      });
      current.worker.postMessage({ type: 'drain' });
    });
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#stop(current);
    return idle;
  }

  /** A new worker; resolves with its URL once it serves, rejects with `WorkerStartError`. */
  #spawn(): Promise<string> {
    const data: WorkerData = { config: this.#config, board: createBoard(), metrics: this.#metrics };
    const worker = new Worker(new URL('./runtime-worker.js', import.meta.url), { workerData: data, stdout: true, stderr: true });
    // Copied as they come: the main thread's stdout and stderr writes are synchronous (files, pipes).
    worker.stdout.on('data', (chunk: Buffer) => {
      this.#io.stdout(chunk);
    });
    worker.stderr.on('data', (chunk: Buffer) => {
      this.#io.stderr(chunk.toString());
    });
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    const running: Running = { worker, board: data.board, gone: Promise.all([exited, ended(worker.stdout), ended(worker.stderr)]).then(() => undefined), ending: false };
    return new Promise<string>((resolve, reject) => {
      let listening = false;
      worker.on('message', (message: WorkerMessage) => {
        if (message.type === 'listening') {
          listening = true;
          this.#current = running;
          resolve(message.url);
        } else if (message.type === 'failed') {
          running.ending = true;
          void worker.terminate();
          reject(new WorkerStartError(message.message));
        }
      });
      worker.on('error', (err) => {
        // An error the worker did not handle: it is gone.
        this.#log(`runtime worker failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      });
      void exited.then((code) => {
        if (!listening) {
          reject(new WorkerStartError(`runtime worker exited with code ${code} before listening`));
          return;
        }
        if (running.ending || this.#draining) return;
        this.#log(`runtime worker exited with code ${code}: starting a new one`);
        void this.#replace(undefined);
      });
    });
  }

  #check(): void {
    const current = this.#current;
    if (current === undefined || this.#restarting) return;
    const now = boardNow();
    const board = readBoard(current.board);
    if (!runaway(board, now, this.#timeoutMs)) return;
    let answered = 0;
    for (const inv of board.running) {
      if (inv.fd < 0 || inv.headSent || now < inv.deadline) continue;
      try {
        // The worker is blocked: nothing else writes on this socket now.
        writeSync(inv.fd, TIMEOUT_RESPONSE);
        answered++;
      } catch {
        // The client is gone, or its socket buffer is full: it sees the connection close.
      }
    }
    this.#log(
      `the function blocked the event loop past its timeout (${this.#config.timeoutSeconds}s): answered 408 to ${answered} of ${board.running.length} running invocation(s), replacing the runtime worker`,
    );
    void this.#replace(current, board.running, now);
  }

  /**
   * Ends `old` (undefined: it is gone already), then starts a new worker on the same port; a failure
   * is fatal. Ending first frees the core the runaway code spins on for the new worker's start;
   * connections made meanwhile (about 150 ms) are refused, a retriable error for a trigger.
   */
  async #replace(old: Running | undefined, cut: RunningInvocation[] = [], at = 0): Promise<void> {
    this.#restarting = true;
    const began = performance.now();
    try {
      if (old !== undefined) await this.#stop(old);
      // Counted once the worker is stopped: the store has one writer at a time.
      if (cut.length > 0) {
        const metrics = new FunctionMetrics(this.#metrics);
        for (const inv of cut) metrics.recordSlot(inv.method, (at - inv.deadline + this.#timeoutMs) / 1000, true);
      }
      this.#current = undefined;
      if (this.#draining) return;
      await this.#spawn();
      this.#log(`runtime worker replaced in ${Math.round(performance.now() - began)}ms`);
    } catch (err) {
      this.onFatal(`could not replace the runtime worker: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.#restarting = false;
    }
  }

  async #stop(running: Running): Promise<void> {
    running.ending = true;
    const timer = setTimeout(() => {
      this.onFatal(`the runtime worker did not stop within ${TERMINATE_TIMEOUT_MS}ms (stuck in a system call?)`);
    }, TERMINATE_TIMEOUT_MS);
    await running.worker.terminate();
    await running.gone;
    clearTimeout(timer);
  }

  #log(message: string): void {
    this.#io.stderr(`${new Date().toISOString()} ${message}\n`);
  }
}
