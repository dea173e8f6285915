/**
 * The request path of the runtime (runtimes/README.md, "The runtime contract"):
 * - `GET /healthz` answers 200 `OK`; `GET /metrics` answers the Prometheus text;
 * - every other request invokes the function with `(event, context)`;
 * - the return value becomes the response: a string is sent as `text/plain; charset=utf-8`, a
 *   Buffer as `application/octet-stream`, `undefined` as an empty body, anything else (objects,
 *   arrays, null, numbers) as JSON; `context.respond(body, {status, headers})` adds a status code
 *   and headers; a function that ended `event.extensions.response` itself gets nothing more written;
 * - a throw or a rejection answers 500 `Internal Server Error` (the stack goes to stderr);
 * - an invocation that has not settled after FUNC_TIMEOUT answers 408 and only that invocation
 *   fails: the process keeps serving. A function that never yields blocks this event loop, so this
 *   timer cannot answer: with a `board` the main thread sees it (watchdog.ts), answers the 408 and
 *   replaces this worker;
 * - a body over the limit answers 413, invalid JSON or an invalid CloudEvent 400.
 */
import { performance } from 'node:perf_hooks';
import type { AccessLog } from './access-log.js';
import { decodeBody, InvalidBodyError, mediaType } from './body.js';
import { InvalidCloudEventError, parseBinaryCloudEvent, parseStructuredCloudEvent, STRUCTURED_MEDIA_TYPE } from './cloudevents.js';
import { FunctionResponse, type FunctionContext, type FunctionEvent, type FunctionHandler } from './function-types.js';
import type { KubelessRequest, KubelessResponse } from './http-compat.js';
import { METRICS_CONTENT_TYPE, type FunctionMetrics } from './metrics.js';
import type { InvocationBoard } from './watchdog.js';

export interface FunctionRuntimeOptions {
  handler: FunctionHandler;
  context: FunctionContext;
  timeoutMs: number;
  bodyLimitBytes: number;
  metrics: FunctionMetrics;
  accessLog: AccessLog;
  /** Receives function errors and timeouts (the server sends them to stderr). */
  reportError: (message: string) => void;
  /** Where running invocations are published for the runaway guard (watchdog.ts); none: unguarded. */
  board?: InvocationBoard | undefined;
}

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';
const EMPTY = Buffer.alloc(0);
/**
 * Past the body limit, up to this many more bytes are read and thrown away before the 413 is sent,
 * so a client still writing its body reads the answer instead of a reset connection. A larger
 * body gets the 413 at once and the connection closed.
 */
const DISCARD_LIMIT = 8 * 1024 * 1024;

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** JSON.stringify answers undefined for undefined, functions and symbols, whatever its type says. */
function toJson(value: unknown): string | undefined {
  return JSON.stringify(value);
}

function describeError(err: unknown): string {
  return err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
}

const SOCKET_FD = Symbol('kubeless.socketFd');

/**
 * The file descriptor of a plain TCP socket; -1 for TLS (no 408 can be written from outside) or
 * unknown. Remembered on the socket: the handle's `fd` getter calls into libuv, and keep-alive
 * connections carry many invocations.
 */
function socketFd(socket: object): number {
  const s = socket as { [SOCKET_FD]?: number; _handle?: { fd?: unknown } };
  let fd = s[SOCKET_FD];
  if (fd === undefined) {
    const raw = s._handle?.fd;
    fd = typeof raw === 'number' && raw >= 0 ? raw : -1;
    s[SOCKET_FD] = fd;
  }
  return fd;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * One request on its way through the runtime. It is also the node of the deadline list: every
 * invocation has the same timeout, so the list is ordered by deadline and one timer serves all.
 */
class Invocation {
  prev: Invocation | undefined = undefined;
  next: Invocation | undefined = undefined;
  deadline = 0;
  /** Its slot on the runaway guard's board, -1 when none. */
  slot = -1;
  /** When the function was called (0 before). */
  started = 0;
  settled = false;
  concluded = false;
  /** The body so far: most bodies arrive in one chunk, kept without an array. */
  first: Buffer | undefined = undefined;
  more: Buffer[] | undefined = undefined;
  size = 0;
  over = false;

  constructor(
    readonly req: KubelessRequest,
    readonly res: KubelessResponse,
    readonly method: string,
    readonly path: string,
    readonly start: number,
  ) {}
}

export class FunctionRuntime {
  readonly #o: FunctionRuntimeOptions;
  #inFlight = 0;
  #draining = false;
  #idleWaiters: (() => void)[] = [];
  #head: Invocation | undefined;
  #tail: Invocation | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: FunctionRuntimeOptions) {
    this.#o = options;
  }

  /** Requests being read or run by the function now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** From now on every response carries `Connection: close`. */
  startDraining(): void {
    this.#draining = true;
  }

  /** Resolves true once no request is in flight, or false when `timeoutMs` passes first. */
  whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.#inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        resolve(false);
      }, timeoutMs);
      this.#idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /**
   * An exception nothing caught (a throw in a timer or an event handler of the function): when one
   * invocation is running it must be that one's, so it fails with 500 and true is returned; with
   * several the culprit is unknown and they go on (each still ends by its timeout).
   */
  failRunning(err: unknown): boolean {
    const inv = this.#head;
    if (inv === undefined || inv !== this.#tail) return false;
    this.#failed(inv, err);
    return true;
  }

  /** The server's request listener. */
  readonly handle = (req: KubelessRequest, res: KubelessResponse): void => {
    const start = performance.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    if (method === 'GET' && path === '/healthz') {
      this.#send(res, 200, TEXT, 'OK');
      this.#o.accessLog.request(req.socket.remoteAddress, method, path, 200, performance.now() - start);
      return;
    }
    if (method === 'GET' && path === '/metrics') {
      this.#send(res, 200, METRICS_CONTENT_TYPE, this.#o.metrics.render());
      this.#o.accessLog.request(req.socket.remoteAddress, method, path, 200, performance.now() - start);
      return;
    }
    this.#inFlight++;
    const inv = new Invocation(req, res, method, path, start);
    const headers = req.headers;
    const length = headers['content-length'];
    if (length === undefined && headers['transfer-encoding'] === undefined) {
      this.#invoke(inv, EMPTY);
      return;
    }
    const limit = this.#o.bodyLimitBytes;
    const declared = length === undefined ? undefined : Number(length);
    if (declared !== undefined && declared > limit + DISCARD_LIMIT) {
      this.#tooLarge(res, true);
      req.resume();
      this.#conclude(inv);
      return;
    }
    inv.over = declared !== undefined && declared > limit;
    // Closures, not a request-to-invocation WeakMap: ephemeron tables make every GC pay for them.
    req.on('data', (chunk: Buffer) => {
      this.#data(inv, chunk);
    });
    req.on('end', () => {
      this.#end(inv);
    });
    req.on('error', () => {
      // The client went away while sending: there is no one to answer.
      this.#conclude(inv);
    });
  };

  #data(inv: Invocation, chunk: Buffer): void {
    const limit = this.#o.bodyLimitBytes;
    inv.size += chunk.length;
    if (inv.over) {
      if (inv.size > limit + DISCARD_LIMIT && !inv.res.headersSent) {
        this.#tooLarge(inv.res, true);
        this.#conclude(inv);
      }
      return;
    }
    if (inv.size > limit) {
      inv.over = true;
      inv.first = undefined;
      inv.more = undefined;
      return;
    }
    if (inv.first === undefined) inv.first = chunk;
    else (inv.more ??= []).push(chunk);
  }

  #end(inv: Invocation): void {
    if (inv.over) {
      if (!inv.res.headersSent) this.#tooLarge(inv.res, false);
      this.#conclude(inv);
      return;
    }
    const { first, more } = inv;
    inv.first = undefined;
    inv.more = undefined;
    this.#invoke(inv, more === undefined ? (first ?? EMPTY) : Buffer.concat([first ?? EMPTY, ...more], inv.size));
  }

  /** Ends the request's bookkeeping once: access log line, in-flight count, drain waiters. */
  #conclude(inv: Invocation, now = performance.now()): void {
    if (inv.concluded) return;
    inv.concluded = true;
    this.#o.accessLog.request(inv.req.socket.remoteAddress, inv.method, inv.path, inv.res.statusCode, now - inv.start);
    if (--this.#inFlight === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  #invoke(inv: Invocation, body: Buffer): void {
    const o = this.#o;
    const { req, res } = inv;
    let event: FunctionEvent;
    try {
      event = this.#buildEvent(req, res, body);
    } catch (err) {
      if (err instanceof InvalidBodyError || err instanceof InvalidCloudEventError) {
        this.#send(res, 400, TEXT, err.message);
      } else {
        o.reportError(`request could not be turned into an event: ${describeError(err)}`);
        this.#send(res, 500, TEXT, 'Internal Server Error');
      }
      this.#conclude(inv);
      return;
    }
    inv.started = performance.now();
    this.#track(inv);
    let result: unknown;
    try {
      result = o.handler(event, o.context);
    } catch (err) {
      this.#failed(inv, err);
      return;
    }
    if (isPromiseLike(result)) {
      void result.then(
        (value) => {
          this.#succeeded(inv, value);
        },
        (err: unknown) => {
          this.#failed(inv, err);
        },
      );
    } else {
      this.#succeeded(inv, result);
    }
  }

  #succeeded(inv: Invocation, value: unknown): void {
    if (inv.settled) return;
    try {
      this.#writeResult(inv.res, value);
    } catch (err) {
      // An unserialisable value (a cycle, a BigInt) or a bad header from respond().
      this.#failed(inv, err);
      return;
    }
    inv.settled = true;
    this.#untrack(inv);
    const now = performance.now();
    this.#o.metrics.record(inv.method, (now - inv.started) / 1000, false);
    this.#conclude(inv, now);
  }

  #failed(inv: Invocation, err: unknown): void {
    if (inv.settled) return;
    inv.settled = true;
    this.#untrack(inv);
    const { res } = inv;
    this.#o.metrics.record(inv.method, (performance.now() - inv.started) / 1000, true);
    this.#o.reportError(`function failed: ${describeError(err)}`);
    if (!res.headersSent) this.#send(res, 500, TEXT, 'Internal Server Error');
    else if (!res.writableEnded) res.destroy();
    this.#conclude(inv);
  }

  #timedOut(inv: Invocation): void {
    if (inv.settled) return;
    inv.settled = true;
    const { res, method } = inv;
    const seconds = (performance.now() - inv.started) / 1000;
    if (!res.writableEnded) {
      this.#o.metrics.record(method, seconds, true);
      this.#o.reportError(`function timed out after ${this.#o.context.timeout}s: ${method} ${inv.path}`);
      if (!res.headersSent) this.#send(res, 408, TEXT, 'Timeout while processing the function');
      else res.destroy();
    } else {
      // It answered through extensions.response and only its promise is still pending.
      this.#o.metrics.record(method, seconds, false);
    }
    this.#conclude(inv);
  }

  /** Appends to the deadline list (deadlines grow with start times) and arms the timer if idle. */
  #track(inv: Invocation): void {
    inv.deadline = inv.started + this.#o.timeoutMs;
    inv.prev = this.#tail;
    if (this.#tail === undefined) this.#head = inv;
    else this.#tail.next = inv;
    this.#tail = inv;
    if (this.#timer === undefined) this.#timer = this.#arm(inv.deadline);
    const board = this.#o.board;
    if (board !== undefined) {
      inv.slot = board.add(socketFd(inv.req.socket), performance.timeOrigin + inv.deadline, this.#o.metrics.methodSlot(inv.method));
      if (inv.slot !== -1) {
        inv.res.headSlot = inv.slot;
        inv.res.headWatch = board;
      }
    }
  }

  #untrack(inv: Invocation): void {
    if (inv.slot !== -1) {
      this.#o.board?.remove(inv.slot);
      inv.slot = -1;
      inv.res.headWatch = undefined;
    }
    // A settled invocation that is not in the list (never tracked, or already expired) has no links.
    if (inv.prev === undefined && this.#head !== inv) return;
    if (inv.prev === undefined) this.#head = inv.next;
    else inv.prev.next = inv.next;
    if (inv.next === undefined) this.#tail = inv.prev;
    else inv.next.prev = inv.prev;
    inv.prev = undefined;
    inv.next = undefined;
  }

  #arm(at: number): NodeJS.Timeout {
    // +1: a timer never fires early, but performance.now() and the timer clock round differently.
    return setTimeout(() => {
      this.#expire();
    }, Math.max(0, at - performance.now()) + 1);
  }

  #expire(): void {
    this.#timer = undefined;
    const now = performance.now();
    for (let inv = this.#head; inv !== undefined && inv.deadline <= now; inv = this.#head) {
      this.#untrack(inv);
      this.#timedOut(inv);
    }
    if (this.#head !== undefined) this.#timer = this.#arm(this.#head.deadline);
  }

  #buildEvent(req: KubelessRequest, res: KubelessResponse, body: Buffer): FunctionEvent {
    const h = req.headers;
    req.body = body;
    const media = mediaType(h['content-type']);
    let data: unknown;
    let cloudevent = parseBinaryCloudEvent(h);
    if (cloudevent === undefined && media === STRUCTURED_MEDIA_TYPE) {
      const structured = parseStructuredCloudEvent(body);
      cloudevent = structured.attributes;
      data = structured.data;
    } else {
      data = decodeBody(body, media);
    }
    const event: FunctionEvent = {
      data,
      'event-id': headerValue(h['event-id']),
      'event-type': headerValue(h['event-type']),
      'event-time': headerValue(h['event-time']),
      'event-namespace': headerValue(h['event-namespace']),
      extensions: { request: req, response: res },
    };
    if (cloudevent !== undefined) {
      // The kubeless headers win when both are present (the triggers send both, with the same values).
      event['event-id'] ??= cloudevent.id;
      event['event-type'] ??= cloudevent.type;
      if (typeof cloudevent.time === 'string') event['event-time'] ??= cloudevent.time;
      event['event-namespace'] ??= cloudevent.source;
      event.extensions.cloudevent = cloudevent;
    }
    return event;
  }

  #writeResult(res: KubelessResponse, value: unknown): void {
    // The function answered through extensions.response: nothing more to write.
    if (res.writableEnded) return;
    let body = value;
    if (value instanceof FunctionResponse) {
      body = value.body;
      if (!res.headersSent) {
        if (value.status !== undefined) res.statusCode = value.status;
        if (value.headers !== undefined) {
          for (const [name, v] of Object.entries(value.headers)) res.setHeader(name, v);
        }
      }
    }
    let payload: string | Uint8Array | undefined;
    let type: string | undefined;
    if (body === undefined) {
      payload = undefined;
    } else if (typeof body === 'string') {
      payload = body;
      type = TEXT;
    } else if (body instanceof Uint8Array) {
      payload = body;
      type = 'application/octet-stream';
    } else {
      payload = toJson(body);
      if (payload !== undefined) type = JSON_TYPE;
    }
    if (!res.headersSent) {
      if (type !== undefined && !res.hasHeader('content-type')) res.setHeader('content-type', type);
      if (this.#draining) res.setHeader('connection', 'close');
    }
    res.end(payload);
  }

  #send(res: KubelessResponse, status: number, type: string, body: string): void {
    res.statusCode = status;
    res.setHeader('content-type', type);
    if (this.#draining) res.setHeader('connection', 'close');
    res.end(body);
  }

  #tooLarge(res: KubelessResponse, close: boolean): void {
    if (close) res.setHeader('connection', 'close');
    this.#send(res, 413, TEXT, `Request body larger than ${this.#o.bodyLimitBytes} bytes`);
  }
}
