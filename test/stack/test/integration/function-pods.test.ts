/**
 * Function pods on the stack's node (kubelet, containerd), with the real function controller: the talk's python
 * example and a Node.js one run as pods and answer through their Service's endpoints; scaling,
 * logs, rollouts, deletion and bad code behave as in a cluster.
 */
import { createHash } from 'node:crypto';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient } from '@kubeless/controller';
import { NODE, clients, eventually, kubectlOk, stackInstallEnv, startFunctionController, withNamespace } from '../../src/index.js';

let ns: { name: string; cleanup: () => Promise<void> };
let fc: Awaited<ReturnType<typeof startFunctionController>>;
let client: KubeClient;
const FN = { group: 'kubeless.io', version: 'v1beta1', plural: 'functions' } as const;

beforeAll(async () => {
  ns = await withNamespace('pods');
  // Installs reach npm and PyPI through the stack's registry mirror, as a firewalled cluster's do.
  await kubectlOk(['create', 'configmap', 'kubeless-config', '-n', ns.name, `--from-literal=install-env=${JSON.stringify(stackInstallEnv())}`]);
  fc = await startFunctionController(ns.name, 'kubeless-test/function-pods');
  client = fc.client;
});
afterAll(async () => {
  await fc.stop();
  await ns.cleanup();
});


async function deploy(name: string, spec: Record<string, unknown>, labels: Record<string, string> = {}): Promise<void> {
  await clients().custom.createNamespacedCustomObject({ ...FN, namespace: ns.name, body: { apiVersion: 'kubeless.io/v1beta1', kind: 'Function', metadata: { name, labels }, spec } });
}

async function fnStatus(name: string): Promise<any> {
  return ((await clients().custom.getNamespacedCustomObject({ ...FN, namespace: ns.name, name }))).status ?? {};
}

const ready = (name: string, timeoutMs = 60_000) =>
  eventually(`${name} Ready`, async () => (await fnStatus(name)).conditions?.find((c: any) => c.type === 'Ready')?.status === 'True', timeoutMs);

/** Ready endpoint addresses of the function's Service, from its EndpointSlices. */
async function endpoints(name: string): Promise<string[]> {
  const slices = (await client.list(`/apis/discovery.k8s.io/v1/namespaces/${ns.name}/endpointslices`, { labelSelector: `kubernetes.io/service-name=${name}` })).items as any[];
  return slices.flatMap((s) => (s.endpoints ?? []).filter((e: any) => e.conditions?.ready !== false).flatMap((e: any) => e.addresses as string[]));
}

function call(ip: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: ip, port: 8080, path: '/', method: body === undefined ? 'GET' : 'POST', headers, timeout: 3000 }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: text }); });
    });
    // An address whose pod is gone answers nothing (no ARP reply on the bridge): give up at the timeout.
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

describe('function pods', () => {
  it("runs the talk's python example as a pod that answers through its Service's EndpointSlice", async () => {
    await deploy('foo', { runtime: 'python3.11', handler: 'foo.handler', function: "def handler(event, context):\n    print('got', event['data'])\n    return event['data']\n" }, { foo: 'bar', bar: 'baz' });
    await ready('foo');
    const [ip] = await eventually('endpoint', async () => ((await endpoints('foo')).length > 0 ? endpoints('foo') : undefined));
    expect(ip).toMatch(/^10\.244\./);
    const res = await call(ip!, JSON.stringify({ hey: 'kubecon' }), { 'content-type': 'application/json' });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ hey: 'kubecon' });
    const st = await fnStatus('foo');
    expect(st.readyReplicas).toBe(1);
    // The pod carries the function's labels (for NetworkPolicies).
    const pods = await clients().core.listNamespacedPod({ namespace: ns.name, labelSelector: 'function=foo' });
    expect(pods.items[0]?.metadata?.labels).toMatchObject({ foo: 'bar', bar: 'baz' });
    // kubectl logs reaches the container's output through the API server.
    const logs = await eventually('logs', async () => {
      const out = await kubectlOk(['logs', '-n', ns.name, '-l', 'function=foo', '-c', 'foo']);
      return out.includes("got {'hey': 'kubecon'}") ? out : undefined;
    });
    expect(logs).toContain('got');
  });

  it('runs a Node.js equivalent, also through the API server service proxy', async () => {
    await deploy('hello', { runtime: 'nodejs24', handler: 'index.hello', function: 'module.exports = { hello: (event) => event.data }' });
    await ready('hello');
    const out = await kubectlOk(['get', '--raw', `/api/v1/namespaces/${ns.name}/services/hello:8080/proxy/`]);
    expect(out).toBe('');
    const [ip] = await endpoints('hello');
    const res = await call(ip!, JSON.stringify({ hey: 'kubecon' }), { 'content-type': 'application/json' });
    expect(JSON.parse(res.body)).toEqual({ hey: 'kubecon' });
  });

  it('scales to 3 pods with 3 ready endpoints, each serving requests', async () => {
    await deploy('who', {
      runtime: 'nodejs24',
      handler: 'index.who',
      function: "module.exports = { who: () => require('os').hostname() }",
      deployment: { spec: { replicas: 3 } },
    });
    const ips = await eventually('3 endpoints', async () => {
      const e = await endpoints('who');
      return e.length === 3 ? e : undefined;
    }, 60_000);
    expect(new Set(ips).size).toBe(3);
    // Each address is a pod of its own, which answers with its own name (its hostname).
    const pods = (await clients().core.listNamespacedPod({ namespace: ns.name, labelSelector: 'function=who' })).items;
    const nameOf = new Map(pods.map((p) => [p.status?.podIP, p.metadata?.name]));
    for (const ip of ips) expect((await call(ip)).body).toBe(nameOf.get(ip));
    // The Function's status follows the Deployment's at the controller's next reconcile: a moment
    // after the endpoints (CI once read 2 here right after the third endpoint became ready).
    await eventually('status shows 3 ready replicas', async () => ((await fnStatus('who')).readyReplicas === 3 ? true : undefined), 15_000);
  });

  it('rolls the pods on a code change: the answer changes', async () => {
    const before = await endpoints('hello');
    await client.mergePatch(`/apis/kubeless.io/v1beta1/namespaces/${ns.name}/functions/hello`, { spec: { function: "module.exports = { hello: () => 'v2' }" } });
    const ip = await eventually('new pod', async () => {
      const e = await endpoints('hello');
      const fresh = e.filter((x) => !before.includes(x));
      return fresh.length === 1 && e.length === 1 ? fresh[0] : undefined;
    }, 60_000);
    expect((await call(ip)).body).toBe('v2');
  });

  it('removes the pods and stops their processes when the function is deleted', async () => {
    const ips = await endpoints('who');
    await clients().custom.deleteNamespacedCustomObject({ ...FN, namespace: ns.name, name: 'who' });
    await eventually('pods gone', async () => (await clients().core.listNamespacedPod({ namespace: ns.name, labelSelector: 'function=who' })).items.length === 0, 60_000);
    // A gone pod's address answers nothing (each attempt waits out ARP): all at once.
    await Promise.all(ips.map((ip) => expect(call(ip)).rejects.toThrow()));
  });

  it('reports bad code in the Function status: a syntax error, a checksum mismatch', async () => {
    await deploy('broken', { runtime: 'python3.11', handler: 'broken.handler', function: 'def handler(event, context)\n    return 1\n' });
    const st = await eventually('broken reported', async () => {
      const s = await fnStatus('broken');
      const d = s.conditions?.find((c: any) => c.type === 'DeploymentReady');
      return d?.reason === 'CrashLoopBackOff' ? d : undefined;
    }, 60_000);
    expect(st.message).toMatch(/SyntaxError|invalid syntax|expected ':'/);

    await deploy('tampered', { runtime: 'nodejs24', handler: 'index.h', function: "module.exports = { h: () => 'x' }", checksum: `sha256:${'0'.repeat(64)}` });
    const bad = await eventually('checksum reported', async () => {
      const s = await fnStatus('tampered');
      const d = s.conditions?.find((c: any) => c.type === 'DeploymentReady');
      return d?.reason === 'InitContainerFailed' ? d : undefined;
    }, 60_000);
    expect(bad.message).toMatch(/checksum/i);
    // Others keep running meanwhile.
    expect((await fnStatus('foo')).conditions?.find((c: any) => c.type === 'Ready')?.status).toBe('True');
  });

  it('gives a function with a ServiceAccount what its Role allows, and no more', async () => {
    await kubectlOk(['create', 'serviceaccount', 'reader', '-n', ns.name]);
    await kubectlOk(['create', 'role', 'cm-reader', '--verb=get,list', '--resource=configmaps', '-n', ns.name]);
    await kubectlOk(['create', 'rolebinding', 'cm-reader', '--role=cm-reader', `--serviceaccount=${ns.name}:reader`, '-n', ns.name]);
    const code = `const fs = require('fs'); const https = require('https');
const dir = '/var/run/secrets/kubernetes.io/serviceaccount';
const get = (p) => new Promise((resolve) => https.get({ host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT, path: p,
  ca: fs.readFileSync(dir + '/ca.crt'), headers: { authorization: 'Bearer ' + fs.readFileSync(dir + '/token', 'utf8') } }, (r) => { r.resume(); resolve(r.statusCode); }).on('error', (e) => resolve(String(e))));
module.exports = { check: async () => ({ configmaps: await get('/api/v1/namespaces/${ns.name}/configmaps'), secrets: await get('/api/v1/namespaces/${ns.name}/secrets') }) };`;
    await deploy('identity', { runtime: 'nodejs24', handler: 'index.check', function: code, deployment: { spec: { template: { spec: { serviceAccountName: 'reader' } } } } });
    await ready('identity');
    const [ip] = await endpoints('identity');
    expect(JSON.parse((await call(ip!)).body)).toEqual({ configmaps: 200, secrets: 403 });
  });

  it('installs dependencies in the init step: requirements.txt and package.json', async () => {
    await deploy('pydeps', {
      runtime: 'python3.11',
      handler: 'f.handler',
      function: 'import six\ndef handler(event, context):\n    return six.__name__\n',
      deps: 'six==1.16.0\n',
    });
    await deploy('nodedeps', {
      runtime: 'nodejs24',
      handler: 'index.h',
      function: "const isNumber = require('is-number'); module.exports = { h: () => String(isNumber(42)) }",
      deps: JSON.stringify({ name: 'f', version: '1.0.0', dependencies: { 'is-number': '7.0.0' } }),
    });
    await ready('pydeps', 120_000);
    await ready('nodedeps', 120_000);
    expect((await call((await endpoints('pydeps'))[0]!)).body).toBe('six');
    expect((await call((await endpoints('nodedeps'))[0]!)).body).toBe('true');
    const pod = (await clients().core.listNamespacedPod({ namespace: ns.name, labelSelector: 'function=pydeps' })).items[0];
    expect(pod?.spec?.initContainers?.map((c) => c.name)).toEqual(['prepare', 'install']);
    // Installs fetch from PyPI and the npm registry: room for both waits above, on a slow network.
  }, 250_000);

  it('reports a missing handler, a failing deps install and a url whose checksum does not match', async () => {
    const body = "module.exports = { h: () => 'from url' }";
    const server = createServer((_req, res) => res.end(body));
    // On the node's address, which pods reach (127.0.0.1 would be their own).
    await new Promise<void>((r) => server.listen(0, NODE.ip, r));
    const url = `http://${NODE.ip}:${String((server.address() as AddressInfo).port)}/index.js`;
    try {
      await deploy('nohandler', { runtime: 'nodejs24', handler: 'index.missing', function: "module.exports = { other: () => 'x' }" });
      await deploy('baddeps', { runtime: 'python3.11', handler: 'f.handler', function: 'def handler(e, c):\n    return 1\n', deps: 'this-package-does-not-exist-kubeless==0.0.1\n' });
      await deploy('badurl', { runtime: 'nodejs24', handler: 'index.h', 'function-content-type': 'url', function: url, checksum: `sha256:${createHash('sha256').update('something else').digest('hex')}` });
      await deploy('goodurl', { runtime: 'nodejs24', handler: 'index.h', 'function-content-type': 'url', function: url, checksum: `sha256:${createHash('sha256').update(body).digest('hex')}` });
      const reason = async (name: string, want: string): Promise<any> =>
        eventually(`${name} ${want}`, async () => {
          const d = (await fnStatus(name)).conditions?.find((c: any) => c.type === 'DeploymentReady');
          return d?.reason === want ? d : undefined;
        }, 120_000);
      expect((await reason('nohandler', 'CrashLoopBackOff')).message).toMatch(/missing/);
      expect((await reason('baddeps', 'InitContainerFailed')).message).toMatch(/install/);
      expect((await reason('badurl', 'InitContainerFailed')).message).toMatch(/checksum/i);
      await ready('goodurl');
      expect((await call((await endpoints('goodurl'))[0]!)).body).toBe('from url');
    } finally {
      server.close();
    }
  });
});
