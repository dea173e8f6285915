/**
 * A server behind a name and a proxy, all on 127.0.0.1, for the tests of the kubeconfig's
 * `tls-server-name` and `proxy-url` (KubeClient's and the CLI's): a throwaway CA with a server
 * certificate for one DNS name only (not 127.0.0.1, so only a client that checks the certificate
 * against that name accepts it), an HTTPS server that records the SNI of each request, and an HTTP
 * CONNECT proxy that records the tunnels it opens. Certificates come from openssl, as in the
 * other TLS tests.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';

export interface NamedCert {
  /** The CA's certificate file (a kubeconfig's `certificate-authority`). */
  caFile: string;
  cert: Buffer;
  key: Buffer;
  cleanup: () => void;
}

/** A CA and a server certificate whose only subject alternative name is `DNS:<name>`. */
export function namedServerCert(name: string): NamedCert {
  const dir = mkdtempSync(path.join(tmpdir(), 'kubeless-named-cert-'));
  const openssl = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=kubeless-test-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature']);
  openssl(['req', '-new', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${name}`]);
  writeFileSync(path.join(dir, 'server.ext'), `subjectAltName=DNS:${name}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', 'server.crt', '-extfile', 'server.ext']);
  return {
    caFile: path.join(dir, 'ca.crt'),
    cert: readFileSync(path.join(dir, 'server.crt')),
    key: readFileSync(path.join(dir, 'server.key')),
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A request as the named server saw it. */
export interface NamedRequest {
  /** The TLS server name the client sent (SNI); false when it sent none (as for an IP address). */
  sni: string | false;
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface NamedServer {
  /** `https://127.0.0.1:<port>` */
  url: string;
  requests: NamedRequest[];
  close: () => Promise<void>;
}

/** An HTTPS server on 127.0.0.1, port 0, with `cert`; `handler` answers, every request is recorded. */
export async function startNamedServer(cert: NamedCert, handler: (req: NamedRequest, res: http.ServerResponse) => void): Promise<NamedServer> {
  const requests: NamedRequest[] = [];
  const server = https.createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const seen: NamedRequest = { sni: (req.socket as TLSSocket).servername ?? false, method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() };
      requests.push(seen);
      handler(seen, res);
    });
  });
  // A client that rejects the certificate ends the handshake: not the server's error.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${String((server.address() as net.AddressInfo).port)}`,
    requests,
    close: () => closeServer(server),
  };
}

export interface ConnectProxy {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** The `host:port` of each CONNECT it accepted, in order. */
  tunnels: string[];
  /** The Proxy-Authorization header of each CONNECT, or undefined. */
  authorizations: (string | undefined)[];
  close: () => Promise<void>;
}

/**
 * An HTTP proxy on 127.0.0.1, port 0, that only tunnels (CONNECT) to 127.0.0.1; `refuse` answers
 * every CONNECT with that status instead (e.g. 407). Plain proxied requests get 501.
 */
export async function startConnectProxy(options: { refuse?: number } = {}): Promise<ConnectProxy> {
  const tunnels: string[] = [];
  const authorizations: (string | undefined)[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((_req, res) => {
    res.writeHead(501).end();
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    authorizations.push(req.headers['proxy-authorization']);
    const target = req.url ?? '';
    const { hostname, port } = new URL(`http://${target}`);
    if (options.refuse !== undefined || hostname !== '127.0.0.1') {
      const status = options.refuse ?? 403;
      client.end(`HTTP/1.1 ${String(status)} ${http.STATUS_CODES[status] ?? 'Refused'}\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    tunnels.push(target);
    const upstream = net.connect(Number(port), hostname, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${String((server.address() as net.AddressInfo).port)}`,
    tunnels,
    authorizations,
    close: async () => {
      for (const s of sockets) s.destroy();
      await closeServer(server);
    },
  };
}

async function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => {
    resolve();
  }));
}
