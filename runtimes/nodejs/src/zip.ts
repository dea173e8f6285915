/**
 * Extracts a zip archive held in memory (APPNOTE 6.3: central directory, stored and deflated
 * entries, Zip64 sizes and offsets, UTF-8 names). Each entry's CRC-32 and size are checked;
 * encrypted entries and other compression methods are refused. Unix symbolic links become links
 * (inside the root only), everything goes through `ExtractTarget`'s path checks.
 */
import { crc32, inflateRawSync } from 'node:zlib';
import { safeEntryPath, type ExtractTarget } from './extract-target.js';
import { PrepareError } from './prepare-error.js';

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const U32_MAX = 0xffffffff;

function bad(message: string): PrepareError {
  return new PrepareError('KUBELESS_BAD_ARCHIVE', `not a valid zip archive: ${message}`);
}

function u64(buf: Buffer, offset: number): number {
  const value = buf.readBigUInt64LE(offset);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw bad('a Zip64 field is too large');
  return Number(value);
}

interface Directory {
  entries: number;
  offset: number;
}

function findDirectory(buf: Buffer): Directory {
  // The end record is 22 bytes plus a comment of up to 65535 bytes.
  const lowest = Math.max(0, buf.length - 22 - 0xffff);
  let eocd = -1;
  for (let i = buf.length - 22; i >= lowest; i--) {
    if (buf.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd === -1) throw bad('no end of central directory record');
  let entries = buf.readUInt16LE(eocd + 10);
  let offset = buf.readUInt32LE(eocd + 16);
  if ((entries === 0xffff || offset === U32_MAX) && eocd >= 20 && buf.readUInt32LE(eocd - 20) === ZIP64_LOCATOR) {
    const record = u64(buf, eocd - 20 + 8);
    if (record + 56 > buf.length || buf.readUInt32LE(record) !== ZIP64_EOCD) throw bad('broken Zip64 end record');
    entries = u64(buf, record + 32);
    offset = u64(buf, record + 48);
  }
  if (offset > buf.length) throw bad('central directory offset past the end');
  return { entries, offset };
}

interface Entry {
  name: string;
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
  unixMode: number;
  dosDirectory: boolean;
}

function readEntry(buf: Buffer, at: number): { entry: Entry; next: number } {
  if (at + 46 > buf.length || buf.readUInt32LE(at) !== CENTRAL) throw bad('broken central directory');
  const madeBy = buf.readUInt16LE(at + 4) >> 8;
  const flags = buf.readUInt16LE(at + 8);
  const method = buf.readUInt16LE(at + 10);
  const crc = buf.readUInt32LE(at + 16);
  let compressedSize = buf.readUInt32LE(at + 20);
  let size = buf.readUInt32LE(at + 24);
  const nameLength = buf.readUInt16LE(at + 28);
  const extraLength = buf.readUInt16LE(at + 30);
  const commentLength = buf.readUInt16LE(at + 32);
  const external = buf.readUInt32LE(at + 38);
  let localOffset = buf.readUInt32LE(at + 42);
  const nameStart = at + 46;
  const extraStart = nameStart + nameLength;
  const next = extraStart + extraLength + commentLength;
  if (next > buf.length) throw bad('central directory entry past the end');
  // Bit 11: the name is UTF-8; otherwise CP437, whose printable ASCII subset is what matters here.
  const name = buf.toString(flags & 0x800 ? 'utf8' : 'latin1', nameStart, extraStart);
  // Zip64 extended information: only the fields whose 32-bit slot is saturated, in this order.
  for (let p = extraStart; p + 4 <= extraStart + extraLength; ) {
    const id = buf.readUInt16LE(p);
    const len = buf.readUInt16LE(p + 2);
    if (id === 0x0001) {
      let q = p + 4;
      if (size === U32_MAX) {
        size = u64(buf, q);
        q += 8;
      }
      if (compressedSize === U32_MAX) {
        compressedSize = u64(buf, q);
        q += 8;
      }
      if (localOffset === U32_MAX) localOffset = u64(buf, q);
    }
    p += 4 + len;
  }
  return {
    entry: {
      name,
      flags,
      method,
      crc,
      compressedSize,
      size,
      localOffset,
      unixMode: madeBy === 3 ? external >>> 16 : 0,
      dosDirectory: (external & 0x10) !== 0,
    },
    next,
  };
}

function entryData(buf: Buffer, e: Entry): Buffer {
  const at = e.localOffset;
  if (at + 30 > buf.length || buf.readUInt32LE(at) !== LOCAL) throw bad(`broken local header for ${e.name}`);
  const start = at + 30 + buf.readUInt16LE(at + 26) + buf.readUInt16LE(at + 28);
  const end = start + e.compressedSize;
  if (end > buf.length) throw bad(`data of ${e.name} past the end`);
  const raw = buf.subarray(start, end);
  let data: Buffer;
  if (e.method === 0) {
    data = raw;
  } else if (e.method === 8) {
    try {
      // One byte of slack detects an entry that inflates past its declared size.
      data = inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size + 1) });
    } catch (err) {
      throw new PrepareError('KUBELESS_BAD_ARCHIVE', `zip entry ${e.name} does not inflate to its declared size`, { cause: err });
    }
  } else {
    throw new PrepareError('KUBELESS_BAD_ARCHIVE', `zip entry ${e.name} uses compression method ${e.method} (only stored and deflate are supported)`);
  }
  if (data.length !== e.size) throw bad(`${e.name} is ${data.length} bytes, the directory says ${e.size}`);
  if (crc32(data) >>> 0 !== e.crc) throw bad(`CRC mismatch in ${e.name}`);
  return data;
}

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;

/**
 * Extracts every entry into `target`; throws `PrepareError` on a malformed or unsafe archive. Every
 * name is checked before the first byte is written, so an archive with a zip-slip entry writes
 * nothing.
 */
export async function extractZip(buf: Buffer, target: ExtractTarget): Promise<void> {
  const { entries, offset } = findDirectory(buf);
  const planned: { entry: Entry; rel: string }[] = [];
  let at = offset;
  for (let i = 0; i < entries; i++) {
    const { entry, next } = readEntry(buf, at);
    at = next;
    if (entry.flags & 0x1) throw new PrepareError('KUBELESS_BAD_ARCHIVE', `zip entry ${entry.name} is encrypted`);
    planned.push({ entry, rel: safeEntryPath(entry.name) });
  }
  for (const { entry, rel } of planned) {
    const kind = entry.unixMode & S_IFMT;
    if (entry.name.endsWith('/') || entry.name.endsWith('\\') || kind === S_IFDIR || entry.dosDirectory) {
      await target.dir(rel);
    } else if (kind === S_IFLNK) {
      await target.symlink(rel, entryData(buf, entry).toString('utf8'));
    } else {
      await target.file(rel, entryData(buf, entry), (entry.unixMode & 0o111) !== 0);
    }
  }
}
