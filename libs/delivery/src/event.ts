import type { EventMode } from '@kubeless/api';
import { isUtf8 } from 'node:buffer';
import { CloudEvent, HTTP } from 'cloudevents';
import { detectContentType, isJsonType } from './content-type.js';

/** What a trigger knows about one message; `toHttpMessage` turns it into a request. */
export interface EventInput {
  /** Deterministic, the function's dedupe key: Kafka `partition:<p>/offset:<o>`, SQS the MessageId. */
  id: string;
  /** e.g. `/apis/v1/namespaces/<ns>/kafkatriggers/<name>#<topic>`. */
  source: string;
  /** e.g. `io.kubeless.kafka.message`. */
  type: string;
  time?: Date;
  subject?: string;
  /** The message value, forwarded unchanged. */
  data: Uint8Array;
  /** From the message when it carries one; detected from the payload otherwise. */
  contentType?: string | undefined;
  /** CloudEvents extensions; names are sanitised by `extensionName`. */
  extensions?: Record<string, string>;
  /** The original kubeless headers: `event-namespace` (e.g. `kafkatriggers.kubeless.io`) and `event-topic`. */
  legacy: { namespace: string; topic?: string };
}

export interface HttpMessage {
  headers: Record<string, string>;
  body: Uint8Array | string;
}

const RESERVED = new Set(['id', 'source', 'type', 'specversion', 'time', 'subject', 'data', 'datacontenttype', 'dataschema', 'data_base64']);

/**
 * A valid CloudEvents extension name (lowercase letters and digits) made from any string, with a
 * prefix: `extensionName('kafkaheader', 'X-Trace-Id')` is `kafkaheaderxtraceid`.
 */
export function extensionName(prefix: string, name: string): string {
  const n = `${prefix}${name.toLowerCase().replace(/[^a-z0-9]/gu, '')}`;
  return RESERVED.has(n) ? `x${n}` : n;
}

/**
 * Encodes with the cloudevents SDK (which validates: a bad attribute throws its ValidationError).
 * Binary mode (default): the body is the payload byte for byte, attributes in `ce-*` headers.
 * Structured mode: one JSON document; JSON payloads are embedded as JSON, text as a string,
 * anything else as `data_base64`. Both modes add the original kubeless `event-*` headers.
 */
export function toHttpMessage(e: EventInput, mode: EventMode): HttpMessage {
  const contentType = e.contentType ?? detectContentType(e.data);
  const time = (e.time ?? new Date()).toISOString();
  const attrs: Record<string, unknown> = {
    specversion: '1.0',
    id: e.id,
    source: e.source,
    type: e.type,
    time,
    datacontenttype: contentType,
    ...e.extensions,
  };
  if (e.subject !== undefined) attrs.subject = e.subject;
  let message: { headers: Record<string, unknown>; body: unknown };
  if (mode === 'binary') {
    const buf = Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength);
    // Valid UTF-8 goes in as a string: byte-identical on the wire, and the SDK then skips the
    // base64 copy it makes of binary data (only structured mode would use it).
    const data = isUtf8(buf) ? buf.toString('utf8') : buf;
    message = HTTP.binary(new CloudEvent({ ...attrs, data }, true));
  } else {
    message = HTTP.structured(new CloudEvent({ ...attrs, data: structuredData(e.data, contentType) }, true));
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(message.headers)) headers[k.toLowerCase()] = String(v);
  if (mode === 'binary') headers['content-type'] = contentType;
  headers['event-id'] = e.id;
  headers['event-time'] = time;
  headers['event-type'] = contentType;
  headers['event-namespace'] = e.legacy.namespace;
  if (e.legacy.topic !== undefined) headers['event-topic'] = e.legacy.topic;
  const body = message.body;
  return { headers, body: typeof body === 'string' || body instanceof Uint8Array ? body : '' };
}

function structuredData(data: Uint8Array, contentType: string): unknown {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  // An empty binary payload would become `data_base64: ""` plus the Buffer serialised as `data`
  // (the SDK treats "" as no base64): send no data at all instead.
  if (buf.length === 0) return /^text\//iu.test(contentType) ? '' : undefined;
  if (isJsonType(contentType)) {
    try {
      return JSON.parse(buf.toString('utf8')) as unknown;
    } catch {
      return buf;
    }
  }
  if (/^text\//iu.test(contentType)) return buf.toString('utf8');
  return buf;
}
