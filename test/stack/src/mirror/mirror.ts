/**
 * The stack's registry mirror: how function pods install their dependencies, since the stack's
 * network namespace has no route out (docs/local-stack.md#the-network-namespace). As a cluster
 * behind a firewall points npm and pip at an in-house mirror (Artifactory, Nexus, Verdaccio,
 * devpi), the stack's runtimes get `NPM_REGISTRY` and `PIP_INDEX_URL` on the node's address
 * (test/stack/src/testing.ts `stackRuntimeImages`), served by two processes:
 *  - `serve`, outside the namespace, on a unix socket: a read-only mirror of three upstreams
 *    and nothing else (no open proxy): the npm registry, PyPI's simple index and PyPI's files.
 *    It fetches with this machine's trust store, so the pods need no CA of the machine.
 *  - `bridge`, inside the namespace, on the node's address: copies each TCP connection to the
 *    socket (a unix socket crosses network namespaces; a TCP port does not).
 */
import { rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * The settings of the runtimes' install scripts (runtimes/{nodejs,python}/install-deps.sh) that
 * point npm and pip at the mirror at `mirror` (http://host:port): the usual NPM_REGISTRY and
 * pip's own PIP_INDEX_URL, with the mirror's host trusted for plain HTTP.
 */
export function installEnv(mirror: string): Record<string, string> {
  const base = mirror.replace(/\/$/, '');
  return { NPM_REGISTRY: `${base}/npm/`, PIP_INDEX_URL: `${base}/pypi/simple/`, PIP_TRUSTED_HOST: new URL(base).hostname };
}

/** Mirror path prefix -> upstream. Anything else is 404. */
export const UPSTREAMS: Readonly<Record<string, string>> = {
  npm: 'https://registry.npmjs.org',
  pypi: 'https://pypi.org',
  'pypi-files': 'https://files.pythonhosted.org',
};

/** The upstream URL of a mirror path, or undefined when it names no upstream (or tries to leave it). */
export function upstreamOf(urlPath: string): string | undefined {
  const m = /^\/([a-z-]+)(\/[^?#]*)?(\?.*)?$/.exec(urlPath);
  if (!m?.[1]) return undefined;
  const base = UPSTREAMS[m[1]];
  const rest = m[2] ?? '/';
  if (!base || rest.split('/').includes('..')) return undefined;
  return `${base}${rest}${m[3] ?? ''}`;
}

/**
 * Rewrites upstream links in an index or metadata document to the mirror's own, so the client's
 * next requests come back here: npm tarball URLs and PyPI's file links (hashes are kept).
 */
export function rewriteLinks(body: string, publicBase: string): string {
  const base = publicBase.replace(/\/$/, '');
  return body
    .replaceAll('https://registry.npmjs.org/', `${base}/npm/`)
    .replaceAll('https://files.pythonhosted.org/', `${base}/pypi-files/`);
}

const REWRITTEN = /json|html/;
const FORWARDED_REQUEST_HEADERS = ['accept', 'npm-command', 'user-agent', 'if-none-match', 'if-modified-since'];
const FORWARDED_RESPONSE_HEADERS = ['content-type', 'etag', 'last-modified', 'cache-control'];

/** The mirror: GET and HEAD of the upstreams above, index documents rewritten to `publicBase`. */
export function mirrorServer(publicBase: string, log: (line: string) => void): http.Server {
  return http.createServer((req, res) => {
    void (async () => {
      const target = upstreamOf(req.url ?? '/');
      if ((req.method !== 'GET' && req.method !== 'HEAD') || !target) {
        res.writeHead(target ? 405 : 404, { 'content-type': 'text/plain' }).end('the stack mirrors npm and PyPI, GET only\n');
        log(`${String(res.statusCode)} ${req.method ?? ''} ${req.url ?? ''}`);
        return;
      }
      const headers: Record<string, string> = {};
      for (const h of FORWARDED_REQUEST_HEADERS) {
        const v = req.headers[h];
        if (typeof v === 'string') headers[h] = v;
      }
      const up = await fetch(target, { method: req.method, headers, redirect: 'follow', signal: AbortSignal.timeout(120_000) });
      const out: Record<string, string> = {};
      for (const h of FORWARDED_RESPONSE_HEADERS) {
        const v = up.headers.get(h);
        if (v !== null) out[h] = v;
      }
      log(`${String(up.status)} ${req.method} ${target}`);
      if (req.method === 'HEAD' || up.body === null) {
        res.writeHead(up.status, out).end();
        return;
      }
      if (REWRITTEN.test(out['content-type'] ?? '')) {
        res.writeHead(up.status, out).end(rewriteLinks(await up.text(), publicBase));
        return;
      }
      res.writeHead(up.status, out);
      await pipeline(Readable.fromWeb(up.body), res);
    })().catch((err: unknown) => {
      log(`502 ${req.method ?? ''} ${req.url ?? ''}: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end('upstream failed\n');
      else res.destroy();
    });
  });
}

/** Listens on `socketPath` (replacing a stale socket file). */
export async function serve(socketPath: string, publicBase: string, log: (line: string) => void): Promise<http.Server> {
  await rm(socketPath, { force: true });
  const server = mirrorServer(publicBase, log);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
  return server;
}

/** Copies every TCP connection on host:port to the unix socket. */
export async function bridge(host: string, port: number, socketPath: string): Promise<net.Server> {
  const server = net.createServer((client) => {
    const upstream = net.connect({ path: socketPath });
    client.pipe(upstream).pipe(client);
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return server;
}
