import { execFileSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeObject } from '@kubeless/controller';
import type { ObjectCache } from '../src/index.js';

/** A request as the test server saw it. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void;

/** A real server on 127.0.0.1, port 0; records requests and counts TCP connections. */
export interface TestServer {
  url: URL;
  requests: SeenRequest[];
  /** New TCP connections accepted (the `connection` event; for TLS, the raw socket). */
  connections: () => number;
  close: () => Promise<void>;
}

export async function startServer(handler: Handler, tls?: https.ServerOptions): Promise<TestServer> {
  const requests: SeenRequest[] = [];
  let connections = 0;
  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  };
  const server = tls ? https.createServer(tls, listener) : http.createServer(listener);
  server.on('connection', () => {
    connections++;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: new URL(`${tls ? 'https' : 'http'}://127.0.0.1:${port}/`),
    requests,
    connections: () => connections,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    },
  };
}

/** A port nothing listens on: bound once, then released. */
export async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => { resolve(); }));
  return port;
}

/** A pure in-memory ObjectCache: a Map plus an emitter, driven by the test. */
export class MemoryCache<T extends KubeObject> implements ObjectCache<T> {
  readonly #items = new Map<string, T>();
  readonly #events = new EventEmitter();

  static key(namespace: string | undefined, name: string): string {
    return `${namespace ?? ''}/${name}`;
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.#items.get(MemoryCache.key(namespace, name));
  }

  on(event: 'add' | 'update' | 'delete', handler: (obj: T) => void): this {
    this.#events.on(event, handler);
    return this;
  }

  list(): T[] {
    return [...this.#items.values()];
  }

  set(obj: T): void {
    const k = MemoryCache.key(obj.metadata?.namespace, obj.metadata?.name ?? '');
    const existed = this.#items.has(k);
    this.#items.set(k, obj);
    this.#events.emit(existed ? 'update' : 'add', obj);
  }

  delete(namespace: string, name: string): void {
    const k = MemoryCache.key(namespace, name);
    const obj = this.#items.get(k);
    if (!obj) return;
    this.#items.delete(k);
    this.#events.emit('delete', obj);
  }
}

/** A throwaway PKI made with openssl: a CA, server and client certificates. */
export interface Pki {
  dir: string;
  ca: string;
  /** Server cert and key (SAN IP:127.0.0.1, DNS:localhost). */
  server: { cert: string; key: string };
  /** Client certs signed by `ca`. */
  clientA: { cert: string; key: string };
  clientB: { cert: string; key: string };
  /** A client cert from another CA the server does not trust. */
  rogue: { cert: string; key: string };
  cleanup: () => void;
}

const openssl = (cwd: string, args: string[]): void => {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
};

function makeCa(dir: string, name: string): void {
  openssl(dir, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
}

function issue(dir: string, ca: string, name: string, ext: string): { cert: string; key: string } {
  openssl(dir, ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`]);
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'kubeless-delivery-pki-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'rogue-ca');
  const leaf = 'keyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n';
  const server = issue(dir, 'ca', 'server', `subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n${leaf}`);
  const client = `extendedKeyUsage=clientAuth\n${leaf}`;
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    server,
    clientA: issue(dir, 'ca', 'client-a', client),
    clientB: issue(dir, 'ca', 'client-b', client),
    rogue: issue(dir, 'rogue-ca', 'rogue', client),
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const read = (p: string): Buffer => readFileSync(p);
