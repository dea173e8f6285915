import { readFileSync, statSync } from 'node:fs';

/** Files of a client identity for mTLS to functions (mounted from a Secret). All optional. */
export interface TlsFiles {
  /** CA bundle that signed the functions' server certificates. */
  caFile?: string | undefined;
  /** Client certificate chain presented to functions; needs `keyFile`. */
  certFile?: string | undefined;
  keyFile?: string | undefined;
}

export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** Reads the files now. Throws (with the path, never the content) when one cannot be read. */
export function readTls(files: TlsFiles): TlsMaterial {
  if ((files.certFile === undefined) !== (files.keyFile === undefined)) {
    throw new RangeError('TLS client certificate and key must be given together');
  }
  const read = (p: string | undefined): Buffer | undefined => (p === undefined ? undefined : readFileSync(p));
  const m: TlsMaterial = {};
  const ca = read(files.caFile);
  const cert = read(files.certFile);
  const key = read(files.keyFile);
  if (ca) m.ca = ca;
  if (cert) m.cert = cert;
  if (key) m.key = key;
  return m;
}

/**
 * A fingerprint of the files' identity (inode, size, mtime), cheap to poll. Kubernetes updates a
 * mounted Secret by swapping a symlink, which changes the inode: stat follows the link.
 */
export function tlsStamp(files: TlsFiles): string {
  return [files.caFile, files.certFile, files.keyFile]
    .map((p) => {
      if (p === undefined) return '-';
      try {
        const s = statSync(p);
        return `${String(s.ino)}:${String(s.size)}:${String(s.mtimeMs)}`;
      } catch {
        return 'missing';
      }
    })
    .join('|');
}
