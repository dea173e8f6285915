import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DeliveryClient, DeliveryError, readTls, tlsStamp, type HttpMessage, type TlsFiles } from '../src/index.js';
import { makePki, read, startServer, type Pki, type TestServer } from './helpers.js';

const message: HttpMessage = { headers: { 'content-type': 'text/plain' }, body: 'hi' };
const send = { timeoutMs: 5000 };

let pki: Pki;
let server: TestServer;
let client: DeliveryClient | undefined;
let mount: string;
let files: Required<TlsFiles>;
/** The client certificate CN the server saw, per request. */
let peers: string[];

beforeAll(async () => {
  pki = makePki();
  peers = [];
  server = await startServer(
    (req, res) => {
      const cert = (req.socket as TLSSocket).getPeerCertificate();
      peers.push(String(cert.subject.CN));
      res.writeHead(200).end('ok');
    },
    { key: read(pki.server.key), cert: read(pki.server.cert), ca: read(pki.ca), requestCert: true, rejectUnauthorized: true },
  );
});

afterAll(async () => {
  await server.close();
  pki.cleanup();
});

beforeEach(() => {
  // Like a mounted Secret: fixed paths whose content changes.
  mount = join(pki.dir, `mount-${String(Date.now())}-${String(Math.random()).slice(2)}`);
  mkdirSync(mount);
  files = { caFile: join(mount, 'ca.crt'), certFile: join(mount, 'tls.crt'), keyFile: join(mount, 'tls.key') };
  copyFileSync(pki.ca, files.caFile);
  copyFileSync(pki.clientA.cert, files.certFile);
  copyFileSync(pki.clientA.key, files.keyFile);
  peers.length = 0;
});

afterEach(async () => {
  await client?.close();
  client = undefined;
  rmSync(mount, { recursive: true, force: true });
});

const newClient = (tls: TlsFiles | undefined, intervalMs?: number): DeliveryClient => {
  client = new DeliveryClient({ userAgent: 'kubeless-test', tls, ...(intervalMs === undefined ? {} : { tlsReloadIntervalMs: intervalMs }) });
  return client;
};

/** File mtimes tick on the kernel's coarse clock: let it move so an in-place rewrite is seen. */
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 25));

async function install(identity: { cert: string; key: string }): Promise<void> {
  await tick();
  writeFileSync(files.certFile, read(identity.cert));
  writeFileSync(files.keyFile, read(identity.key));
}

async function failure(p: Promise<unknown>): Promise<DeliveryError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(DeliveryError);
    return err as DeliveryError;
  }
  throw new Error('expected the send to fail');
}

describe('DeliveryClient with mTLS', () => {
  it('presents the client certificate and verifies the server against the CA', async () => {
    const c = newClient(files);
    expect(await c.send(server.url, message, send)).toEqual({ status: 200 });
    expect(await c.send(server.url, message, send)).toEqual({ status: 200 });
    expect(peers).toEqual(['client-a', 'client-a']);
  });

  it('is rejected by the server without a client certificate', async () => {
    const c = newClient({ caFile: files.caFile });
    const e = await failure(c.send(server.url, message, send));
    expect(e.kind).toBe('Connection');
    expect(e.retriable).toBe(true);
    expect(peers).toEqual([]);
  });

  it('refuses a server whose certificate it cannot verify', async () => {
    const c = newClient({ certFile: files.certFile, keyFile: files.keyFile }); // no CA: the system roots do not know ours
    const e = await failure(c.send(server.url, message, send));
    expect(e.kind).toBe('Connection');
    expect(e.message).toMatch(/certificate/iu);
    expect(peers).toEqual([]);
  });

  it('reloads changed files: an untrusted identity fails, the valid one works again', async () => {
    const c = newClient(files);
    expect(await c.send(server.url, message, send)).toEqual({ status: 200 });
    expect(c.reloadIfChanged()).toBe(false); // nothing changed yet

    await install(pki.rogue);
    expect(c.reloadIfChanged()).toBe(true);
    expect(c.reloadIfChanged()).toBe(false);
    const e = await failure(c.send(server.url, message, send));
    expect(e.kind).toBe('Connection');
    expect(e.retriable).toBe(true);

    await install(pki.clientA);
    expect(c.reloadIfChanged()).toBe(true);
    expect(await c.send(server.url, message, send)).toEqual({ status: 200 });
    expect(peers).toEqual(['client-a', 'client-a']);
  });

  it('uses a rotated identity for the next request, not only for new processes', async () => {
    const c = newClient(files);
    await c.send(server.url, message, send);
    await install(pki.clientB);
    expect(c.reloadIfChanged()).toBe(true);
    await c.send(server.url, message, send);
    expect(peers).toEqual(['client-a', 'client-b']);
  });

  it('keeps the previous identity while the files are half written (new cert, old key)', async () => {
    const c = newClient(files);
    await c.send(server.url, message, send);
    await tick();
    writeFileSync(files.certFile, read(pki.clientB.cert));
    expect(c.reloadIfChanged()).toBe(false);
    expect(await c.send(server.url, message, send)).toEqual({ status: 200 });
    await tick();
    writeFileSync(files.keyFile, read(pki.clientB.key));
    expect(c.reloadIfChanged()).toBe(true);
    await c.send(server.url, message, send);
    expect(peers).toEqual(['client-a', 'client-a', 'client-b']);
  });

  it('keeps the previous identity while a file is missing', async () => {
    const c = newClient(files);
    rmSync(files.keyFile);
    expect(c.reloadIfChanged()).toBe(false);
    expect(await c.send(server.url, message, send)).toEqual({ status: 200 });
    copyFileSync(pki.clientB.key, files.keyFile);
    copyFileSync(pki.clientB.cert, files.certFile);
    expect(c.reloadIfChanged()).toBe(true);
    await c.send(server.url, message, send);
    expect(peers).toEqual(['client-a', 'client-b']);
  });

  it('notices changed files on its own timer', async () => {
    const c = newClient(files, 50);
    await c.send(server.url, message, send);
    await install(pki.clientB);
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 60));
      await c.send(server.url, message, send);
      if (peers.at(-1) === 'client-b') break;
    }
    expect(peers.at(-1)).toBe('client-b');
    expect(c.reloadIfChanged()).toBe(false); // the timer already took it
  });

  it('reloadIfChanged is false without TLS files', async () => {
    const c = newClient(undefined);
    expect(c.reloadIfChanged()).toBe(false);
    await c.close();
    client = undefined;
  });
});

describe('readTls and tlsStamp', () => {
  it('reads the files given, and refuses a certificate without its key', () => {
    const m = readTls(files);
    expect(m.ca?.equals(read(pki.ca))).toBe(true);
    expect(m.cert?.equals(read(pki.clientA.cert))).toBe(true);
    expect(m.key?.equals(read(pki.clientA.key))).toBe(true);
    expect(readTls({ caFile: files.caFile })).toEqual({ ca: read(pki.ca) });
    expect(() => readTls({ certFile: files.certFile })).toThrow(RangeError);
    expect(() => readTls({ keyFile: files.keyFile })).toThrow(RangeError);
  });

  it('names the path, never the content, when a file cannot be read', () => {
    const missing = join(mount, 'nope.crt');
    expect(() => readTls({ caFile: missing })).toThrow(missing);
  });

  it('changes when a file changes, is stable otherwise, and marks missing files', async () => {
    const before = tlsStamp(files);
    expect(tlsStamp(files)).toBe(before);
    expect(tlsStamp({})).toBe('-|-|-');
    await install(pki.clientB);
    expect(tlsStamp(files)).not.toBe(before);
    expect(tlsStamp({ caFile: join(mount, 'gone') })).toBe('missing|-|-');
  });
});
