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
  /** Now when absent; left out of the message when it has no RFC 3339 form (`isRepresentableTime`). */
  time?: Date;
  subject?: string;
  /** The message value, forwarded unchanged. */
  data: Uint8Array;
  /** From the message when it carries a usable one (`isUsableContentType`); detected from the payload otherwise. */
  contentType?: string | undefined;
  /**
   * CloudEvents extensions: names sanitised by `extensionName`, values text (any Unicode; see the
   * wire rules below), bytes set through `setBytesExtension`.
   */
  extensions?: Record<string, string>;
  /** The original kubeless headers: `event-namespace` (e.g. `kafkatriggers.kubeless.io`) and `event-topic`. */
  legacy: { namespace: string; topic?: string };
}

export interface HttpMessage {
  headers: Record<string, string>;
  body: Uint8Array | string;
}

/*
 * Extension values on the wire (docs/delivery.md#metadata-on-the-wire): the contract the runtimes decode.
 *
 * - An extension value is text. In binary mode its `ce-<name>` header is the value percent-encoded
 *   as the CloudEvents HTTP binding (v1.0.2, §3.1.3.2) requires: every character outside printable
 *   ASCII U+0021-U+007E, and space, `"` and `%`, is encoded as UTF-8 bytes, each `%XY` (upper-case
 *   hex). A receiver percent-decodes once (`decodeURIComponent`). Plain ASCII values go unchanged.
 *   The same holds for `ce-id`, `ce-source`, `ce-type`, `ce-subject` and the legacy `event-id`
 *   and `event-topic` headers (ids and topics we make are plain ASCII, so in practice unchanged).
 * - In structured mode (one JSON document) the same values are JSON strings, never percent-encoded.
 * - Bytes that are not valid UTF-8 cannot be text: they travel base64-encoded (RFC 4648, with
 *   padding) under the name plus `b64`. A Kafka key that is valid UTF-8 is `partitionkey`, any other
 *   key `partitionkeyb64`; a header value likewise `kafkaheader<name>` or `kafkaheader<name>b64`;
 *   SQS Binary attributes are always `sqsattr<name>b64`. A name ending in `b64` therefore always
 *   holds base64: text whose own name already ends in `b64` (a header `x-b64`) goes base64 too, as
 *   `kafkaheaderxb64b64`, so the rule has no exception. Decoding: strip one `b64`, base64-decode.
 *   Only one of `<name>` and `<name>b64` is present for a given header, attribute or key.
 * - Valid UTF-8 that contains control characters (CR, LF, NUL) stays text; percent-encoding carries
 *   it. (CloudEvents' type system disallows controls in a String; receivers we know accept them.)
 *   A JavaScript string with a lone surrogate is sent as U+FFFD (the only lossy case; none of the
 *   triggers produce one: they decode only valid UTF-8).
 * - A time outside years 0000-9999 (a Kafka timestamp in nanoseconds, say) has no RFC 3339 form:
 *   `ce-time` and `event-time` are left out (structured: no `time`); the Kafka trigger then adds the
 *   raw timestamp as `kafkatimestamp`.
 * - A content type that is not a printable-ASCII header value is not used as one: the payload's
 *   type is detected instead, and the triggers keep the original as an ordinary extension.
 * - Binary-mode headers over MAX_BINARY_HEADER_BYTES (or more than MAX_BINARY_HEADERS of them) would
 *   be refused by the function's server (431): such an event is sent in structured mode instead,
 *   where the metadata travels in the body (then bounded by the trigger's maxEventBytes).
 */

/** Binary-mode headers (names, values, separators) beyond this go structured instead (Node's servers allow 16 KiB in all). */
export const MAX_BINARY_HEADER_BYTES = 8192;
/** Binary-mode header lines beyond this go structured instead (Python's http.server allows 100). */
export const MAX_BINARY_HEADERS = 64;

/** `%XY` for every byte value. */
const PERCENT = Array.from({ length: 256 }, (_, b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`);

/** True when `c` (a UTF-16 code unit or a byte) must be percent-encoded (§3.1.3.2). */
const mustEncode = (c: number): boolean => c <= 0x20 || c >= 0x7f || c === 0x22 || c === 0x25;

/**
 * A header value percent-encoded per the CloudEvents HTTP binding §3.1.3.2 (see the block above).
 * Plain printable ASCII without `"` and `%` is returned as is, after one scan.
 */
export function percentEncode(value: string): string {
  // One regular-expression scan: faster than a charCodeAt loop on the short strings seen here.
  const first = value.search(MUST_ENCODE);
  if (first < 0) return value;
  const bytes = Buffer.from(value, 'utf8');
  let out = value.slice(0, first);
  for (let j = first; j < bytes.length; j++) {
    const b = bytes[j] ?? 0;
    out += mustEncode(b) ? (PERCENT[b] ?? '') : String.fromCharCode(b);
  }
  return out;
}

/** Any UTF-16 code unit that `mustEncode` is true for. */
const MUST_ENCODE = /[^\x21\x23\x24\x26-\x7e]/u;

/** The suffix of an extension that holds base64 of raw bytes. */
export const BASE64_SUFFIX = 'b64';

/**
 * Sets text extension `name` (a valid extension name, e.g. from `extensionName`). A name that ends
 * in `b64` is reserved for base64: such text goes as `<name>b64`, base64 of its UTF-8.
 */
export function setTextExtension(extensions: Record<string, string>, name: string, text: string): void {
  if (name.endsWith(BASE64_SUFFIX)) extensions[name + BASE64_SUFFIX] = Buffer.from(text, 'utf8').toString('base64');
  else extensions[name] = text;
}

/**
 * Sets extension `name` from raw bytes, losslessly: valid UTF-8 as text (`setTextExtension`),
 * anything else base64 as `<name>b64`.
 */
export function setBytesExtension(extensions: Record<string, string>, name: string, bytes: Uint8Array): void {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isUtf8(buf)) setTextExtension(extensions, name, buf.toString('utf8'));
  else extensions[name + BASE64_SUFFIX] = buf.toString('base64');
}

const USABLE_CONTENT_TYPE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/u;

/**
 * True when `value` can be sent as the Content-Type (and legacy `event-type`) header as is:
 * non-empty printable ASCII, no surrounding spaces. `toHttpMessage` detects the type otherwise.
 */
export function isUsableContentType(value: string): boolean {
  return USABLE_CONTENT_TYPE.test(value);
}

/** Date.parse('0000-01-01T00:00:00.000Z') and Date.parse('9999-12-31T23:59:59.999Z'). */
const MIN_TIME_MS = -62_167_219_200_000;
const MAX_TIME_MS = 253_402_300_799_999;

/** True when `ms` since the epoch has an RFC 3339 form (years 0000-9999); `toHttpMessage` leaves any other time out. */
export function isRepresentableTime(ms: number): boolean {
  return ms >= MIN_TIME_MS && ms <= MAX_TIME_MS;
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
 * the payload byte for byte, attributes in `ce-*` headers, percent-encoded (§3.1.3.2); headers too
 * large for a function's server make the event go structured (see the block above). Structured
 * mode: one JSON document; JSON payloads are embedded as JSON, text as a string, anything else as
 * `data_base64`. Both modes add the original kubeless `event-*` headers. `time` defaults to now; a
 * time outside years 0000-9999 (or an invalid Date) is left out. A content type that
 * `isUsableContentType` refuses is replaced by the detected one.
 *
 * Hot path: the attributes that are constant per trigger (`source`, `type`) are validated once
 * through the SDK and remembered; the per-event ones are checked here against the SDK's own rules
 * (non-empty id and subject, extension names `[a-z0-9]+` with string values), and the message is
 * written directly. An event that fails any of these checks goes through the SDK
 * (`toHttpMessageViaSdk`), which then throws as before. The unit tests hold the two paths to the
 * same output.
 */
export function toHttpMessage(e: EventInput, mode: EventMode): HttpMessage {
  const contentType = eventContentType(e);
  const time = eventTime(e.time);
  if (!fastPathApplies(e, contentType)) return sdkMessage(e, mode, contentType, time);
  if (mode === 'binary') {
    const m = binaryMessage(e, contentType, time);
    if (m) return m;
  }
  const headers: Record<string, string> = { 'content-type': STRUCTURED_CONTENT_TYPE };
  addPlainHeaders(headers, e, contentType, time, percentEncode(e.id), encodedConstants(e).encTopic);
  return { headers, body: structuredBody(e, contentType, time) };
}

/** The per-trigger strings last encoded (the same few, event after event: compared, not scanned). */
let lastPlain = { source: '', type: '', topic: '', encSource: '', encType: '', encTopic: '' };

/** `percentEncode` of the per-trigger strings, remembered for the last ones seen. */
function encodedConstants(e: EventInput): typeof lastPlain {
  const topic = e.legacy.topic ?? '';
  const last = lastPlain;
  if (last.source === e.source && last.type === e.type && last.topic === topic) return last;
  lastPlain = { source: e.source, type: e.type, topic, encSource: percentEncode(e.source), encType: percentEncode(e.type), encTopic: percentEncode(topic) };
  return lastPlain;
}

/**
 * An upper bound of the bytes (`name: value\r\n`) of the headers other than the extensions and
 * the values counted apart: the names and separators (166) and two times (48), rounded up.
 */
const FIXED_HEADER_BYTES = 256;
/** The headers of a binary message other than the extensions, at most. */
const FIXED_HEADERS = 12;

/** The binary-mode message, or undefined when its headers would not fit (MAX_BINARY_HEADER_BYTES, MAX_BINARY_HEADERS). */
function binaryMessage(e: EventInput, contentType: string, time: string | undefined): HttpMessage | undefined {
  const c = encodedConstants(e);
  const id = percentEncode(e.id);
  const headers: Record<string, string> = { 'content-type': contentType, 'ce-id': id };
  if (time !== undefined) headers['ce-time'] = time;
  headers['ce-type'] = c.encType;
  headers['ce-source'] = c.encSource;
  headers['ce-specversion'] = '1.0';
  // Everything is ASCII by now: characters are bytes. An upper bound first (no second pass over
  // the headers for the usual event), the exact count only near the limits.
  let bytes = FIXED_HEADER_BYTES + 2 * id.length + 2 * contentType.length + c.encType.length + c.encSource.length + c.encTopic.length + e.legacy.namespace.length;
  let count = FIXED_HEADERS;
  if (e.subject !== undefined) {
    const subject = percentEncode(e.subject);
    headers['ce-subject'] = subject;
    bytes += subject.length;
  }
  const ext = e.extensions;
  if (ext) {
    for (const k in ext) {
      const v = percentEncode(ext[k] ?? '');
      headers[ceHeaderName(k)] = v;
      bytes += k.length + v.length + 7;
      count++;
      // Trace context goes twice: also as its own W3C header (addPlainHeaders).
      if (k === 'traceparent' || k === 'tracestate') {
        bytes += k.length + v.length + 4;
        count++;
      }
    }
  }
  addPlainHeaders(headers, e, contentType, time, id, c.encTopic);
  if ((bytes > MAX_BINARY_HEADER_BYTES || count > MAX_BINARY_HEADERS) && !headersFit(headers)) return undefined;
  // The payload itself (the SDK path hands valid UTF-8 over as a string: the same bytes).
  return { headers, body: e.data };
}

/**
 * `ce-<name>` of an extension, made once per name: a header name built per event is a new string
 * that each property store must look up in V8's string table first. Bounded like the other memos.
 */
const ceHeaderNames = new Map<string, string>();
function ceHeaderName(extension: string): string {
  let name = ceHeaderNames.get(extension);
  if (name === undefined) {
    name = `ce-${extension}`;
    if (ceHeaderNames.size < MEMO_LIMIT) ceHeaderNames.set(extension, name);
  }
  return name;
}

/**
 * The headers outside the CloudEvent (the same in both modes): the original kubeless ones (`id`
 * and `topic` already percent-encoded), and W3C Trace Context (`traceparent`, `tracestate`) when
 * the event carries the distributed-tracing extension (`setTraceContext`), so a function's tracing
 * library continues the producer's trace.
 */
function addPlainHeaders(headers: Record<string, string>, e: EventInput, contentType: string, time: string | undefined, id: string, topic: string): void {
  headers['event-id'] = id;
  if (time !== undefined) headers['event-time'] = time;
  headers['event-type'] = contentType;
  headers['event-namespace'] = e.legacy.namespace;
  if (e.legacy.topic !== undefined) headers['event-topic'] = topic;
  const ext = e.extensions;
  if (ext?.traceparent !== undefined) headers.traceparent = ext.traceparent;
  if (ext?.tracestate !== undefined) headers.tracestate = ext.tracestate;
}

/** W3C Trace Context `traceparent`: version, trace id, parent id, flags (lower-case hex). */
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
/** W3C Trace Context `tracestate`: printable ASCII list members, at most 512 characters. */
const TRACESTATE = /^[\x20-\x7e]{0,512}$/;

/**
 * A message header or attribute (`name`, any case) that is W3C Trace Context becomes the CloudEvents
 * distributed-tracing extension (`traceparent`, `tracestate`; also sent as those HTTP headers): a
 * valid `traceparent`, and a `tracestate` of printable ASCII up to 512 characters. Anything else
 * does nothing (the trigger keeps the header as its own extension either way).
 */
export function setTraceContext(extensions: Record<string, string>, name: string, value: string): void {
  const n = name.toLowerCase();
  if (n === 'traceparent' && TRACEPARENT.test(value)) extensions.traceparent = value;
  else if (n === 'tracestate' && TRACESTATE.test(value)) extensions.tracestate = value;
}

/** True when binary-mode headers (`name: value\r\n`, all ASCII by now) stay within MAX_BINARY_HEADER_BYTES and MAX_BINARY_HEADERS. */
function headersFit(headers: Record<string, string>): boolean {
  let bytes = 0;
  let count = 0;
  for (const k in headers) {
    bytes += k.length + (headers[k]?.length ?? 0) + 4;
    count++;
  }
  return bytes <= MAX_BINARY_HEADER_BYTES && count <= MAX_BINARY_HEADERS;
}

function eventContentType(e: EventInput): string {
  const given = e.contentType;
  return typeof given === 'string' && isUsableContentType(given) ? given : detectContentType(e.data);
}

/** The event's time as RFC 3339; now when it has none; undefined when it has no RFC 3339 form. */
function eventTime(date: Date | undefined): string | undefined {
  const ms = date === undefined ? Date.now() : date.getTime();
  return isRepresentableTime(ms) ? isoTime(ms) : undefined;
}

/**
 * The times last formatted, in a few slots by the millisecond's low bits: the records of one
 * partition mostly share their timestamp with their neighbours, and a trigger interleaves several
 * partitions (one remembered time missed at every switch).
 */
const TIME_SLOTS = 16;
const slotMs = new Float64Array(TIME_SLOTS).fill(Number.NaN);
const slotText: string[] = new Array<string>(TIME_SLOTS).fill('');

/** `toISOString()` of a representable time, remembered per slot. */
function isoTime(ms: number): string {
  const k = ms & (TIME_SLOTS - 1);
  if (slotMs[k] !== ms) {
    slotText[k] = new Date(ms).toISOString();
    slotMs[k] = ms;
  }
  return slotText[k] ?? new Date(ms).toISOString();
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

function fastPathApplies(e: EventInput, contentType: string): boolean {
  if (typeof e.id !== 'string' || e.id.length === 0) return false;
  if (typeof contentType !== 'string' || contentType.length === 0) return false;
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
function structuredBody(e: EventInput, contentType: string, time: string | undefined): string {
  const data = structuredData(e.data, contentType);
  const doc: Record<string, unknown> = { id: e.id };
  if (time !== undefined) doc.time = time;
  doc.type = e.type;
  doc.source = e.source;
  doc.specversion = '1.0';
  doc.datacontenttype = contentType;
  if (e.subject !== undefined) doc.subject = e.subject;
  if (ArrayBuffer.isView(data)) doc.data_base64 = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
  else if (data !== undefined) doc.data = data;
  const ext = e.extensions;
  if (ext) for (const k in ext) doc[k] = ext[k];
  return JSON.stringify(doc);
}

/**
 * The reference encoding, entirely by the cloudevents SDK (which validates: a bad attribute throws
 * its ValidationError), with the rules of `toHttpMessage` the SDK does not know: percent-encoded
 * header values, no time when it has no RFC 3339 form, a usable content type, structured mode when
 * binary headers would not fit. `toHttpMessage` falls back to it for anything its hot path does
 * not vouch for.
 */
export function toHttpMessageViaSdk(e: EventInput, mode: EventMode): HttpMessage {
  return sdkMessage(e, mode, eventContentType(e), eventTime(e.time));
}

/**
 * Stands in for a time that is left out: the SDK makes one up when there is none, and removes it
 * again below. The SDK writes `time` right after `id`, whose JSON string cannot contain `,"time":"`.
 */
const PLACEHOLDER_TIME = '1970-01-01T00:00:00.000Z';

function sdkMessage(e: EventInput, mode: EventMode, contentType: string, time: string | undefined): HttpMessage {
  const attrs: Record<string, unknown> = {
    specversion: '1.0',
    id: e.id,
    source: e.source,
    type: e.type,
    time: time ?? PLACEHOLDER_TIME,
    datacontenttype: contentType,
    ...e.extensions,
  };
  if (e.subject !== undefined) attrs.subject = e.subject;
  if (mode === 'binary') {
    const buf = Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength);
    // Valid UTF-8 goes in as a string: byte-identical on the wire, and the SDK then skips the
    // base64 copy it makes of binary data (only structured mode would use it).
    const data = isUtf8(buf) ? buf.toString('utf8') : buf;
    const message = HTTP.binary(new CloudEvent({ ...attrs, data }, true));
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(message.headers)) {
      const name = k.toLowerCase();
      if (name === 'ce-time' && time === undefined) continue;
      headers[name] = name.startsWith('ce-') ? percentEncode(String(v)) : String(v);
    }
    headers['content-type'] = contentType;
    addPlainHeaders(headers, e, contentType, time, percentEncode(e.id), percentEncode(e.legacy.topic ?? ''));
    if (headersFit(headers)) return { headers, body: bodyOf(message.body) };
  }
  const message = HTTP.structured(new CloudEvent({ ...attrs, data: structuredData(e.data, contentType) }, true));
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(message.headers)) headers[k.toLowerCase()] = String(v);
  addPlainHeaders(headers, e, contentType, time, percentEncode(e.id), percentEncode(e.legacy.topic ?? ''));
  let body = bodyOf(message.body);
  if (time === undefined && typeof body === 'string') body = body.replace(`,"time":"${PLACEHOLDER_TIME}"`, '');
  return { headers, body };
}

const bodyOf = (body: unknown): Uint8Array | string => (typeof body === 'string' || body instanceof Uint8Array ? body : '');

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
