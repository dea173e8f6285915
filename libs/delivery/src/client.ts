import { createSecureContext } from 'node:tls';
import type { Logger } from '@kubeless/observability';
import { Agent, errors as undiciErrors } from 'undici';
import { isRetriableStatus, isSuccess, parseRetryAfter } from './classify.js';
import { DeliveryError } from './errors.js';
import type { HttpMessage } from './event.js';
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

/** How much of an error response is kept for the reason (dead-letter header, log). */
const ERROR_BODY_BYTES = 512;
/** undici's timers may fire this much before their delay; its backstop timeouts are set past ours by it. */
const UNDICI_TIMER_SLACK_MS = 1000;

/**
 * HTTP(S) to functions: one undici Agent, which keeps one keep-alive pool per endpoint. `send`
 * makes exactly one attempt and resolves on any 2xx; otherwise it throws a DeliveryError whose
 * `retriable` says whether to try again (SPEC §4). With TLS files, the client presents the
 * certificate and verifies functions against the CA; when the files change the next requests use
 * a new Agent and the old one closes once its requests finish.
 */
export class DeliveryClient {
  readonly #o: DeliveryClientOptions;
  #agent: Agent;
  #stamp: string;
  readonly #timer: NodeJS.Timeout | undefined;

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

  async send(url: URL, message: HttpMessage, options: SendOptions): Promise<SendResult> {
    // undici's headers/body timeouts tick on a coarse clock (about 0.5 s) and fire up to half a
    // second early or a second late: a 300 ms timeout fired after a second, a 900 ms one after 600.
    // An own timer keeps `timeoutMs`; undici's stay as a backstop, set past it.
    const attempt = new AbortController();
    const timer = setTimeout(() => {
      attempt.abort(new DeliveryError('Timeout', `no answer from ${url.host} within ${String(options.timeoutMs)} ms`, { retriable: true }));
    }, options.timeoutMs);
    const onAbort = (): void => {
      attempt.abort(options.signal?.reason);
    };
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.#send(url, message, options, attempt.signal);
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  async #send(url: URL, message: HttpMessage, options: SendOptions, signal: AbortSignal): Promise<SendResult> {
    let res: Awaited<ReturnType<Agent['request']>>;
    try {
      res = await this.#agent.request({
        origin: url.origin,
        path: url.pathname,
        method: 'POST',
        headers: { ...message.headers, 'user-agent': this.#o.userAgent },
        body: message.body,
        headersTimeout: options.timeoutMs + UNDICI_TIMER_SLACK_MS,
        bodyTimeout: options.timeoutMs + UNDICI_TIMER_SLACK_MS,
        signal,
      });
    } catch (err) {
      throw classifyError(err, url, options, signal);
    }
    const { statusCode } = res;
    if (isSuccess(statusCode)) {
      // Drain so the connection returns to the pool; the reply itself is not used.
      await res.body.dump().catch(() => undefined);
      return { status: statusCode };
    }
    let detail = '';
    try {
      const buf = Buffer.from(await res.body.arrayBuffer());
      detail = buf.subarray(0, ERROR_BODY_BYTES).toString('utf8').replace(/\s+/gu, ' ').trim();
    } catch {
      // The status is what matters; a broken error body is not worth a second failure.
    }
    const retriable = isRetriableStatus(statusCode);
    const retryAfterMs = parseRetryAfter(res.headers['retry-after'], this.#o.retryAfterCapMs ?? 60_000);
    const msg = `function answered ${String(statusCode)}${detail ? `: ${detail}` : ''}`;
    throw new DeliveryError('HttpStatus', msg, { retriable, status: statusCode, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
  }

  /** Closes the connections once requests in flight finish. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#agent.close();
  }
}

function classifyError(err: unknown, url: URL, options: SendOptions, attempt: AbortSignal): DeliveryError {
  if (options.signal?.aborted) return new DeliveryError('Aborted', 'delivery aborted', { retriable: true, cause: err });
  if (attempt.reason instanceof DeliveryError) return attempt.reason; // our own timer: a Timeout
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
    return new DeliveryError('Timeout', `no answer from ${url.host} within ${String(options.timeoutMs)} ms`, { retriable: true, cause: err });
  }
  if (err instanceof undiciErrors.ConnectTimeoutError) {
    return new DeliveryError('Connection', `connect to ${url.host} timed out`, { retriable: true, cause: err });
  }
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  return new DeliveryError('Connection', `request to ${url.host} failed: ${typeof code === 'string' ? `${code} ` : ''}${message}`, { retriable: true, cause: err });
}
