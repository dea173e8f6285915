/**
 * Downloads function code from an http(s) URL, following redirects, bounded in time and size.
 */
import { PrepareError } from './prepare-error.js';

/** The URL without credentials, query or fragment (presigned URLs carry secrets there). */
export function redactUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** The body of a 2xx answer; throws `PrepareError` on a bad URL, an error status, a timeout or too many bytes. */
export async function download(text: string, timeoutMs: number, maxBytes: number): Promise<Buffer> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new PrepareError('KUBELESS_BAD_URL', 'the function content is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new PrepareError('KUBELESS_BAD_URL', `only http and https URLs are supported, not ${url.protocol}`);
  }
  const where = redactUrl(url);
  const signal = AbortSignal.timeout(timeoutMs);
  const failed = (err: unknown): PrepareError =>
    signal.aborted
      ? new PrepareError('KUBELESS_DOWNLOAD_FAILED', `downloading ${where} took longer than ${timeoutMs} ms`, { cause: err })
      : new PrepareError('KUBELESS_DOWNLOAD_FAILED', `downloading ${where} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  let res: Response;
  try {
    res = await fetch(url, { signal, redirect: 'follow' });
  } catch (err) {
    throw failed(err);
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw new PrepareError('KUBELESS_DOWNLOAD_FAILED', `downloading ${where} answered HTTP ${res.status}`);
  }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  const tooLarge = (): PrepareError => new PrepareError('KUBELESS_CODE_TOO_LARGE', `${where} is larger than ${maxBytes} bytes`);
  if (declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    if (res.body !== null) {
      const body: AsyncIterable<Uint8Array> = res.body;
      for await (const chunk of body) {
        size += chunk.length;
        if (size > maxBytes) throw tooLarge();
        chunks.push(chunk);
      }
    }
  } catch (err) {
    if (err instanceof PrepareError) throw err;
    throw failed(err);
  }
  return Buffer.concat(chunks, size);
}
