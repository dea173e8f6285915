/**
 * The stack's image registry: a read-only OCI distribution endpoint (the pull side of the
 * registry API) over the image archives build.sh made, so the node's containerd pulls them as a
 * cluster's nodes pull from their registry, `imagePullPolicy: Always` included (the kubeless CLI's
 * default, as the original's). containerd reaches it as the mirror of docker.io and of
 * kubeless.local (node/config.ts `registryHosts`); nothing else is served.
 *
 * Archives are read in place: each `<name>.oci.tar` is an OCI layout in a plain tar, whose
 * index.json names its image (`org.opencontainers.image.ref.name`, e.g.
 * docker.io/kubeless/runtime-nodejs:24) and whose blobs/sha256/<hex> entries are served by offset.
 */
import { createReadStream } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';

interface Blob {
  file: string;
  offset: number;
  size: number;
}

interface Manifest {
  digest: string;
  mediaType: string;
}

export interface RegistryIndex {
  /** `<registry host>/<repository>:<tag>` -> its manifest. */
  refs: Map<string, Manifest>;
  /** `sha256:<hex>` -> where its bytes are. */
  blobs: Map<string, Blob>;
}

/** The entries of a plain (ustar) tar file: name, data offset and size, read from its headers only. */
export async function tarEntries(file: string): Promise<{ name: string; offset: number; size: number }[]> {
  const fh = await open(file, 'r');
  try {
    const entries: { name: string; offset: number; size: number }[] = [];
    const header = Buffer.alloc(512);
    let pos = 0;
    let longName: string | undefined;
    for (;;) {
      const { bytesRead } = await fh.read(header, 0, 512, pos);
      if (bytesRead < 512 || header.every((b) => b === 0)) break;
      const field = (from: number, len: number): string => header.subarray(from, from + len).toString('utf8').replace(/\0.*$/s, '');
      const size = parseInt(field(124, 12).trim() || '0', 8);
      const type = field(156, 1);
      const prefix = field(345, 155);
      const name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
      longName = undefined;
      const data = pos + 512;
      if (type === 'x' || type === 'L') {
        const body = Buffer.alloc(size);
        await fh.read(body, 0, size, data);
        const text = body.toString('utf8');
        longName = type === 'L' ? text.replace(/\0.*$/s, '') : /(?:^|\n)\d+ path=([^\n]*)\n/.exec(text)?.[1];
      } else if (type === '0' || type === '' || type === '\0') {
        entries.push({ name: name.replace(/^\.\//, ''), offset: data, size });
      }
      pos = data + Math.ceil(size / 512) * 512;
    }
    return entries;
  } finally {
    await fh.close();
  }
}

async function readEntry(file: string, offset: number, size: number): Promise<string> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(size);
    await fh.read(buf, 0, size, offset);
    return buf.toString('utf8');
  } finally {
    await fh.close();
  }
}

/** Indexes every `*.oci.tar` directly in `dir`. */
export async function indexArchives(dir: string): Promise<RegistryIndex> {
  const index: RegistryIndex = { refs: new Map(), blobs: new Map() };
  const files = (await readdir(dir)).filter((f) => f.endsWith('.oci.tar')).map((f) => path.join(dir, f));
  for (const file of files) {
    const entries = await tarEntries(file);
    for (const e of entries) {
      const m = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(e.name);
      if (m?.[1]) index.blobs.set(`sha256:${m[1]}`, { file, offset: e.offset, size: e.size });
    }
    const idx = entries.find((e) => e.name === 'index.json');
    if (!idx) continue;
    const parsed = JSON.parse(await readEntry(file, idx.offset, idx.size)) as { manifests?: { digest: string; mediaType: string; annotations?: Record<string, string> }[] };
    for (const m of parsed.manifests ?? []) {
      const ref = m.annotations?.['org.opencontainers.image.ref.name'];
      if (ref) index.refs.set(ref, { digest: m.digest, mediaType: m.mediaType });
    }
  }
  return index;
}

/**
 * The manifest or blob a registry API path names, for a client that says which registry it
 * mirrors (`?ns=docker.io`, as containerd does): undefined when the path is not one.
 */
export function route(url: string): { kind: 'ping' } | { kind: 'manifest'; ref: string; byDigest: boolean } | { kind: 'blob'; digest: string } | undefined {
  const u = new URL(url, 'http://registry');
  if (u.pathname === '/v2/' || u.pathname === '/v2') return { kind: 'ping' };
  const ns = u.searchParams.get('ns') ?? 'docker.io';
  const m = /^\/v2\/([a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)\/(manifests|blobs)\/([A-Za-z0-9_.:-]+)$/.exec(u.pathname);
  if (!m?.[1] || !m[3]) return undefined;
  if (m[2] === 'blobs') return /^sha256:[0-9a-f]{64}$/.test(m[3]) ? { kind: 'blob', digest: m[3] } : undefined;
  const byDigest = m[3].startsWith('sha256:');
  return { kind: 'manifest', ref: byDigest ? m[3] : `${ns}/${m[1]}:${m[3]}`, byDigest };
}

export function registryServer(index: RegistryIndex, log: (line: string) => void): http.Server {
  return http.createServer((req, res) => {
    const r = req.method === 'GET' || req.method === 'HEAD' ? route(req.url ?? '/') : undefined;
    const notFound = (why: string): void => {
      log(`404 ${req.method ?? ''} ${req.url ?? ''}: ${why}`);
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: why }] }));
    };
    if (!r) {
      notFound('not a pull of this registry');
      return;
    }
    if (r.kind === 'ping') {
      res.writeHead(200, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' }).end('{}');
      return;
    }
    let digest: string;
    let mediaType = 'application/octet-stream';
    if (r.kind === 'manifest') {
      const m = r.byDigest ? [...index.refs.values()].find((x) => x.digest === r.ref) : index.refs.get(r.ref);
      if (!m) {
        notFound(`no image ${r.ref}`);
        return;
      }
      digest = m.digest;
      mediaType = m.mediaType;
    } else {
      digest = r.digest;
    }
    const blob = index.blobs.get(digest);
    if (!blob) {
      notFound(`no blob ${digest}`);
      return;
    }
    log(`200 ${req.method ?? ''} ${req.url ?? ''}`);
    res.writeHead(200, { 'content-type': mediaType, 'content-length': String(blob.size), 'docker-content-digest': digest, 'docker-distribution-api-version': 'registry/2.0' });
    if (req.method === 'HEAD' || blob.size === 0) {
      res.end();
      return;
    }
    createReadStream(blob.file, { start: blob.offset, end: blob.offset + blob.size - 1 }).pipe(res);
  });
}
