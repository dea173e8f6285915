/**
 * TLS for the function server: a certificate and key make it serve HTTPS; a client CA makes it
 * require and verify client certificates (mTLS). The files are re-read when their modification
 * time changes (cert-manager and Secret volume updates), so rotated certificates apply to new
 * connections without a restart.
 */
import { readFileSync, statSync } from 'node:fs';
import type { SecureContextOptions } from 'node:tls';
import type { TlsFiles } from './config.js';

export interface ServerTlsOptions extends SecureContextOptions {
  requestCert: boolean;
  rejectUnauthorized: boolean;
}

/** Reads the files now; throws when one cannot be read. */
export function readTlsOptions(files: TlsFiles): ServerTlsOptions {
  const mutual = files.clientCaFile !== undefined;
  return {
    cert: readFileSync(files.certFile),
    key: readFileSync(files.keyFile),
    ...(files.clientCaFile !== undefined ? { ca: readFileSync(files.clientCaFile) } : {}),
    minVersion: 'TLSv1.2',
    requestCert: mutual,
    rejectUnauthorized: mutual,
  };
}

function fingerprint(files: TlsFiles): string {
  return [files.certFile, files.keyFile, files.clientCaFile]
    .map((f) => {
      if (f === undefined) return '';
      try {
        const s = statSync(f);
        return `${s.mtimeMs}:${s.size}`;
      } catch {
        return 'missing';
      }
    })
    .join('|');
}

/**
 * Polls the files every `intervalMs` and calls `onChange` with the new options when any changed and
 * all still read; a failed read is reported and the old context stays. Returns a stop function.
 */
export function watchTlsFiles(
  files: TlsFiles,
  onChange: (options: ServerTlsOptions) => void,
  onError: (err: unknown) => void,
  intervalMs = 30_000,
): () => void {
  let last = fingerprint(files);
  const timer = setInterval(() => {
    const now = fingerprint(files);
    if (now === last) return;
    try {
      onChange(readTlsOptions(files));
      last = now;
    } catch (err) {
      onError(err);
    }
  }, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
  };
}
