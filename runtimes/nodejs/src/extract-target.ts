/**
 * The only way archive entries reach the install volume. Every write is confined to the root:
 * names that are absolute, contain `..` or a NUL are rejected (zip-slip); no write goes through a
 * symbolic link that leaves the root; a symbolic link may only point inside the root; file modes
 * are normalised to 0644 or 0755 (no setuid, no unreadable files); the total size is bounded.
 */
import { constants } from 'node:fs';
import { copyFile, lstat, mkdir, open, realpath, stat, symlink, unlink } from 'node:fs/promises';
import path from 'node:path';
import { PrepareError } from './prepare-error.js';

/**
 * The archive entry name as a safe relative path (`/` separated, no `.` segments, '' for the
 * root). Backslashes count as separators, since some zip tools write them.
 */
export function safeEntryPath(name: string): string {
  if (name.includes('\0')) throw new PrepareError('KUBELESS_UNSAFE_PATH', `archive entry ${JSON.stringify(name)} contains a NUL byte`);
  const n = name.replace(/\\/g, '/');
  if (n.startsWith('/') || /^[a-zA-Z]:/.test(n)) {
    throw new PrepareError('KUBELESS_UNSAFE_PATH', `archive entry ${JSON.stringify(name)} is an absolute path`);
  }
  const parts = n.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) {
    throw new PrepareError('KUBELESS_UNSAFE_PATH', `archive entry ${JSON.stringify(name)} leaves the install directory`);
  }
  return parts.join('/');
}

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ENOENT';
}

export class ExtractTarget {
  readonly #root: string;
  readonly #maxBytes: number;
  #realRoot: string | undefined;
  readonly #dirs = new Map<string, string>();
  #bytes = 0;
  #entries = 0;

  constructor(root: string, maxBytes: number) {
    this.#root = path.resolve(root);
    this.#maxBytes = maxBytes;
  }

  /** Files, directories and links written so far. */
  get entries(): number {
    return this.#entries;
  }

  async #rootPath(): Promise<string> {
    if (this.#realRoot === undefined) {
      await mkdir(this.#root, { recursive: true });
      this.#realRoot = await realpath(this.#root);
    }
    return this.#realRoot;
  }

  #inside(realRoot: string, p: string): boolean {
    return p === realRoot || p.startsWith(realRoot + path.sep);
  }

  /** Creates the directory (and its parents) and returns its real path, checked to be inside. */
  async dir(rel: string): Promise<string> {
    const cached = this.#dirs.get(rel);
    if (cached !== undefined) return cached;
    const realRoot = await this.#rootPath();
    let current = realRoot;
    let soFar = '';
    for (const part of rel === '' ? [] : rel.split('/')) {
      soFar = soFar === '' ? part : `${soFar}/${part}`;
      const known = this.#dirs.get(soFar);
      if (known !== undefined) {
        current = known;
        continue;
      }
      const next = path.join(current, part);
      let st;
      try {
        st = await lstat(next);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        await mkdir(next, { mode: 0o755 });
        this.#entries++;
        current = next;
        this.#dirs.set(soFar, current);
        continue;
      }
      if (st.isSymbolicLink()) {
        const real = await realpath(next);
        if (!this.#inside(realRoot, real) || !(await stat(real)).isDirectory()) {
          throw new PrepareError('KUBELESS_UNSAFE_PATH', `archive path ${soFar} goes through a link that leaves the install directory`);
        }
        current = real;
      } else if (st.isDirectory()) {
        current = next;
      } else {
        throw new PrepareError('KUBELESS_UNSAFE_PATH', `archive path ${soFar} is a file, not a directory`);
      }
      this.#dirs.set(soFar, current);
    }
    this.#dirs.set(rel, current);
    return current;
  }

  /** Where a new entry named `rel` goes; an existing file or link there is removed first. */
  async #placeFor(rel: string): Promise<string> {
    if (rel === '') throw new PrepareError('KUBELESS_UNSAFE_PATH', 'archive entry has an empty name');
    const slash = rel.lastIndexOf('/');
    const parent = await this.dir(slash === -1 ? '' : rel.slice(0, slash));
    const target = path.join(parent, rel.slice(slash + 1));
    try {
      const st = await lstat(target);
      if (st.isDirectory()) throw new PrepareError('KUBELESS_UNSAFE_PATH', `archive entry ${rel} would replace a directory`);
      await unlink(target);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    return target;
  }

  #count(bytes: number): void {
    this.#bytes += bytes;
    if (this.#bytes > this.#maxBytes) {
      throw new PrepareError('KUBELESS_ARCHIVE_TOO_LARGE', `archive extracts to more than ${this.#maxBytes} bytes`);
    }
  }

  /** Writes a regular file from a buffer or a stream of chunks; `executable` gives it mode 0755. */
  async file(rel: string, content: Uint8Array | AsyncIterable<Uint8Array>, executable: boolean): Promise<void> {
    const target = await this.#placeFor(rel);
    // O_EXCL: never follow whatever might sit at the name.
    const fh = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, executable ? 0o755 : 0o644);
    try {
      if (content instanceof Uint8Array) {
        this.#count(content.length);
        await fh.writeFile(content);
      } else {
        for await (const chunk of content) {
          this.#count(chunk.length);
          await fh.write(chunk);
        }
      }
    } finally {
      await fh.close();
    }
    this.#entries++;
  }

  /** Creates a relative symbolic link whose target stays inside the root. */
  async symlink(rel: string, linkTarget: string): Promise<void> {
    const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(rel), linkTarget));
    if (linkTarget.startsWith('/') || resolved === '..' || resolved.startsWith('../')) {
      throw new PrepareError('KUBELESS_UNSAFE_PATH', `archive link ${rel} -> ${linkTarget} points outside the install directory`);
    }
    const target = await this.#placeFor(rel);
    await symlink(linkTarget, target);
    this.#entries++;
  }

  /** A hard link in the archive becomes a copy of the earlier entry it names. */
  async copyOf(rel: string, sourceRel: string): Promise<void> {
    const slash = sourceRel.lastIndexOf('/');
    const sourceDir = await this.dir(slash === -1 ? '' : sourceRel.slice(0, slash));
    const source = path.join(sourceDir, sourceRel.slice(slash + 1));
    const st = await lstat(source).catch(() => undefined);
    if (st?.isFile() !== true) {
      throw new PrepareError('KUBELESS_BAD_ARCHIVE', `archive hard link ${rel} names ${sourceRel}, which is not an earlier file`);
    }
    this.#count(st.size);
    const target = await this.#placeFor(rel);
    await copyFile(source, target, constants.COPYFILE_EXCL);
    this.#entries++;
  }
}
