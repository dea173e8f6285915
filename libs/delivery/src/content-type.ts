const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * A content type for a payload that came without one: JSON when it parses as JSON, UTF-8 text
 * when it decodes as UTF-8, else `application/octet-stream`. An empty payload is
 * `application/octet-stream` too (nothing to say about it).
 */
export function detectContentType(body: Uint8Array): string {
  if (body.length === 0) return 'application/octet-stream';
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    return 'application/octet-stream';
  }
  const first = text.trimStart()[0];
  if (first === '{' || first === '[' || first === '"') {
    try {
      JSON.parse(text);
      return 'application/json';
    } catch {
      // Not JSON after all: plain text below.
    }
  }
  return 'text/plain; charset=utf-8';
}

/** The original kubeless `event-type`: the payload's content type (reference/kubeless.md §4). */
export const isJsonType = (contentType: string): boolean => /^application\/([\w.+-]+\+)?json\b/iu.test(contentType);
