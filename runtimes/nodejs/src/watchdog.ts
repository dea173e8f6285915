/**
 * The runaway guard of the Node.js runtime (runtimes/README.md, "Runaway functions": a function
 * stuck in synchronous code still gets the 408 at its timeout, and the runtime serves the next call
 * within seconds).
 *
 * JavaScript cannot pre-empt a loop on its own thread, so the HTTP server and the function run in a
 * worker thread (runtime-worker.ts) and the main thread supervises it (supervisor.ts). They share
 * one `SharedArrayBuffer`, the board:
 * - a heartbeat the worker's event loop writes every `HEARTBEAT_MS`;
 * - one slot per running invocation: its socket's file descriptor, its deadline, its method (as a
 *   metrics slot, so the supervisor counts the timeouts it answers) and whether the response head
 *   went out.
 * When the heartbeat is stale and every running invocation is past its deadline (`runaway`), the
 * main thread writes the 408 itself on those sockets (threads share file descriptors), terminates the
 * worker (V8 stops any JavaScript, loops included) and starts a new one. The request path pays for a
 * few stores into the board per invocation.
 *
 * Times on the board are `performance.timeOrigin + performance.now()`: monotonic within a thread and
 * comparable across threads (unlike `Date.now()`, which jumps with the wall clock).
 */

/** How often the worker's event loop writes the heartbeat. */
export const HEARTBEAT_MS = 100;
/** A heartbeat older than this means the worker's event loop is blocked. */
export const STALL_MS = 500;
/** Running invocations the board tracks at once; more run unguarded (no 408 from the main thread). */
export const BOARD_SLOTS = 4096;

const HEARTBEAT = 0;
const HEADER = 1;
const FIELDS = 4;
const FD = 0;
const DEADLINE = 1;
const STATE = 2;
const METHOD = 3;
const FREE = 0;
const RUNNING = 1;
const HEAD_SENT = 2;

/** Wall-clock-free milliseconds shared by the threads of this process. */
export function boardNow(): number {
  return performance.timeOrigin + performance.now();
}

/** A new board for `slots` invocations. */
export function createBoard(slots = BOARD_SLOTS): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer((HEADER + slots * FIELDS) * Float64Array.BYTES_PER_ELEMENT);
  new Float64Array(buffer)[HEARTBEAT] = boardNow();
  return buffer;
}

/** The worker's side: publishes the heartbeat and the running invocations. */
export class InvocationBoard {
  readonly #f: Float64Array;
  readonly #free: number[] = [];

  constructor(buffer: SharedArrayBuffer) {
    this.#f = new Float64Array(buffer);
    const slots = (this.#f.length - HEADER) / FIELDS;
    // A stack of free slots, lowest on top, so the main thread's scan stays short.
    for (let i = slots - 1; i >= 0; i--) {
      this.#f[HEADER + i * FIELDS + STATE] = FREE;
      this.#free.push(i);
    }
  }

  beat(now = boardNow()): void {
    this.#f[HEARTBEAT] = now;
  }

  /** Publishes a running invocation; -1 when the board is full (that invocation is not guarded). */
  add(fd: number, deadline: number, method: number): number {
    const slot = this.#free.pop();
    if (slot === undefined) return -1;
    const at = HEADER + slot * FIELDS;
    this.#f[at + FD] = fd;
    this.#f[at + DEADLINE] = deadline;
    this.#f[at + METHOD] = method;
    // The state goes last: the main thread reads a slot only once it is RUNNING.
    this.#f[at + STATE] = RUNNING;
    return slot;
  }

  /** The response head went out (a 408 can no longer be written on that socket). */
  headSent(slot: number): void {
    this.#f[HEADER + slot * FIELDS + STATE] = HEAD_SENT;
  }

  remove(slot: number): void {
    this.#f[HEADER + slot * FIELDS + STATE] = FREE;
    this.#free.push(slot);
  }
}

export interface RunningInvocation {
  /** The socket's file descriptor; -1 when unknown (TLS). */
  fd: number;
  deadline: number;
  /** `FunctionMetrics.methodSlot` of its method. */
  method: number;
  headSent: boolean;
}

export interface BoardSnapshot {
  heartbeat: number;
  running: RunningInvocation[];
}

/** The main thread's read of the board. */
export function readBoard(buffer: SharedArrayBuffer): BoardSnapshot {
  const f = new Float64Array(buffer);
  const running: RunningInvocation[] = [];
  for (let at = HEADER; at < f.length; at += FIELDS) {
    const state = f[at + STATE];
    if (state === FREE) continue;
    running.push({ fd: f[at + FD] ?? -1, deadline: f[at + DEADLINE] ?? 0, method: f[at + METHOD] ?? -1, headSent: state === HEAD_SENT });
  }
  return { heartbeat: f[HEARTBEAT] ?? 0, running };
}

/**
 * Whether the worker must be replaced: its event loop has not beaten for `STALL_MS` and either every
 * running invocation is past its deadline (so whatever blocks the loop belongs to an invocation that
 * would answer 408 anyway: an invocation still within its time is never cut short), or nothing is
 * running and the loop has been blocked for longer than any invocation may take (runaway code left
 * behind by an invocation that already answered).
 */
export function runaway(board: BoardSnapshot, now: number, timeoutMs: number): boolean {
  const stalled = now - board.heartbeat;
  if (stalled < STALL_MS) return false;
  if (board.running.length === 0) return stalled >= timeoutMs + STALL_MS;
  return board.running.every((r) => now >= r.deadline);
}

/** The answer the main thread writes on the socket of an invocation cut short. */
export const TIMEOUT_RESPONSE = (() => {
  const body = 'Timeout while processing the function';
  return Buffer.from(
    `HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
})();
