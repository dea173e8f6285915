/**
 * Code preparation, the `prepare` init container of every function pod (runtimes/README.md,
 * "Code preparation"), for all runtimes:
 * 1. read `<src>/<FUNC_FILE>` and turn it into the raw code bytes: as is (text), base64-decoded
 *    (base64), or downloaded from the URL it holds (url);
 * 2. verify `sha256:<hex>` over those raw bytes BEFORE anything is written to the install volume;
 * 3. extract them (+zip, +compressedtar) or write them to `<install>/<FUNC_FILE>`;
 * 4. copy `<src>/<deps name>` to the install volume, unless the content type has +deps (then the
 *    archive carries it).
 * Only the install volume is written (archives are decompressed in memory or through pipes), so
 * it runs as any user with a read-only root filesystem.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { download } from './download.js';
import { ExtractTarget } from './extract-target.js';
import { PrepareError } from './prepare-error.js';
import { extractTar } from './tar.js';
import { extractZip } from './zip.js';

export { PrepareError } from './prepare-error.js';

export interface ContentType {
  encoding: 'text' | 'base64' | 'url';
  archive: 'zip' | 'compressedtar' | undefined;
  /** The archive carries the deps file. */
  deps: boolean;
}

/** Parses `text|base64|url[+zip|+compressedtar][+deps]` (empty means text); throws `PrepareError`. */
export function parseContentType(value: string): ContentType {
  const parts = value.trim() === '' ? ['text'] : value.trim().toLowerCase().split('+');
  const [encoding, ...flags] = parts;
  if (encoding !== 'text' && encoding !== 'base64' && encoding !== 'url') {
    throw new PrepareError('KUBELESS_BAD_CONTENT_TYPE', `function content type ${JSON.stringify(value)} must start with text, base64 or url`);
  }
  const result: ContentType = { encoding, archive: undefined, deps: false };
  for (const flag of flags) {
    if ((flag === 'zip' || flag === 'compressedtar') && result.archive === undefined) result.archive = flag;
    else if (flag === 'deps' && !result.deps) result.deps = true;
    else throw new PrepareError('KUBELESS_BAD_CONTENT_TYPE', `function content type ${JSON.stringify(value)}: unexpected +${flag}`);
  }
  if (result.deps && result.archive === undefined) {
    throw new PrepareError('KUBELESS_BAD_CONTENT_TYPE', `function content type ${JSON.stringify(value)}: +deps needs +zip or +compressedtar`);
  }
  return result;
}

export interface PrepareSettings {
  srcDir: string;
  installDir: string;
  funcFile: string;
  contentType: string;
  /** `sha256:<hex>`; undefined or empty skips the check. */
  checksum?: string | undefined;
  depsName?: string | undefined;
  downloadTimeoutMs: number;
  maxCodeBytes: number;
  maxExtractBytes: number;
}

export interface PrepareResult {
  /** sha256 of the raw code bytes, as `sha256:<hex>`. */
  checksum: string;
  codeBytes: number;
  /** Files, directories and links written for the code. */
  entries: number;
  depsCopied: boolean;
}

function singleName(name: string, what: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\\') || name.includes('\0')) {
    throw new PrepareError('KUBELESS_BAD_FILE_NAME', `${what} ${JSON.stringify(name)} must be a plain file name`);
  }
  return name;
}

async function readSource(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new PrepareError('KUBELESS_SOURCE_MISSING', `cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

function decodeBase64(text: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) {
    throw new PrepareError('KUBELESS_BAD_BASE64', 'the function content is not valid base64');
  }
  return Buffer.from(compact, 'base64');
}

/** Prepares the code; throws `PrepareError` (nothing written when the checksum does not match). */
export async function prepareCode(s: PrepareSettings, log: (line: string) => void): Promise<PrepareResult> {
  const type = parseContentType(s.contentType);
  const funcFile = singleName(s.funcFile, 'FUNC_FILE');
  const depsName = s.depsName === undefined || s.depsName === '' ? undefined : singleName(s.depsName, 'KUBELESS_DEPS_NAME');
  const source = await readSource(path.join(s.srcDir, funcFile));

  let code: Buffer;
  if (type.encoding === 'text') code = source;
  else if (type.encoding === 'base64') code = decodeBase64(source.toString('latin1'));
  else code = await download(source.toString('utf8').trim(), s.downloadTimeoutMs, s.maxCodeBytes);
  if (code.length > s.maxCodeBytes) throw new PrepareError('KUBELESS_CODE_TOO_LARGE', `the function code is larger than ${s.maxCodeBytes} bytes`);

  const actual = `sha256:${createHash('sha256').update(code).digest('hex')}`;
  if (s.checksum !== undefined && s.checksum !== '') {
    const expected = s.checksum.trim().toLowerCase();
    if (!/^sha256:[0-9a-f]{64}$/.test(expected)) {
      throw new PrepareError('KUBELESS_BAD_CHECKSUM', `FUNC_CHECKSUM ${JSON.stringify(s.checksum)} must be sha256:<64 hex digits>`);
    }
    if (expected !== actual) {
      throw new PrepareError('KUBELESS_CHECKSUM_MISMATCH', `checksum mismatch for ${funcFile}: expected ${expected}, got ${actual}; nothing was written`);
    }
    log(`checksum verified: ${actual}`);
  }

  const target = new ExtractTarget(s.installDir, s.maxExtractBytes);
  if (type.archive === 'zip') await extractZip(code, target);
  else if (type.archive === 'compressedtar') await extractTar(code, target);
  else await target.file(funcFile, code, false);
  const entries = target.entries;
  log(`prepared ${funcFile} (${type.encoding}${type.archive ? `+${type.archive}` : ''}, ${code.length} bytes, ${entries} entries) in ${s.installDir}`);

  let depsCopied = false;
  if (depsName !== undefined) {
    if (type.deps) {
      log(`${depsName} comes from the archive`);
    } else {
      let deps: Buffer | undefined;
      try {
        deps = await readFile(path.join(s.srcDir, depsName));
      } catch {
        log(`no ${depsName} in ${s.srcDir}: no dependencies to install`);
      }
      if (deps !== undefined) {
        await target.file(depsName, deps, false);
        depsCopied = true;
        log(`copied ${depsName} (${deps.length} bytes)`);
      }
    }
  }
  return { checksum: actual, codeBytes: code.length, entries, depsCopied };
}
