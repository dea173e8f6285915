import { createSecureContext } from 'node:tls';
import type { Logger } from '@kubeless/observability';
import { Agent, errors as undiciErrors, type Dispatcher } from 'undici';
import { isRetriableStatus, isSuccess, parseRetryAfter } from './classify.js';
import { DeliveryError } from './errors.js';
import type { HttpMessage } from './event.js';
import { Deadlines, InFlightEntry, SignalWatchers } from './inflight.js';
import { readTls, tlsStamp, type TlsFiles } from './tls.js';

export interface DeliveryClientOptions {
  /** Sent as `User-Agent`. */
  userAgent: string;
  /** mTLS material, reloaded when the files change. */
  tls?: TlsFiles | undefined;
  /** How often the TLS files are checked for a change. Default 30 s. */
  tlsReloadIntervalMs?: number;
  /** Idle keep-alive per connection. Default 30 s. */
  keepAliveTimeoutMs?: number;
  /** Connections per endpoint (origin); unlimited by default (the trigger's in-flight limit bounds them). */
  connectionsPerEndpoint?: number | undefined;
  /** Upper bound on an honoured `Retry-After`. Default 60 s. */
  retryAfterCapMs?: number;
  logger?: Logger;
}

export interface SendOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

export interface SendResult {
  status: number;
}

/** How `dispatch` reports one attempt: no error on a 2xx, else the DeliveryError; `status` is 0 when none came. */
export type SendCallback = (err: DeliveryError | undefined, status: number) => void;

/** How much of an error response is kept for the reason (dead-letter header, log). */
const ERROR_BODY_BYTES = 512;
/** undici's timers may fire this much before their delay; its backstop timeouts are set past ours by it. */
const UNDICI_TIMER_SLACK_MS = 1000;

/**
 * HTTP(S) to functions: one undici Agent, which keeps one keep-alive pool per endpoint. `send`
 * makes exactly one attempt and resolves on any 2xx; otherwise it throws a DeliveryError whose
 * `retriable` says whether to try again (docs/delivery.md#retries). With TLS files, the client presents the
 * certificate and verifies functions against the CA; when the files change the next requests use
 * a new Agent and the old one closes once its requests finish.
 */
export class DeliveryClient {
  readonly #o: DeliveryClientOptions;
  #agent: Agent;
  #stamp: string;
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #targets = new WeakMap<URL, { origin: string; path: string }>();
  readonly #inFlight = { deadlines: new Deadlines(), watchers: new SignalWatchers() };

  constructor(options: DeliveryClientOptions) {
    this.#o = options;
    this.#stamp = options.tls ? tlsStamp(options.tls) : '';
    this.#agent = this.#newAgent();
    if (options.tls) {
      this.#timer = setInterval(() => {
        this.#reloadIfChanged();
      }, options.tlsReloadIntervalMs ?? 30_000);
      this.#timer.unref();
    }
  }

  #newAgent(): Agent {
    const tls = this.#o.tls ? readTls(this.#o.tls) : {};
    // Throws now on a key that does not match its certificate (files caught mid-update), so a
    // reload keeps the previous identity instead of failing every handshake until the next tick.
    if (this.#o.tls) createSecureContext(tls);
    return new Agent({
      keepAliveTimeout: this.#o.keepAliveTimeoutMs ?? 30_000,
      connections: this.#o.connectionsPerEndpoint ?? null,
      connect: { ...tls },
    });
  }

  /** Checks the TLS files now (also done on a timer); true when a new identity was loaded. */
  reloadIfChanged(): boolean {
    return this.#reloadIfChanged();
  }

  #reloadIfChanged(): boolean {
    if (!this.#o.tls) return false;
    const stamp = tlsStamp(this.#o.tls);
    if (stamp === this.#stamp) return false;
    let next: Agent;
    try {
      next = this.#newAgent();
    } catch (err) {
      // Half-written files (cert without its new key): keep the old identity, try next tick.
      this.#o.logger?.warn({ err }, 'TLS files changed but could not be loaded; keeping the previous ones');
      return false;
    }
    const old = this.#agent;
    this.#agent = next;
    this.#stamp = stamp;
    this.#o.logger?.info('TLS files changed; new connections use them');
    void old.close().catch(() => undefined);
    return true;
  }

  /**
   * One attempt. The request goes through undici's `dispatch` with a small handler of ours (no
   * response stream, no AbortController, no listener per request): the reply's status decides, its
   * body is drained, and up to 512 bytes of an error body are kept for the reason.
   */
  send(url: URL, message: HttpMessage, options: SendOptions): Promise<SendResult> {
    return new Promise<SendResult>((resolve, reject) => {
      this.dispatch(url, message, options.timeoutMs, options.signal, (err, status) => {
        if (err) reject(err);
        else resolve({ status });
      });
    });
  }

  /**
   * `send` without a promise, for the hot path: `done` is called once, possibly before this
   * returns (a signal already aborted, a request undici refuses at once). The message's headers
   * get `User-Agent` (a message is made for one attempt).
   */
  dispatch(url: URL, message: HttpMessage, timeoutMs: number, signal: AbortSignal | undefined, done: SendCallback): void {
    if (signal?.aborted) {
      done(new DeliveryError('Aborted', 'delivery aborted', { retriable: true, cause: signal.reason }), 0);
      return;
    }
    const target = this.#target(url);
    const attempt = new Attempt(url, message, timeoutMs, signal, this.#o.retryAfterCapMs ?? 60_000, done, this.#inFlight);
    message.headers['user-agent'] = this.#o.userAgent;
    try {
      this.#agent.dispatch(
        {
          origin: target.origin,
          path: target.path,
          method: 'POST',
          headers: message.headers,
          body: message.body,
          headersTimeout: timeoutMs + UNDICI_TIMER_SLACK_MS,
          bodyTimeout: timeoutMs + UNDICI_TIMER_SLACK_MS,
        },
        attempt,
      );
    } catch (err) {
      // Thrown before anything was written (a header undici refuses, say): classified as such.
      attempt.onResponseError(undefined, err as Error);
    }
  }

  /** `origin` and `pathname` of a URL (resolvers hand out the same URL objects; the getters are not free). */
  #target(url: URL): { origin: string; path: string } {
    let t = this.#targets.get(url);
    if (!t) {
      t = { origin: url.origin, path: url.pathname };
      this.#targets.set(url, t);
    }
    return t;
  }

  /** Closes the connections once requests in flight finish. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#agent.close();
  }
}

/** Where a client keeps its attempts in flight (inflight.ts). */
interface InFlightLists {
  deadlines: Deadlines;
  watchers: SignalWatchers;
}

/** How much of a 2xx reply is drained before the connection is dropped instead (undici's `dump()` default). */
const DRAIN_LIMIT_BYTES = 128 * 1024;

/**
 * One request's undici handler and its outcome. Settles once: on the reply's end (2xx resolves,
 * anything else is a DeliveryError), on an error before the status line (classified), at
 * `timeoutMs` (a Timeout), or when the caller's signal aborts (Aborted). Once the status is known
 * it alone decides: a body cut short by the timeout or the signal does not change it.
 */
class Attempt extends InFlightEntry implements Dispatcher.DispatchHandler {
  readonly #url: URL;
  readonly #message: HttpMessage;
  readonly #timeoutMs: number;
  readonly #signal: AbortSignal | undefined;
  readonly #retryAfterCapMs: number;
  readonly #callback: SendCallback;
  readonly #lists: InFlightLists;
  #controller: Dispatcher.DispatchController | undefined;
  /** Set when the request must stop before undici handed us its controller. */
  #abortWith: Error | undefined;
  #settled = false;
  #status = 0;
  #retryAfter: string | undefined;
  #errorBody: Buffer[] | undefined;
  #bodyBytes = 0;

  constructor(url: URL, message: HttpMessage, timeoutMs: number, signal: AbortSignal | undefined, retryAfterCapMs: number, callback: SendCallback, lists: InFlightLists) {
    super();
    this.#url = url;
    this.#message = message;
    this.#timeoutMs = timeoutMs;
    this.#signal = signal;
    this.#retryAfterCapMs = retryAfterCapMs;
    this.#callback = callback;
    this.#lists = lists;
    // undici's headers/body timeouts tick on a coarse clock (about 0.5 s) and fire up to half a
    // second early or a second late: a 300 ms timeout fired after a second, a 900 ms one after 600.
    // The client's deadline lists keep `timeoutMs` (inflight.ts); undici's stay as a backstop, set past it.
    lists.deadlines.add(this, timeoutMs);
    if (signal) lists.watchers.add(signal, this);
  }

  // undici's handler API (v8: the only one; its core calls it directly). The reply's headers
  // arrive parsed into an object; only `Retry-After` of an error reply is read.

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#abortWith) controller.abort(this.#abortWith);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (statusCode < 200) return; // informational (103 Early Hints): the real status follows
    this.#status = statusCode;
    if (!isSuccess(statusCode)) {
      const v = headers['retry-after'];
      this.#retryAfter = Array.isArray(v) ? v[0] : v;
      this.#errorBody = [];
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const kept = this.#errorBody;
    if (kept) {
      if (this.#bodyBytes < ERROR_BODY_BYTES) kept.push(chunk);
    } else if (this.#bodyBytes + chunk.length > DRAIN_LIMIT_BYTES) {
      // A large 2xx reply is not worth reading: its status already decided.
      this.#finish();
      controller.abort(new Error('reply body not read'));
    }
    this.#bodyBytes += chunk.length;
  }

  onResponseEnd(): void {
    this.#finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    if (this.#status !== 0) {
      // The status decides; an error body cut short just has no detail.
      this.#errorBody = [];
      this.#finish();
      return;
    }
    this.#fail(this.#classify(err));
  }

  /** The caller's signal aborted: stop, and report Aborted unless the status already decided. */
  abortBySignal(reason: unknown): void {
    const err = reason instanceof Error ? reason : new Error('aborted');
    if (this.#status === 0) this.#fail(new DeliveryError('Aborted', 'delivery aborted', { retriable: true, cause: reason }));
    else this.#finishCut();
    this.#stop(err);
  }

  expire(): void {
    const err = new DeliveryError('Timeout', `no answer from ${this.#url.host} within ${String(this.#timeoutMs)} ms`, { retriable: true });
    if (this.#status === 0) this.#fail(err);
    else this.#finishCut();
    this.#stop(err);
  }

  #stop(err: Error): void {
    if (this.#controller) this.#controller.abort(err);
    else this.#abortWith = err;
  }

  /** The status is known but its body was cut short (timeout, signal). */
  #finishCut(): void {
    if (this.#errorBody) this.#errorBody = [];
    this.#finish();
  }

  #finish(): void {
    if (this.#settled) return;
    const status = this.#status;
    if (isSuccess(status)) {
      this.#done();
      this.#callback(undefined, status);
      return;
    }
    const detail = Buffer.concat(this.#errorBody ?? [])
      .subarray(0, ERROR_BODY_BYTES)
      .toString('utf8')
      .replace(/\s+/gu, ' ')
      .trim();
    if (status === 413 || status === 431) {
      // The same request would be refused again: too large for the function, not a transient state.
      this.#fail(new DeliveryError('EventTooLarge', `function answered ${String(status)}: ${this.#tooLarge(status)}${detail ? ` (${detail})` : ''}`, { retriable: false, status }));
      return;
    }
    const retriable = isRetriableStatus(status);
    const retryAfterMs = parseRetryAfter(this.#retryAfter, this.#retryAfterCapMs);
    const msg = `function answered ${String(status)}${detail ? `: ${detail}` : ''}`;
    this.#fail(new DeliveryError('HttpStatus', msg, { retriable, status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) }));
  }

  /** What was too large, for the reason of a 413 or 431. */
  #tooLarge(status: number): string {
    const { headers, body } = this.#message;
    if (status === 413) {
      const bytes = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
      return `the event's body of ${String(bytes)} bytes is over the function's request size limit`;
    }
    let bytes = 0;
    let count = 0;
    for (const k in headers) {
      bytes += k.length + (headers[k]?.length ?? 0) + 4;
      count++;
    }
    return `the event's ${String(count)} headers (${String(bytes)} bytes) are over the function's header limit`;
  }

  #fail(err: DeliveryError): void {
    if (this.#settled) return;
    this.#done();
    this.#callback(err, this.#status);
  }

  #done(): void {
    this.#settled = true;
    this.#lists.deadlines.delete(this);
    this.#lists.watchers.delete(this);
  }

  #classify(err: unknown): DeliveryError {
    const { host } = this.#url;
    if (this.#signal?.aborted) return new DeliveryError('Aborted', 'delivery aborted', { retriable: true, cause: err });
    if (err instanceof DeliveryError) return err;
    if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
      return new DeliveryError('Timeout', `no answer from ${host} within ${String(this.#timeoutMs)} ms`, { retriable: true, cause: err });
    }
    if (err instanceof undiciErrors.ConnectTimeoutError) {
      return new DeliveryError('Connection', `connect to ${host} timed out`, { retriable: true, cause: err });
    }
    const code = (err as { code?: unknown }).code;
    const message = err instanceof Error ? err.message : String(err);
    // Refused before anything was written (a header value undici will not send, a bad option):
    // the same request fails the same way every time, so retrying cannot help.
    if (err instanceof undiciErrors.InvalidArgumentError || err instanceof TypeError || err instanceof RangeError) {
      return new DeliveryError('InvalidEvent', `request to ${host} cannot be made: ${typeof code === 'string' ? `${code} ` : ''}${message}`, { retriable: false, cause: err });
    }
    return new DeliveryError('Connection', `request to ${host} failed: ${typeof code === 'string' ? `${code} ` : ''}${message}`, { retriable: true, cause: err });
  }
}
