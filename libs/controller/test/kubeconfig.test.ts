/**
 * KubeClient follows the kubeconfig's `proxy-url` and `tls-server-name`, on real sockets on
 * 127.0.0.1: an HTTPS server whose certificate names only kube.internal, reached through a CONNECT
 * proxy. No API server: what is under test is the connection, not what is sent over it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { namedServerCert, startConnectProxy, startNamedServer, type ConnectProxy, type NamedCert, type NamedServer } from '@kubeless/stack';
import { ApiError, KubeClient, KubeconfigError, type WatchEvent } from '../src/index.js';

const NAME = 'kube.internal';
const dir = mkdtempSync(path.join(tmpdir(), 'kubeless-kubeconfig-'));
let cert: NamedCert;
let server: NamedServer;
const open: { close: () => unknown }[] = [];

beforeAll(async () => {
  cert = namedServerCert(NAME);
  server = await startNamedServer(cert, (req, res) => {
    if (req.url.includes('watch=true')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify({ type: 'ADDED', object: { kind: 'ConfigMap', metadata: { name: 'a', resourceVersion: '7' } } })}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'ConfigMap', metadata: { name: 'a' } }));
  });
});
afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
  server.requests.length = 0;
});
afterAll(async () => {
  await server.close();
  cert.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** A kubeconfig file for `server` with the given cluster fields (e.g. tls-server-name, proxy-url). */
function kubeconfig(cluster: Record<string, string>): string {
  const file = path.join(dir, `config-${String(Math.random()).slice(2)}`);
  const fields = Object.entries({ server: server.url, 'certificate-authority': cert.caFile, ...cluster }).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`);
  writeFileSync(
    file,
    ['apiVersion: v1', 'kind: Config', 'clusters:', '  - name: named', '    cluster:', ...fields, 'users:', '  - name: u', '    user:', '      token: t0ken', 'contexts:', '  - name: c', '    context: { cluster: named, user: u }', 'current-context: c', ''].join('\n'),
  );
  return file;
}

function client(cluster: Record<string, string>): KubeClient {
  const c = KubeClient.fromKubeconfig(kubeconfig(cluster), { userAgent: 'kubeless-test/kubeconfig' });
  open.push(c);
  return c;
}

async function proxy(options?: { refuse?: number }): Promise<ConnectProxy> {
  const p = await startConnectProxy(options);
  open.push(p);
  return p;
}

const PATH = '/api/v1/namespaces/default/configmaps/a';
const port = (): string => new URL(server.url).port;

describe('proxy-url and tls-server-name', () => {
  it('a request goes through the proxy-url tunnel and checks the certificate against tls-server-name', async () => {
    const p = await proxy();
    const c = client({ 'tls-server-name': NAME, 'proxy-url': p.url.replace('http://', 'http://alice:s3cret@') });
    await expect(c.get(PATH)).resolves.toEqual({ kind: 'ConfigMap', metadata: { name: 'a' } });
    expect(p.tunnels).toEqual([`127.0.0.1:${port()}`]);
    expect(p.authorizations).toEqual([`Basic ${Buffer.from('alice:s3cret').toString('base64')}`]);
    expect(server.requests).toMatchObject([{ sni: NAME, method: 'GET', url: PATH, headers: { authorization: 'Bearer t0ken', 'user-agent': 'kubeless-test/kubeconfig' } }]);
  });

  it('a watch goes through the same tunnel', async () => {
    const p = await proxy();
    const c = client({ 'tls-server-name': NAME, 'proxy-url': p.url });
    const events: WatchEvent[] = [];
    const done = new Promise<unknown>((resolve) => {
      void c.watch('/api/v1/namespaces/default/configmaps', {}, (e) => events.push(e), resolve);
    });
    expect(await done).toBeUndefined();
    expect(events).toMatchObject([{ type: 'ADDED', object: { metadata: { name: 'a' } } }]);
    expect(p.tunnels).toEqual([`127.0.0.1:${port()}`]);
    expect(server.requests[0]).toMatchObject({ sni: NAME, url: expect.stringContaining('watch=true') });
  });

  it('requests on one client reuse its tunnel (keep-alive)', async () => {
    const p = await proxy();
    const c = client({ 'tls-server-name': NAME, 'proxy-url': p.url });
    await c.get(PATH);
    await c.get(PATH);
    expect(server.requests).toHaveLength(2);
    expect(p.tunnels).toHaveLength(1);
  });

  it('tls-server-name without proxy-url: a direct connection that checks the certificate against the name', async () => {
    const p = await proxy();
    const c = client({ 'tls-server-name': NAME });
    await expect(c.get(PATH)).resolves.toMatchObject({ kind: 'ConfigMap' });
    expect(p.tunnels).toEqual([]);
    expect(server.requests).toMatchObject([{ sni: NAME }]);
  });

  it('without tls-server-name the certificate is checked against 127.0.0.1, and the request fails saying so', async () => {
    const p = await proxy();
    const c = client({ 'proxy-url': p.url });
    const err = await c.get(PATH).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ reason: 'ConnectionError', status: 0 });
    expect((err as Error).message).toMatch(/Hostname\/IP does not match certificate's altnames: IP: 127\.0\.0\.1 is not in the cert's list/);
    // The tunnel was opened; the TLS handshake inside it failed, so the server saw no request.
    expect(p.tunnels).toEqual([`127.0.0.1:${port()}`]);
    expect(server.requests).toEqual([]);
  });

  it('a proxy that refuses the tunnel fails the request with its answer, and no credentials in the message', async () => {
    const p = await proxy({ refuse: 407 });
    const c = client({ 'tls-server-name': NAME, 'proxy-url': p.url.replace('http://', 'http://alice:s3cret@') });
    const err = await c.get(PATH).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as Error).message).toMatch(/Failed to establish tunnel to 127\.0\.0\.1:\d+ via http:\/\/127\.0\.0\.1:\d+\/: HTTP\/1\.1 407 Proxy Authentication Required/);
    expect((err as Error).message).not.toContain('s3cret');
    expect(server.requests).toEqual([]);
  });

  it.each(['socks5://127.0.0.1:1080', 'socks5h://bob:pw@proxy:1080'])('a SOCKS proxy-url (%s) is refused when the kubeconfig is loaded', (url) => {
    const err = ((): unknown => {
      try {
        client({ 'proxy-url': url });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(KubeconfigError);
    expect(err).toMatchObject({ code: 'KUBELESS_KUBECONFIG_PROXY', retriable: false });
    expect((err as Error).message).toMatch(/^cluster "named": proxy-url scheme "socks5h?" is not supported; use an http:\/\/ or https:\/\/ proxy/);
    expect((err as Error).message).not.toContain('pw');
  });

  it('an unknown context is a KubeconfigError', () => {
    expect(() => KubeClient.fromKubeconfig(kubeconfig({}), { context: 'nope' })).toThrow(expect.objectContaining({ name: 'KubeconfigError', code: 'KUBELESS_KUBECONFIG_NO_CONTEXT', message: 'context "nope" not found in the kubeconfig' }));
  });
});
