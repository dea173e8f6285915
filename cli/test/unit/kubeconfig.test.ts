/**
 * The binary follows the kubeconfig's `proxy-url` and `tls-server-name` on both of its paths to
 * the API server (the JSON client, and the raw requests of `function call`), on real sockets on
 * 127.0.0.1: an HTTPS server whose certificate names only kube.internal, answering the two
 * requests `function call` makes, reached through a CONNECT proxy.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { namedServerCert, startConnectProxy, startNamedServer, type ConnectProxy, type NamedCert, type NamedServer } from '@kubeless/stack';

const BIN = fileURLToPath(new URL('../../bin/kubeless.js', import.meta.url));
const NAME = 'kube.internal';
const FUNCTION = '/apis/kubeless.io/v1beta1/namespaces/ns1/functions/hello';
const CALL = '/api/v1/namespaces/ns1/services/hello%3Ahttp-function-port/proxy/';

const dir = mkdtempSync(path.join(tmpdir(), 'kubeless-cli-kubeconfig-'));
let cert: NamedCert;
let server: NamedServer;
let proxy: ConnectProxy;

beforeAll(async () => {
  cert = namedServerCert(NAME);
  server = await startNamedServer(cert, (req, res) => {
    if (req.url === FUNCTION) {
      const fn = { apiVersion: 'kubeless.io/v1beta1', kind: 'Function', metadata: { name: 'hello', namespace: 'ns1' }, spec: { runtime: 'nodejs24', handler: 'h.hello', function: '', service: { ports: [{ name: 'http-function-port', port: 8080 }] } } };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(fn));
    } else if (req.url === CALL) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('hello world');
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404, message: `${req.url} not found` }));
    }
  });
});
afterEach(async () => {
  await proxy.close();
  server.requests.length = 0;
});
afterAll(async () => {
  await server.close();
  cert.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** A kubeconfig with context `c` on `cluster`'s fields (and `other`, a context on a second cluster, when given). */
function kubeconfig(cluster: Record<string, string>, other?: Record<string, string>): string {
  const file = path.join(dir, `config-${String(Math.random()).slice(2)}`);
  const clusterYaml = (name: string, fields: Record<string, string>): string[] => [
    `  - name: ${name}`,
    '    cluster:',
    ...Object.entries({ server: server.url, 'certificate-authority': cert.caFile, ...fields }).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`),
  ];
  const lines = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    ...clusterYaml('named', cluster),
    ...(other ? clusterYaml('other', other) : []),
    'users:',
    '  - name: u',
    '    user:',
    '      token: t0ken',
    'contexts:',
    '  - name: c',
    '    context: { cluster: named, user: u, namespace: ns1 }',
    ...(other ? ['  - name: other', '    context: { cluster: other, user: u, namespace: ns1 }'] : []),
    'current-context: c',
    '',
  ];
  writeFileSync(file, lines.join('\n'));
  return file;
}

function kubeless(args: string[], kubeconfigFile: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, KUBECONFIG: kubeconfigFile }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('kubeconfig proxy-url and tls-server-name', () => {
  it('function call reads the Function and calls it through the proxy, checking the certificate against tls-server-name', async () => {
    proxy = await startConnectProxy();
    const r = await kubeless(['function', 'call', 'hello'], kubeconfig({ 'tls-server-name': NAME, 'proxy-url': proxy.url }));
    expect(r).toEqual({ code: 0, stdout: 'hello world\n', stderr: '' });
    expect(server.requests.map((q) => [q.sni, q.method, q.url, q.headers.authorization])).toEqual([
      [NAME, 'GET', FUNCTION, 'Bearer t0ken'],
      [NAME, 'GET', CALL, 'Bearer t0ken'],
    ]);
    // One keep-alive tunnel carries both requests.
    expect(proxy.tunnels).toEqual([`127.0.0.1:${new URL(server.url).port}`]);
  });

  it('without tls-server-name the certificate does not name 127.0.0.1: one line on stderr, exit 1', async () => {
    proxy = await startConnectProxy();
    const r = await kubeless(['function', 'call', 'hello'], kubeconfig({ 'proxy-url': proxy.url }));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: .*Hostname\/IP does not match certificate's altnames: IP: 127\.0\.0\.1 is not in the cert's list.*\n$/);
    expect(proxy.tunnels).toHaveLength(1);
    expect(server.requests).toEqual([]);
  });

  it('a SOCKS proxy-url is refused with a clear message; --context picks a usable cluster before it is checked', async () => {
    proxy = await startConnectProxy();
    const file = kubeconfig({ 'proxy-url': 'socks5://127.0.0.1:1080' }, { 'tls-server-name': NAME, 'proxy-url': proxy.url });
    const refused = await kubeless(['function', 'call', 'hello'], file);
    expect(refused).toEqual({ code: 1, stdout: '', stderr: 'Error: cannot load the kubeconfig: cluster "named": proxy-url scheme "socks5" is not supported; use an http:// or https:// proxy (SOCKS is not supported)\n' });
    const other = await kubeless(['--context', 'other', 'function', 'call', 'hello'], file);
    expect(other).toEqual({ code: 0, stdout: 'hello world\n', stderr: '' });
    expect(proxy.tunnels).toHaveLength(1);
  });
});
