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

/** Bounded memo of `extensionName` (the same few header names come with every message). */
const extensionNames = new Map<string, string>();

/**
 * A valid CloudEvents extension name (lowercase letters and digits) made from any string, with a
 * prefix: `extensionName('kafkaheader', 'X-Trace-Id')` is `kafkaheaderxtraceid`.
 */
export function extensionName(prefix: string, name: string): string {
  const key = `${prefix}\u0000${name}`;
  let n = extensionNames.get(key);
  if (n === undefined) {
    n = `${prefix}${name.toLowerCase().replace(/[^a-z0-9]/gu, '')}`;
    if (RESERVED.has(n)) n = `x${n}`;
    if (extensionNames.size >= MEMO_LIMIT) extensionNames.clear();
    extensionNames.set(key, n);
  }
  return n;
}

/**
 * Encodes a CloudEvent for HTTP. The cloudevents SDK is the reference: whatever it would reject
 * (its ValidationError) is still rejected, by the SDK itself. Binary mode (default): the body is
 * the payload byte for byte, attributes in `ce-*` headers. Structured mode: one JSON document;
 * JSON payloads are embedded as JSON, text as a string, anything else as `data_base64`. Both modes
 * add the original kubeless `event-*` headers.
 *
 * Hot path: the attributes that are constant per trigger (`source`, `type`) are validated once
 * through the SDK and remembered; the per-event ones are checked here against the SDK's own rules
 * (non-empty id, content type and subject, an RFC 3339 time, extension names `[a-z0-9]+` with
 * string values), and the message is written directly. An event that fails any of these checks
 * goes through the SDK (`toHttpMessageViaSdk`), which then throws as before. The unit tests hold
 * the two paths to the same output.
 */
export function toHttpMessage(e: EventInput, mode: EventMode): HttpMessage {
  const contentType = e.contentType ?? detectContentType(e.data);
  const time = isoTime(e.time ?? new Date());
  if (!fastPathApplies(e, contentType, time)) return sdkMessage(e, mode, contentType, time);
  const legacy = e.legacy;
  let headers: Record<string, string>;
  let body: Uint8Array | string;
  if (mode === 'binary') {
    headers = {
      'content-type': contentType,
      'ce-id': e.id,
      'ce-time': time,
      'ce-type': e.type,
      'ce-source': e.source,
      'ce-specversion': '1.0',
    };
    if (e.subject !== undefined) headers['ce-subject'] = e.subject;
    const ext = e.extensions;
    if (ext) for (const k in ext) headers[`ce-${k}`] = ext[k] ?? '';
    // The payload itself (the SDK path hands valid UTF-8 over as a string: the same bytes).
    body = e.data;
  } else {
    headers = { 'content-type': STRUCTURED_CONTENT_TYPE };
    body = structuredBody(e, contentType, time);
  }
  headers['event-id'] = e.id;
  headers['event-time'] = time;
  headers['event-type'] = contentType;
  headers['event-namespace'] = legacy.namespace;
  if (legacy.topic !== undefined) headers['event-topic'] = legacy.topic;
  return { headers, body };
}

/** The last time formatted (events of one batch mostly share their timestamp to the millisecond). */
let lastTimeMs = Number.NaN;
let lastTimeText = '';

/** `date.toISOString()`, remembered for the last value (an invalid date still throws, as toISOString does). */
function isoTime(date: Date): string {
  const ms = date.getTime();
  if (ms !== lastTimeMs) {
    lastTimeText = date.toISOString();
    lastTimeMs = ms;
  }
  return lastTimeText;
}

/** The SDK's `application/cloudevents+json; charset=utf-8`. */
const STRUCTURED_CONTENT_TYPE = 'application/cloudevents+json; charset=utf-8';
/** Attribute names the SDK's CloudEvent treats itself (an extension of that name is not an extension). */
const KNOWN_ATTRIBUTES = new Set([...RESERVED, 'datacontentencoding', 'schemaurl']);
const EXTENSION_NAME = /^[a-z0-9]+$/u;
const ALL_DIGITS = /^[0-9]+$/u;
const MEMO_LIMIT = 4096;
/** `${source}\n${type}` -> whether the SDK accepts them (checked once each). */
const constantsChecked = new Map<string, boolean>();
/** Extension names already known to pass the SDK's rules. */
const extensionNamesChecked = new Set<string>();

function fastPathApplies(e: EventInput, contentType: string, time: string): boolean {
  if (typeof e.id !== 'string' || e.id.length === 0) return false;
  if (typeof contentType !== 'string' || contentType.length === 0) return false;
  // toISOString() of a year outside 0000-9999 is `+010000-...` (27 characters): not RFC 3339.
  if (time.length !== 24) return false;
  if (e.subject !== undefined && (typeof e.subject !== 'string' || e.subject.length === 0)) return false;
  if (!constantsValid(e.source, e.type)) return false;
  const ext = e.extensions;
  if (ext) {
    for (const k in ext) {
      if (!Object.hasOwn(ext, k) || typeof ext[k] !== 'string') return false;
      if (!extensionNamesChecked.has(k)) {
        // All digits: an array index, which objects list first (the SDK's header order then differs).
        if (!EXTENSION_NAME.test(k) || KNOWN_ATTRIBUTES.has(k) || ALL_DIGITS.test(k)) return false;
        if (extensionNamesChecked.size >= MEMO_LIMIT) extensionNamesChecked.clear();
        extensionNamesChecked.add(k);
      }
    }
  }
  return true;
}

/** The last pair checked (a trigger sends the same strings event after event: no key to build). */
let lastConstants: { source: string; type: string; ok: boolean } | undefined;

/** Validates the per-trigger attributes through the SDK, once per pair. */
function constantsValid(source: string, type: string): boolean {
  if (typeof source !== 'string' || typeof type !== 'string') return false;
  const last = lastConstants;
  if (last?.source === source && last.type === type) return last.ok;
  const key = `${source}\n${type}`;
  let ok = constantsChecked.get(key);
  if (ok === undefined) {
    try {
      new CloudEvent({ specversion: '1.0', id: 'x', source, type, time: '1970-01-01T00:00:00.000Z' }, true);
      ok = true;
    } catch {
      ok = false;
    }
    if (constantsChecked.size >= MEMO_LIMIT) constantsChecked.clear();
    constantsChecked.set(key, ok);
  }
  lastConstants = { source, type, ok };
  return ok;
}

/** The SDK's JSON document (`event.toString()`), attribute for attribute in the SDK's order. */
function structuredBody(e: EventInput, contentType: string, time: string): string {
  const data = structuredData(e.data, contentType);
  const doc: Record<string, unknown> = { id: e.id, time, type: e.type, source: e.source, specversion: '1.0', datacontenttype: contentType };
  if (e.subject !== undefined) doc.subject = e.subject;
  if (ArrayBuffer.isView(data)) doc.data_base64 = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
  else if (data !== undefined) doc.data = data;
  const ext = e.extensions;
  if (ext) for (const k in ext) doc[k] = ext[k];
  return JSON.stringify(doc);
}

/**
 * The reference encoding, entirely by the cloudevents SDK (which validates: a bad attribute throws
 * its ValidationError). `toHttpMessage` falls back to it for anything its hot path does not vouch for.
 */
export function toHttpMessageViaSdk(e: EventInput, mode: EventMode): HttpMessage {
  return sdkMessage(e, mode, e.contentType ?? detectContentType(e.data), (e.time ?? new Date()).toISOString());
}

function sdkMessage(e: EventInput, mode: EventMode, contentType: string, time: string): HttpMessage {
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

const TEXT_TYPE = /^text\//iu;

function structuredData(data: Uint8Array, contentType: string): unknown {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  // An empty binary payload would become `data_base64: ""` plus the Buffer serialised as `data`
  // (the SDK treats "" as no base64): send no data at all instead.
  if (buf.length === 0) return TEXT_TYPE.test(contentType) ? '' : undefined;
  if (isJsonType(contentType)) {
    try {
      return JSON.parse(buf.toString('utf8')) as unknown;
    } catch {
      return buf;
    }
  }
  if (TEXT_TYPE.test(contentType)) return buf.toString('utf8');
  return buf;
}
