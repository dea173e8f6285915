/**
 * The request and response classes the server is created with, so `event.extensions.request` and
 * `event.extensions.response` keep the small part of the Express API that functions written for
 * the original runtime (an Express app) use. The methods live on the prototypes: nothing is added
 * per request.
 */
import { IncomingMessage, ServerResponse, STATUS_CODES, type OutgoingHttpHeader, type OutgoingHttpHeaders } from 'node:http';
import type { InvocationBoard } from './watchdog.js';

export class KubelessRequest extends IncomingMessage {
  /** The raw request body, as Express' `bodyParser.raw` left it; set before the function runs. */
  declare body: Buffer | undefined;

  /** A request header, case-insensitively (Express `req.get`). */
  get(name: string): string | undefined {
    const value = this.headers[name.toLowerCase()];
    return Array.isArray(value) ? value.join(', ') : value;
  }

  header(name: string): string | undefined {
    return this.get(name);
  }
}

export class KubelessResponse extends ServerResponse<KubelessRequest> {
  /**
   * Set by the runtime while the function runs: the board slot to mark when the head goes out, so
   * the runaway guard never writes a 408 into a response already under way.
   */
  declare headWatch: InvocationBoard | undefined;
  declare headSlot: number;

  // Every head goes through here: Node's implicit head (`res.end()`, `res.write()`) calls it too.
  override writeHead(statusCode: number, statusMessage?: string, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
  override writeHead(statusCode: number, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
  override writeHead(statusCode: number, a?: string | OutgoingHttpHeaders | OutgoingHttpHeader[], b?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this {
    const watch = this.headWatch;
    if (watch !== undefined) {
      this.headWatch = undefined;
      watch.headSent(this.headSlot);
    }
    return typeof a === 'string' ? super.writeHead(statusCode, a, b) : super.writeHead(statusCode, a);
  }

  /** Sets the status code (Express `res.status`). */
  status(code: number): this {
    this.statusCode = code;
    return this;
  }

  /** Sets one header, or several from an object (Express `res.set`). */
  set(field: string | Record<string, string | number | readonly string[]>, value?: string | number | readonly string[]): this {
    if (typeof field === 'string') {
      if (value !== undefined) this.setHeader(field, value);
    } else {
      for (const [k, v] of Object.entries(field)) this.setHeader(k, v);
    }
    return this;
  }

  header(field: string | Record<string, string | number | readonly string[]>, value?: string | number | readonly string[]): this {
    return this.set(field, value);
  }

  /** A response header (Express `res.get`). */
  get(field: string): string | number | string[] | undefined {
    return this.getHeader(field);
  }

  /** Sets Content-Type (Express `res.type`, full media types only). */
  type(contentType: string): this {
    this.setHeader('content-type', contentType);
    return this;
  }

  /** Sends a string, Buffer or JSON value and ends the response (Express `res.send`). */
  send(body?: unknown): this {
    if (body === undefined || body === null) {
      this.end();
    } else if (typeof body === 'string') {
      if (!this.hasHeader('content-type')) this.setHeader('content-type', 'text/html; charset=utf-8');
      this.end(body);
    } else if (Buffer.isBuffer(body) || body instanceof Uint8Array) {
      if (!this.hasHeader('content-type')) this.setHeader('content-type', 'application/octet-stream');
      this.end(body);
    } else {
      this.json(body);
    }
    return this;
  }

  /** Sends a JSON value and ends the response (Express `res.json`). */
  json(body: unknown): this {
    if (!this.hasHeader('content-type')) this.setHeader('content-type', 'application/json; charset=utf-8');
    this.end(JSON.stringify(body));
    return this;
  }

  /** Sets the status and sends its reason phrase (Express `res.sendStatus`). */
  sendStatus(code: number): this {
    this.statusCode = code;
    return this.send(STATUS_CODES[code] ?? String(code));
  }
}
