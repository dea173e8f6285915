import { isUtf8 } from 'node:buffer';

const decoder = new TextDecoder('utf-8', { fatal: true });

const OCTET_STREAM = 'application/octet-stream';
const JSON_TYPE = 'application/json';
const TEXT_TYPE = 'text/plain; charset=utf-8';

/**
 * A content type for a payload that came without one: JSON when it parses as JSON, UTF-8 text
 * when it decodes as UTF-8, else `application/octet-stream`. An empty payload is
 * `application/octet-stream` too (nothing to say about it).
 */
export function detectContentType(body: Uint8Array): string {
  if (body.length === 0) return OCTET_STREAM;
  // Hot path: validate in place (no string), and only decode what might be JSON.
  if (!isUtf8(body)) return OCTET_STREAM;
  let i = 0;
  let b = body[0] ?? 0;
  // ASCII whitespace, as String.prototype.trimStart skips it.
  while (b === 0x20 || (b >= 0x09 && b <= 0x0d)) b = body[++i] ?? 0;
  if (i === body.length) return TEXT_TYPE;
  // Non-ASCII first: a BOM or Unicode whitespace, which the decoder and trimStart treat specially.
  if (b >= 0x80) return detectFromText(body);
  if (b !== 0x7b && b !== 0x5b && b !== 0x22) return TEXT_TYPE; // not { [ "
  try {
    JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
    return JSON_TYPE;
  } catch {
    return TEXT_TYPE;
  }
}

/** The reference rule, on the decoded text (the decoder drops a leading BOM). */
function detectFromText(body: Uint8Array): string {
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    return OCTET_STREAM;
  }
  const first = text.trimStart()[0];
  if (first === '{' || first === '[' || first === '"') {
    try {
      JSON.parse(text);
      return JSON_TYPE;
    } catch {
      // Not JSON after all: plain text below.
    }
  }
  return TEXT_TYPE;
}

/** The reference rule for every payload (tests hold `detectContentType` to it). */
export function detectContentTypeFromText(body: Uint8Array): string {
  return body.length === 0 ? OCTET_STREAM : detectFromText(body);
}

/** The original kubeless `event-type` header: the payload's content type (docs/delivery.md#the-contract). */
export const isJsonType = (contentType: string): boolean => /^application\/([\w.+-]+\+)?json\b/iu.test(contentType);
