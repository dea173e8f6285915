/**
 * What a function receives and may return (runtimes/README.md, "`event` and `context`").
 */
import type { CloudEventAttributes } from './cloudevents.js';
import type { KubelessRequest, KubelessResponse } from './http-compat.js';

export interface FunctionEvent {
  /** Parsed JSON, a string, or a Buffer for binary media types (see body.ts). */
  data: unknown;
  'event-id': string | undefined;
  'event-type': string | undefined;
  'event-time': string | undefined;
  'event-namespace': string | undefined;
  extensions: {
    request: KubelessRequest;
    /** The raw response: a function that ends it itself makes the runtime write nothing more. */
    response: KubelessResponse;
    /** Attributes and extensions of the CloudEvent, when the request carried one. */
    cloudevent?: CloudEventAttributes;
  };
}

export type ResponseHeaders = Record<string, string | number | readonly string[]>;

export interface ResponseInit {
  /** HTTP status code; default 200. */
  status?: number;
  headers?: ResponseHeaders;
}

/**
 * A return value that carries a status code and headers with the body. Built by
 * `context.respond(body, {status, headers})`; the body follows the plain return-value rules.
 */
export class FunctionResponse {
  constructor(
    readonly body: unknown,
    readonly status: number | undefined,
    readonly headers: ResponseHeaders | undefined,
  ) {}
}

export interface FunctionContext {
  'function-name': string;
  /** FUNC_TIMEOUT in seconds. */
  timeout: number;
  runtime: string | undefined;
  'memory-limit': string | undefined;
  /** Wraps a body with a status code and headers: `return context.respond(body, {status: 201})`. */
  respond(body?: unknown, init?: ResponseInit): FunctionResponse;
  /**
   * The raw bytes of a CloudEvent extension: `<name>b64` base64-decoded when the event carries
   * that form (a Kafka key or header that is not UTF-8 arrives as `partitionkeyb64`,
   * `kafkaheader<name>b64`), else `<name>` as UTF-8; undefined when the event has neither.
   * `context.extensionBytes(event, 'partitionkey')` is the Kafka key as the producer wrote it.
   */
  extensionBytes(event: FunctionEvent, name: string): Buffer | undefined;
}

export type FunctionHandler = (event: FunctionEvent, context: FunctionContext) => unknown;

/** The same `context` object is passed to every invocation, as in the original runtime. */
export function createContext(functionName: string, timeoutSeconds: number, runtime: string | undefined, memoryLimit: string | undefined): FunctionContext {
  return {
    'function-name': functionName,
    timeout: timeoutSeconds,
    runtime,
    'memory-limit': memoryLimit,
    respond(body?: unknown, init?: ResponseInit): FunctionResponse {
      const status = init?.status;
      if (status !== undefined && (!Number.isInteger(status) || status < 100 || status > 999)) {
        throw new RangeError(`respond: status must be an integer from 100 to 999, got ${String(status)}`);
      }
      return new FunctionResponse(body, status, init?.headers);
    },
    extensionBytes(event: FunctionEvent, name: string): Buffer | undefined {
      return extensionBytes(event.extensions.cloudevent, name);
    },
  };
}

/** See `FunctionContext.extensionBytes`; `attributes` is `event.extensions.cloudevent`. */
export function extensionBytes(attributes: Record<string, unknown> | undefined, name: string): Buffer | undefined {
  if (attributes === undefined) return undefined;
  const encoded = attributes[`${name}b64`];
  if (typeof encoded === 'string') return Buffer.from(encoded, 'base64');
  const value = attributes[name];
  if (value === undefined || value === null) return undefined;
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8');
}
