/**
 * Extracts a tar archive (POSIX ustar and pax, GNU long names), compressed with gzip (node:zlib),
 * bzip2, xz or zstd (the system `bzip2`, `xz` or `zstd` program, fed through a pipe: nothing is
 * written outside the install volume), or not compressed. The compression is recognised by its
 * magic bytes, as `tar xf` does. Entries stream to disk through `ExtractTarget`'s path checks;
 * devices and FIFOs are skipped, hard links become copies.
 */
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { safeEntryPath, type ExtractTarget } from './extract-target.js';
import { PrepareError } from './prepare-error.js';

const BLOCK = 512;
/** Pax headers and GNU long names are read into memory: bound them. */
const MAX_META = 1024 * 1024;

function bad(message: string): PrepareError {
  return new PrepareError('KUBELESS_BAD_ARCHIVE', `not a valid tar archive: ${message}`);
}

/** Pulls exact byte counts out of a stream of chunks. */
class ChunkReader {
  readonly #it: AsyncIterator<Buffer>;
  #buf: Buffer = Buffer.alloc(0);
  #done = false;

  constructor(source: AsyncIterable<Buffer>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  async #fill(): Promise<boolean> {
    if (this.#done) return false;
    const r = await this.#it.next();
    if (r.done === true) {
      this.#done = true;
      return false;
    }
    this.#buf = this.#buf.length === 0 ? r.value : Buffer.concat([this.#buf, r.value]);
    return true;
  }

  /** Exactly `n` bytes, or undefined at a clean end of stream; throws when it ends mid-way. */
  async read(n: number): Promise<Buffer | undefined> {
    while (this.#buf.length < n) {
      if (!(await this.#fill())) {
        if (this.#buf.length === 0) return undefined;
        throw bad('truncated');
      }
    }
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** `n` bytes as they arrive, in pieces. */
  async *pieces(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.#buf.length === 0 && !(await this.#fill())) throw bad('truncated');
      const take = Math.min(left, this.#buf.length);
      // Copy: the caller writes it asynchronously while the reader moves on.
      yield Buffer.from(this.#buf.subarray(0, take));
      this.#buf = this.#buf.subarray(take);
      left -= take;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.pieces(n)) {
      // discarded
    }
  }
}

function cstring(block: Buffer, offset: number, length: number): string {
  const slice = block.subarray(offset, offset + length);
  const nul = slice.indexOf(0);
  return slice.toString('utf8', 0, nul === -1 ? slice.length : nul);
}

function numeric(block: Buffer, offset: number, length: number): number {
  const first = block[offset] ?? 0;
  if (first & 0x80) {
    // GNU base-256 for values that do not fit in octal digits.
    let value = first & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + (block[offset + i] ?? 0);
    return value;
  }
  const text = cstring(block, offset, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw bad(`bad numeric field ${JSON.stringify(text)}`);
  return parseInt(text, 8);
}

function checksumOk(block: Buffer): boolean {
  let unsigned = 0;
  for (let i = 0; i < BLOCK; i++) unsigned += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  return numeric(block, 148, 8) === unsigned;
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let p = 0;
  while (p < data.length) {
    const space = data.indexOf(0x20, p);
    if (space === -1) break;
    const len = parseInt(data.toString('ascii', p, space), 10);
    if (!Number.isFinite(len) || len <= 0 || p + len > data.length) throw bad('malformed pax header');
    const record = data.toString('utf8', space + 1, p + len - 1);
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    p += len;
  }
  return out;
}

async function extractTarStream(source: AsyncIterable<Buffer>, target: ExtractTarget): Promise<void> {
  const reader = new ChunkReader(source);
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  let sawHeader = false;
  for (;;) {
    const header = await reader.read(BLOCK);
    if (header === undefined) break;
    if (header.every((b) => b === 0)) break;
    if (!checksumOk(header)) throw bad(sawHeader ? 'header checksum mismatch' : 'no tar header at the start');
    sawHeader = true;
    const type = header[156] === 0 ? '0' : String.fromCharCode(header[156] ?? 0x30);
    let size = numeric(header, 124, 12);
    if (pax.size !== undefined) size = Number(pax.size);
    const padding = (BLOCK - (size % BLOCK)) % BLOCK;
    const readMeta = async (): Promise<Buffer> => {
      if (size > MAX_META) throw bad('oversized metadata entry');
      const data = (await reader.read(size)) ?? Buffer.alloc(0);
      await reader.skip(padding);
      return data;
    };
    if (type === 'x') {
      pax = parsePax(await readMeta());
      continue;
    }
    if (type === 'g') {
      await readMeta();
      continue;
    }
    if (type === 'L') {
      longName = cstring(await readMeta(), 0, size);
      continue;
    }
    if (type === 'K') {
      longLink = cstring(await readMeta(), 0, size);
      continue;
    }
    const magic = header.toString('ascii', 257, 262);
    const prefix = magic === 'ustar' ? cstring(header, 345, 155) : '';
    const baseName = cstring(header, 0, 100);
    const name = pax.path ?? longName ?? (prefix !== '' ? `${prefix}/${baseName}` : baseName);
    const link = pax.linkpath ?? longLink ?? cstring(header, 157, 100);
    pax = {};
    longName = undefined;
    longLink = undefined;
    const rel = safeEntryPath(name);
    const mode = numeric(header, 100, 8);
    if (type === '5' || ((type === '0' || type === '7') && name.endsWith('/'))) {
      await target.dir(rel);
      await reader.skip(size + padding);
    } else if (type === '0' || type === '7') {
      await target.file(rel, reader.pieces(size), (mode & 0o111) !== 0);
      await reader.skip(padding);
    } else if (type === '2') {
      await target.symlink(rel, link);
      await reader.skip(size + padding);
    } else if (type === '1') {
      await target.copyOf(rel, safeEntryPath(link));
      await reader.skip(size + padding);
    } else {
      // Character and block devices, FIFOs, vendor types: nothing a function needs.
      await reader.skip(size + padding);
    }
  }
  if (!sawHeader) throw bad('empty archive');
}

type Compression = 'gzip' | 'bzip2' | 'xz' | 'zstd' | 'none';

function detect(buf: Buffer): Compression | undefined {
  if (buf.length < 6) return undefined;
  if (buf[0] === 0x1f && buf[1] === 0x8b) return 'gzip';
  if (buf.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  if (buf.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (buf.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (buf.length >= 262 && buf.toString('ascii', 257, 262) === 'ustar') return 'none';
  return undefined;
}

async function throughProgram(program: string, archive: Buffer, target: ExtractTarget): Promise<void> {
  const child = spawn(program, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const stderr: Buffer[] = [];
  child.stderr.on('data', (c: Buffer) => stderr.push(c));
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.once('error', (error) => {
      resolve({ code: null, error });
    });
    child.once('close', (code) => {
      resolve({ code });
    });
  });
  // The program may stop reading early (bad input): its exit status tells why, not EPIPE.
  child.stdin.on('error', () => undefined);
  child.stdin.end(archive);
  const spawnFailure = (error: Error): PrepareError =>
    new PrepareError(
      'KUBELESS_UNSUPPORTED_ARCHIVE',
      (error as NodeJS.ErrnoException).code === 'ENOENT'
        ? `the archive is ${program}-compressed and the ${program} program is not installed in this image`
        : `could not run ${program}: ${error.message}`,
      { cause: error },
    );
  const programFailure = (code: number | null): PrepareError =>
    new PrepareError('KUBELESS_BAD_ARCHIVE', `${program} failed (exit ${String(code)}): ${Buffer.concat(stderr).toString('utf8').trim()}`);
  try {
    await extractTarStream(child.stdout, target);
  } catch (err) {
    child.kill();
    const failed = await exited;
    // A program that never started explains an empty stream better than the parser does.
    if (failed.error !== undefined) throw spawnFailure(failed.error);
    // It exited on its own (not killed above) with an error: its message says why the stream broke.
    if (failed.code !== null && failed.code !== 0) throw programFailure(failed.code);
    throw err;
  }
  const result = await exited;
  if (result.error !== undefined) throw spawnFailure(result.error);
  if (result.code !== 0) throw programFailure(result.code);
}

/** Extracts a (compressed) tar archive held in memory; throws `PrepareError` when it cannot. */
export async function extractTar(archive: Buffer, target: ExtractTarget): Promise<void> {
  const kind = detect(archive);
  switch (kind) {
    case 'gzip': {
      const gunzip = createGunzip();
      gunzip.end(archive);
      try {
        await extractTarStream(gunzip, target);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException | undefined)?.code;
        if (typeof code === 'string' && code.startsWith('Z_')) {
          throw new PrepareError('KUBELESS_BAD_ARCHIVE', `gzip data is corrupt: ${(err as Error).message}`, { cause: err });
        }
        throw err;
      } finally {
        gunzip.destroy();
      }
      return;
    }
    case 'bzip2':
    case 'xz':
    case 'zstd':
      await throughProgram(kind, archive, target);
      return;
    case 'none':
      await extractTarStream(Readable.from([archive]), target);
      return;
    case undefined:
      throw new PrepareError('KUBELESS_BAD_ARCHIVE', 'not a gzip, bzip2, xz or zstd compressed tar archive, nor a plain tar archive');
  }
}
