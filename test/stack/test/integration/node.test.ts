/**
 * The stack's real node: kubelet, containerd and runc run pods from images built here, and
 * enforce what the pod asks for: user, read-only root, dropped capabilities, seccomp, a memory
 * limit (OOMKilled, then restarted), Secret volumes and the ServiceAccount token at their usual
 * paths; `kubectl logs` and `exec` reach the container; a pod that breaks runAsNonRoot never starts.
 * Service names resolve through CoreDNS, ClusterIPs work through kube-proxy, and a pod's token
 * reaches the API server as kubernetes.default with its ServiceAccount's rights.
 * NetworkPolicies are enforced (kube-network-policies): ingress and egress, by pod and namespace.
 * The scheduler places every pod on the node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STACK_IMAGES, eventually, kubectl, kubectlOk, withNamespace } from '../../src/index.js';

const NODE = 'kubeless-node';
const BUSYBOX = STACK_IMAGES.busybox;
let ns: { name: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  ns = await withNamespace('node');
});
afterAll(async () => {
  await ns.cleanup();
});

interface ContainerStatus {
  restartCount: number;
  ready: boolean;
  state?: { running?: object; waiting?: { reason?: string; message?: string } };
  lastState?: { terminated?: { reason?: string; exitCode?: number } };
}

async function containerStatus(pod: string): Promise<ContainerStatus | undefined> {
  const out = await kubectlOk(['get', 'pod', pod, '-n', ns.name, '-o', 'json']);
  const obj = JSON.parse(out) as { status?: { containerStatuses?: ContainerStatus[] } };
  return obj.status?.containerStatuses?.[0];
}

function pod(name: string, container: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns.name },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'main', image: BUSYBOX, imagePullPolicy: 'Never', ...container }],
      ...extra,
    },
  });
}

/** A pod of the Debian-based python image built here (glibc, a real resolver and TLS stack). */
function pythonPod(name: string): string {
  return pod(name, { image: STACK_IMAGES.python311, command: ['sleep', '3600'] }, { securityContext: { runAsUser: 1000, runAsNonRoot: true } });
}

describe('the stack node', () => {
  it('is registered and Ready, with the pinned kubelet and containerd', async () => {
    const node = JSON.parse(await kubectlOk(['get', 'node', NODE, '-o', 'json'])) as {
      status: { conditions: { type: string; status: string }[]; nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string }; addresses: { type: string; address: string }[] };
    };
    expect(node.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(node.status.nodeInfo.kubeletVersion).toBe('v1.35.4');
    expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\/2\.4\./);
    expect(node.status.addresses).toContainEqual({ type: 'InternalIP', address: '10.240.0.1' });
  });

  it('runs a pod as its security context says, with its Secret and ServiceAccount token mounted', async () => {
    await kubectlOk(['create', 'secret', 'generic', 'test-secret', '-n', ns.name, '--from-literal=key=s3cr3t']);
    const script = [
      'echo "uid=$(id -u)"',
      'echo "secret=$(cat /test-secret/key)"',
      'test -s /var/run/secrets/kubernetes.io/serviceaccount/token && echo token=present',
      'echo "namespace=$(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace)"',
      'touch /rootfs-write 2>&1 | grep -q "Read-only file system" && echo root=readonly',
      'touch /tmp/ok && echo tmp=writable',
      'grep -E "^(CapEff|Seccomp):" /proc/self/status | tr -d "\\t"',
      'echo "memlimit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"',
      'echo ready; exec sleep 3600',
    ].join('; ');
    await kubectlOk(['apply', '-f', '-'], {
      input: pod(
        'secure',
        {
          command: ['sh', '-c', script],
          securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          resources: { limits: { memory: '64Mi' } },
          volumeMounts: [
            { name: 'secret', mountPath: '/test-secret', readOnly: true },
            { name: 'tmp', mountPath: '/tmp' },
          ],
        },
        {
          securityContext: { runAsUser: 1000, runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
          volumes: [
            { name: 'secret', secret: { secretName: 'test-secret' } },
            { name: 'tmp', emptyDir: {} },
          ],
        },
      ),
    });
    const logs = await eventually(
      'the secure pod logs ready',
      async () => {
        const r = await kubectl(['logs', 'secure', '-n', ns.name]);
        expect(r.stdout).toContain('ready');
        return r.stdout;
      },
      60_000,
    );
    expect(logs).toContain('uid=1000');
    expect(logs).toContain('secret=s3cr3t');
    expect(logs).toContain('token=present');
    expect(logs).toContain(`namespace=${ns.name}`);
    expect(logs).toContain('root=readonly');
    expect(logs).toContain('tmp=writable');
    expect(logs).toContain('CapEff:0000000000000000');
    expect(logs).toContain('Seccomp:2'); // filter mode
    expect(logs).toContain(`memlimit=${String(64 * 1024 * 1024)}`);

    const exec = await kubectlOk(['exec', 'secure', '-n', ns.name, '--', 'sh', '-c', 'id -u; cat /test-secret/key']);
    expect(exec.split('\n')).toEqual(['1000', 's3cr3t']);
    const ip = await kubectlOk(['get', 'pod', 'secure', '-n', ns.name, '-o', 'jsonpath={.status.podIP}']);
    expect(ip).toMatch(/^10\.244\.(1[2-8]\d|19[01])\.\d+$/); // the node's CNI range, 10.244.128.0/18
  });

  it('kills a container that allocates past its memory limit (OOMKilled) and restarts it', async () => {
    // `tail` of an endless line keeps it all in memory: the container's main process is the one killed.
    await kubectlOk(['apply', '-f', '-'], { input: pod('hog', { command: ['tail', '/dev/zero'], resources: { limits: { memory: '32Mi' } } }) });
    const status = await eventually(
      'the hog OOMKilled',
      async () => {
        const s = await containerStatus('hog');
        expect(s?.lastState?.terminated?.reason).toBe('OOMKilled');
        return s;
      },
      60_000,
    );
    expect(status.lastState?.terminated?.exitCode).toBe(137);
    expect(status.restartCount).toBeGreaterThanOrEqual(1);
  });

  it('never starts a pod that asks for root with runAsNonRoot, and says why', async () => {
    await kubectlOk(['apply', '-f', '-'], {
      input: pod('root', { command: ['sleep', '3600'], securityContext: { runAsUser: 0, runAsNonRoot: true } }),
    });
    const waiting = await eventually(
      'the root pod refused',
      async () => {
        const s = await containerStatus('root');
        expect(s?.state?.waiting?.reason).toBe('CreateContainerConfigError');
        return s?.state?.waiting;
      },
      60_000,
    );
    expect(waiting.message).toMatch(/non-root/);
    expect((await containerStatus('root'))?.restartCount).toBe(0);
  });

  it('resolves Service names through CoreDNS and reaches Services through kube-proxy', async () => {
    const web = 'mkdir -p /tmp/www && echo hello-from-web > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www';
    await kubectlOk(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          { ...JSON.parse(pod('web', { command: ['sh', '-c', web], volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }] }, { volumes: [{ name: 'tmp', emptyDir: {} }] })), metadata: { name: 'web', namespace: ns.name, labels: { app: 'web' } } },
          JSON.parse(pythonPod('client')),
          { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: ns.name }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } },
        ],
      }),
    });
    await kubectlOk(['wait', '-n', ns.name, '--for=condition=Ready', 'pod/web', 'pod/client', '--timeout=60s']);
    const clusterIp = await kubectlOk(['get', 'service', 'web', '-n', ns.name, '-o', 'jsonpath={.spec.clusterIP}']);
    const resolve = (name: string) => kubectlOk(['exec', 'client', '-n', ns.name, '--', 'python3', '-c', `import socket; print(socket.gethostbyname(${JSON.stringify(name)}))`]);
    expect((await resolve('kubernetes.default.svc.cluster.local')).trim()).toBe('10.96.0.1');
    // The pod's search path; once CoreDNS's watch has seen the new Service (a moment after it is created).
    expect(await eventually('web resolving in the pod', async () => (await resolve('web').catch(() => '')).trim() || undefined, 30_000)).toBe(clusterIp);
    for (const url of ['http://web/', `http://web.${ns.name}.svc.cluster.local/`, `http://${clusterIp}/`]) {
      const get = `import urllib.request; print(urllib.request.urlopen(${JSON.stringify(url)}, timeout=3).read().decode().strip())`;
      const body = await eventually(`${url} from a pod`, async () => (await kubectlOk(['exec', 'client', '-n', ns.name, '--', 'python3', '-c', get])).trim(), 30_000);
      expect(body, url).toBe('hello-from-web');
    }
  });

  it('lets a pod reach the API server as kubernetes.default with its ServiceAccount token: 403, then 200 after a Role', async () => {
    await kubectlOk(['apply', '-f', '-'], { input: pythonPod('incluster') });
    await kubectlOk(['wait', '-n', ns.name, '--for=condition=Ready', 'pod/incluster', '--timeout=60s']);
    // In-cluster configuration by hand, as client libraries do it: the token and CA at their
    // usual paths, the API server as kubernetes.default.svc, its certificate verified.
    const listPods = `
import json, ssl, urllib.error, urllib.request
sa = '/var/run/secrets/kubernetes.io/serviceaccount/'
req = urllib.request.Request('https://kubernetes.default.svc/api/v1/namespaces/' + open(sa + 'namespace').read() + '/pods',
                             headers={'Authorization': 'Bearer ' + open(sa + 'token').read()})
try:
    body = urllib.request.urlopen(req, context=ssl.create_default_context(cafile=sa + 'ca.crt'), timeout=5).read()
    print(200, json.loads(body)['kind'])
except urllib.error.HTTPError as e:
    print(e.code)
`;
    const call = async (): Promise<string> => (await kubectlOk(['exec', 'incluster', '-n', ns.name, '--', 'python3', '-c', listPods])).trim();
    expect(await call()).toBe('403');
    await kubectlOk(['create', 'role', 'pod-reader', '-n', ns.name, '--verb=list', '--resource=pods']);
    await kubectlOk(['create', 'rolebinding', 'pod-reader', '-n', ns.name, '--role=pod-reader', `--serviceaccount=${ns.name}:default`]);
    expect(await eventually('the pod list with the Role', async () => ((await call()) === '200 PodList' ? '200 PodList' : undefined), 30_000)).toBe('200 PodList');
  });

  it('enforces NetworkPolicies: a denied connection times out, an allowed namespace and the node get through, egress limited to DNS', async () => {
    const peer = await withNamespace('node-peer');
    try {
      const web = JSON.parse(pod('np-web', { command: ['httpd', '-f', '-p', '8080', '-h', '/bin'] })) as { metadata: Record<string, unknown> };
      web.metadata.labels = { app: 'np-web' };
      const client = JSON.parse(pythonPod('np-client')) as { metadata: Record<string, unknown> };
      client.metadata.namespace = peer.name;
      await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [web, client] }) });
      await kubectlOk(['wait', '-n', ns.name, '--for=condition=Ready', 'pod/np-web', '--timeout=60s']);
      await kubectlOk(['wait', '-n', peer.name, '--for=condition=Ready', 'pod/np-client', '--timeout=60s']);
      const webIp = await kubectlOk(['get', 'pod', 'np-web', '-n', ns.name, '-o', 'jsonpath={.status.podIP}']);
      // connected, timeout (a policy dropped the SYN) or the error's name (e.g. ConnectionRefusedError).
      const probe = 'import socket, sys\ntry:\n    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close(); print("connected")\nexcept socket.timeout:\n    print("timeout")\nexcept OSError as e:\n    print(type(e).__name__)\n';
      const connect = async (host: string, port: number): Promise<string> => (await kubectlOk(['exec', 'np-client', '-n', peer.name, '--', 'python3', '-c', probe, host, String(port)])).trim();
      const becomes = (want: string, host: string, port: number): Promise<string> =>
        eventually(`${host}:${String(port)} ${want}`, async () => ((await connect(host, port)) === want ? want : undefined), 20_000);
      const policy = (name: string, namespace: string, spec: object): string => JSON.stringify({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec });

      expect(await connect(webIp, 8080)).toBe('connected');
      // Ingress: a policy that selects the pod and admits nothing.
      await kubectlOk(['apply', '-f', '-'], { input: policy('deny-web', ns.name, { podSelector: { matchLabels: { app: 'np-web' } }, policyTypes: ['Ingress'] }) });
      expect(await becomes('timeout', webIp, 8080)).toBe('timeout');
      // The node's own (root) traffic is not subject to policies: the kubelet's probes keep the pod Ready.
      expect(await kubectlOk(['get', 'pod', 'np-web', '-n', ns.name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])).toBe('True');
      // Policies add up: one that admits the peer namespace lets it in again.
      await kubectlOk(['apply', '-f', '-'], {
        input: policy('from-peer', ns.name, { podSelector: { matchLabels: { app: 'np-web' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': peer.name } } }] }] }),
      });
      expect(await becomes('connected', webIp, 8080)).toBe('connected');
      await kubectlOk(['delete', 'networkpolicy', 'deny-web', 'from-peer', '-n', ns.name]);

      // Egress: the client may only send DNS. Names still resolve; the API server and the other pod time out.
      await kubectlOk(['apply', '-f', '-'], {
        input: policy('dns-only', peer.name, { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] }] }),
      });
      expect(await becomes('timeout', '10.96.0.1', 443)).toBe('timeout');
      expect(await connect(webIp, 8080)).toBe('timeout');
      const resolve = `import socket; print(socket.gethostbyname('kubernetes.default.svc.cluster.local'))`;
      expect((await kubectlOk(['exec', 'np-client', '-n', peer.name, '--', 'python3', '-c', resolve])).trim()).toBe('10.96.0.1');
      await kubectlOk(['delete', 'networkpolicy', 'dns-only', '-n', peer.name]);
      expect(await becomes('connected', '10.96.0.1', 443)).toBe('connected');
      expect(await connect(webIp, 8080)).toBe('connected');
    } finally {
      await peer.cleanup();
    }
  }, 120_000);
});
