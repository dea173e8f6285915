/**
 * How a request body becomes `event.data` (the same rules in the Python runtime):
 * - media type `application/json` (any parameters): the parsed JSON value; invalid JSON answers 400;
 * - binary media types (`application/octet-stream`, `application/zip`, `application/gzip`,
 *   `application/pdf`, `application/protobuf`, `application/x-protobuf`, `image/*`, `audio/*`,
 *   `video/*`, `font/*`, `multipart/*`): the raw bytes (a Buffer here, `bytes` in Python);
 * - anything else, or no Content-Type: the body decoded as UTF-8 (an empty body is `''`).
 */

/** A body that cannot be decoded as its Content-Type says; answered with 400. */
export class InvalidBodyError extends Error {
  override readonly name = 'InvalidBodyError';
  readonly code = 'KUBELESS_INVALID_BODY';
  readonly retriable = false;
}

const BINARY_TYPES = new Set([
  'application/octet-stream',
  'application/zip',
  'application/gzip',
  'application/pdf',
  'application/protobuf',
  'application/x-protobuf',
]);
const BINARY_PREFIXES = ['image/', 'audio/', 'video/', 'font/', 'multipart/'];

/** The lower-cased `type/subtype` of a Content-Type header, or '' when absent. */
export function mediaType(contentType: string | undefined): string {
  if (contentType === undefined) return '';
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

export function isBinaryMediaType(media: string): boolean {
  return BINARY_TYPES.has(media) || BINARY_PREFIXES.some((p) => media.startsWith(p));
}

/** `event.data` for a body of the given media type (see the module comment). */
export function decodeBody(body: Buffer, media: string): unknown {
  if (media === 'application/json') {
    if (body.length === 0) return '';
    try {
      return JSON.parse(body.toString()) as unknown;
    } catch {
      throw new InvalidBodyError('request body is not valid JSON');
    }
  }
  if (isBinaryMediaType(media)) return body;
  return body.toString();
}
