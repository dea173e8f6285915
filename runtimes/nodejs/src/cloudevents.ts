/**
 * CloudEvents 1.0 (and 0.3) over the HTTP protocol binding, parsed by hand: binary mode (`ce-*`
 * headers, the body is the data) and structured mode (`application/cloudevents+json`, the body is
 * the JSON event). Batch mode (`application/cloudevents-batch+json`) is not interpreted: such a body
 * reaches the function as a plain string.
 * Spec: https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/http-protocol-binding.md
 */
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

function decodeHeaderValue(value: string): string {
  // The binding percent-encodes characters outside printable ASCII; a stray % is kept as sent.
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
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
    attrs[name.slice(3)] = decodeHeaderValue(Array.isArray(value) ? value.join(',') : value);
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
