/**
 * CloudEvents 1.0 (and 0.3) over the HTTP protocol binding, parsed by hand: binary mode (`ce-*`
 * headers, the body is the data) and structured mode (`application/cloudevents+json`, the body is
 * the JSON event). Batch mode (`application/cloudevents-batch+json`) is not interpreted: such a body
 * reaches the function as a plain string.
 * Spec: https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/http-protocol-binding.md
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingHttpHeaders } from 'node:http';

/** Context attributes and extensions of a CloudEvent (everything but the data). */
export interface CloudEventAttributes {
  specversion: string;
  id: string;
  source: string;
  type: string;
  [attribute: string]: unknown;
}

/** A request that claims to be a CloudEvent but is not a valid one; answered with 400. */
export class InvalidCloudEventError extends Error {
  override readonly name = 'InvalidCloudEventError';
  readonly code = 'KUBELESS_INVALID_CLOUDEVENT';
  readonly retriable = false;
}

const SPEC_VERSIONS = new Set(['1.0', '0.3']);
export const STRUCTURED_MEDIA_TYPE = 'application/cloudevents+json';

/** RFC 7230 §3.2.6 quoted-string, reversed: `"a \\"b\\""` is `a "b"` (older senders quoted values). */
function unquote(value: string): string {
  let out = '';
  for (let i = 1; i < value.length - 1; i++) {
    // A backslash escapes the next character (never the closing quote itself).
    if (value.charCodeAt(i) === 0x5c && i < value.length - 2) i++;
    out += value.charAt(i);
  }
  return out;
}

function hexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/**
 * One header value as the HTTP binding decodes it (§3.1.3.2): a double-quoted value is unquoted
 * first, then one round of percent-decoding, and the bytes are read as UTF-8. A `%` that is not
 * followed by two hex digits is kept as sent; characters outside ASCII that arrived unencoded
 * (Node reads header bytes as Latin-1) count as the bytes they were. Throws
 * `InvalidCloudEventError` when the decoded bytes are not valid UTF-8, as the binding requires
 * (`%C0%A0`, an overlong space, or `%FF`): binary values travel as `<name>b64` extensions instead.
 */
export function decodeHeaderValue(name: string, raw: string): string {
  const value = raw.length >= 2 && raw.charCodeAt(0) === 0x22 && raw.charCodeAt(raw.length - 1) === 0x22 ? unquote(raw) : raw;
  let plain = true;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 || c > 0x7e) {
      plain = false;
      break;
    }
  }
  if (plain) return value;
  // At most 4 bytes per UTF-16 unit: only a caller's own string can hold characters over U+00FF.
  const bytes = Buffer.allocUnsafe(value.length * 4);
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 && i + 2 < value.length) {
      const hi = hexDigit(value.charCodeAt(i + 1));
      const lo = hexDigit(value.charCodeAt(i + 2));
      if (hi !== -1 && lo !== -1) {
        bytes[n++] = hi * 16 + lo;
        i += 2;
        continue;
      }
    }
    if (c > 0xff) {
      // Not from an HTTP parser (a caller's own string): keep its UTF-8 bytes.
      const cp = value.codePointAt(i) ?? c;
      n += bytes.write(String.fromCodePoint(cp), n);
      if (cp > 0xffff) i++;
      continue;
    }
    bytes[n++] = c;
  }
  const decoded = bytes.subarray(0, n);
  if (!isUtf8(decoded)) throw new InvalidCloudEventError(`ce-${name}: the percent-decoded value is not valid UTF-8`);
  return decoded.toString('utf8');
}

const nonEmpty = (v: unknown): boolean => typeof v === 'string' && v !== '';

function requireAttributes(attrs: Record<string, unknown>, mode: string): CloudEventAttributes {
  // The usual case first, without building the list of what is missing (this runs per request).
  if (nonEmpty(attrs.id) && nonEmpty(attrs.source) && nonEmpty(attrs.type) && SPEC_VERSIONS.has(attrs.specversion as string)) return attrs as CloudEventAttributes;
  const missing = ['specversion', 'id', 'source', 'type'].filter((k) => typeof attrs[k] !== 'string' || attrs[k] === '');
  if (missing.length > 0) {
    throw new InvalidCloudEventError(`${mode} CloudEvent without ${missing.join(', ')}`);
  }
  if (!SPEC_VERSIONS.has(attrs.specversion as string)) {
    throw new InvalidCloudEventError(`unsupported CloudEvents specversion ${JSON.stringify(attrs.specversion)}`);
  }
  return attrs as CloudEventAttributes;
}

/**
 * The attributes of a binary-mode CloudEvent, or undefined when the request has no `ce-specversion`
 * header. `datacontenttype` comes from Content-Type. Throws `InvalidCloudEventError` when a required
 * attribute is missing.
 */
export function parseBinaryCloudEvent(headers: IncomingHttpHeaders): CloudEventAttributes | undefined {
  if (headers['ce-specversion'] === undefined) return undefined;
  const attrs: Record<string, unknown> = {};
  // for...in, not Object.entries: no array of pairs per request (node's headers object has no inherited keys).
  for (const name in headers) {
    if (!name.startsWith('ce-')) continue;
    const value = headers[name];
    if (value === undefined) continue;
    const attribute = name.slice(3);
    attrs[attribute] = decodeHeaderValue(attribute, Array.isArray(value) ? value.join(',') : value);
  }
  const contentType = headers['content-type'];
  if (contentType !== undefined) attrs.datacontenttype = contentType;
  return requireAttributes(attrs, 'binary');
}

/**
 * A structured-mode CloudEvent: its attributes and its data (`data` as is, `data_base64` decoded to
 * a Buffer, undefined when the event has neither). Throws `InvalidCloudEventError` when the body is
 * not a JSON object with the required attributes.
 */
export function parseStructuredCloudEvent(body: Buffer): { attributes: CloudEventAttributes; data: unknown } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new InvalidCloudEventError('structured CloudEvent body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidCloudEventError('structured CloudEvent body is not a JSON object');
  }
  const { data, data_base64: dataBase64, ...attrs } = parsed as Record<string, unknown>;
  const attributes = requireAttributes(attrs, 'structured');
  if (dataBase64 !== undefined) {
    if (typeof dataBase64 !== 'string') throw new InvalidCloudEventError('structured CloudEvent data_base64 is not a string');
    return { attributes, data: Buffer.from(dataBase64, 'base64') };
  }
  return { attributes, data };
}
