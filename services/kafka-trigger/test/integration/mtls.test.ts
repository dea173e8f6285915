/**
 * mTLS to functions (docs/delivery.md#mtls): with a CA and a client certificate configured, the
 * trigger calls the function over https with its client certificate; a client without one is
 * rejected by the function.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { uniqueName, withNamespace } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder, createTopic, eventually, kafkaTrigger, kubeClient, produce, registerFunction, startController, triggersPath, type RunningController } from './harness.js';

/** A CA, a server certificate for `ip`, and a client certificate, made with openssl. */
function pki(ip: string): { dir: string; ca: string; server: { cert: string; key: string }; client: { cert: string; key: string } } {
  const dir = mkdtempSync(path.join(tmpdir(), 'kafka-mtls-'));
  const ssl = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  };
  ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=test-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  const leaf = (name: string, ext: string): { cert: string; key: string } => {
    writeFileSync(path.join(dir, `${name}.ext`), ext);
    ssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
    return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  };
  return { dir, ca: path.join(dir, 'ca.crt'), server: leaf('server', `subjectAltName=IP:${ip}\nextendedKeyUsage=serverAuth\n`), client: leaf('client', 'extendedKeyUsage=clientAuth\n') };
}

describe('kafka-trigger mTLS to functions', () => {
  const client = kubeClient();
  let ns: { name: string; cleanup: () => Promise<void> };
  let controller: RunningController;
  const fn = new Recorder();
  const certs = pki(fn.ip);

  beforeAll(async () => {
    ns = await withNamespace('kafka-mtls');
    const tls: https.ServerOptions = { cert: readFileSync(certs.server.cert), key: readFileSync(certs.server.key), ca: readFileSync(certs.ca), requestCert: true, rejectUnauthorized: true };
    await registerFunction(client, ns.name, 'secure', fn, {}, tls);
    controller = await startController(ns.name, { deliveryTls: { caFile: certs.ca, certFile: certs.client.cert, keyFile: certs.client.key } });
  }, 60_000);

  afterAll(async () => {
    await controller.stop();
    await fn.close();
    await ns.cleanup();
    client.close();
    rmSync(certs.dir, { recursive: true, force: true });
  });

  it('delivers over https with the client certificate', async () => {
    const topic = uniqueName('secure');
    await createTopic(topic, 1);
    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'secure', { topic, functionName: 'secure', initialOffset: 'earliest' }));
    await produce(topic, [{ value: 'over tls' }]);
    const got = await eventually('delivered over tls', () => Promise.resolve(fn.byId.get('partition:0/offset:0')?.[0]), 30_000);
    expect(got.body.toString()).toBe('over tls');
  }, 40_000);

  it('the function rejects a client without a certificate', async () => {
    const port = Number(/:(\d+)$/u.exec(String(fn.lastAddress))?.[1]);
    const err = await new Promise<Error | undefined>((resolve) => {
      const req = https.request({ host: fn.ip, port, method: 'POST', path: '/', ca: readFileSync(certs.ca) }, (res) => {
        res.resume();
        resolve(undefined);
      });
      req.on('error', resolve);
      req.end('no cert');
    });
    expect(err).toBeDefined();
    expect(fn.received.some((r) => r.body.toString() === 'no cert')).toBe(false);
  });
});
