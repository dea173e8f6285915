/**
 * The talk's security part ("Securing Serverless Functions via Kubernetes Objects"), end to end
 * against the real stack, with the controllers installed by the chart as pods (one release per
 * namespace, each on the chart's ServiceAccounts and RBAC):
 *
 * - RBAC: an ordinary user is denied until bound to the chart's user roles; namespace isolation;
 *   the creation is in the API server's audit log.
 * - Pod security: function pods pass the `restricted` Pod Security Standard in a namespace that
 *   enforces it, which rejects a privileged pod.
 * - Function identity: a Secret and an env var reach the function; a function with a
 *   ServiceAccount calls the API as that account and no more; one without gets no token.
 * - NetworkPolicy, enforced by the stack's kube-network-policies: the talk's deny-foobar lets only
 *   pods labelled access=true reach the function labelled foo=bar, and drops another pod's
 *   connection; the chart's kubeless-functions policy selects every function pod.
 * - mTLS: the kafka-trigger (chart value kafkaTrigger.deliveryTls) delivers over TLS with a client
 *   certificate to a real runtime pod that requires one; a client without one is refused by that pod.
 * - HTTP trigger with basic auth through the real Traefik.
 *
 * Namespace A (restricted) holds `foo` (the talk's function: labels, --env, --secrets) and `falco`
 * (a ServiceAccount); namespace B holds another `foo`, served over mTLS.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childName } from '@kubeless/http-trigger';
import { eventually, kubectl, kubectlOk, render, sleeperPod, stackEnv, toYamlStream, withNamespace, type K8sObject } from '@kubeless/stack';
import { extraEnv, functionPods, getJson, installControllers, kubeless, kubelessOk, logsContaining, tempFiles, untilTraefik, viaTraefik, waitReady, type TestRelease } from './helpers.js';

type Json = Record<string, any>;
const run = randomBytes(3).toString('hex');

let a: { name: string; cleanup: () => Promise<void> };
let b: { name: string; cleanup: () => Promise<void> };
let relA: TestRelease | undefined;
let relB: TestRelease | undefined;
/** The chart's user roles of release A (`<release>-view`, `<release>-edit`). */
let userRole = (kind: 'view' | 'edit'): string => `kubeless-${kind}`;
let tlsHost = '';
const topic = `e2e-secure-${run}`;
const host = `get-python-${run}.e2e.test`;

const dir = tempFiles('e2e-security', {
  // The talk's foo: logs what it got and answers what it can see of its identity.
  'foo.py': [
    'import json, os',
    'def handler(event, context):',
    "    print('e2e-event', event['data'], flush=True)",
    "    with open(os.environ['GOOGLE_APPLICATION_CREDENTIALS']) as f:",
    '        credentials = f.read()',
    "    return json.dumps({'data': event['data'], 'credentials': credentials, 'greeting': os.environ.get('GREETING'),",
    "                       'token': os.path.exists('/var/run/secrets/kubernetes.io/serviceaccount/token')})",
    '',
  ].join('\n'),
  // The talk's falco: calls the Kubernetes API with the token of its ServiceAccount, as a client
  // library in a pod would (token, CA and namespace from the mounted folder).
  'falco.py': [
    'import json, os, ssl, urllib.error, urllib.request',
    "SA = '/var/run/secrets/kubernetes.io/serviceaccount'",
    'def api(method, path, body=None):',
    "    token = open(os.path.join(SA, 'token')).read()",
    "    ctx = ssl.create_default_context(cafile=os.path.join(SA, 'ca.crt'))",
    "    url = 'https://%s:%s%s' % (os.environ['KUBERNETES_SERVICE_HOST'], os.environ['KUBERNETES_SERVICE_PORT'], path)",
    '    data = None if body is None else json.dumps(body).encode()',
    "    req = urllib.request.Request(url, data=data, method=method, headers={'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json'})",
    '    try:',
    '        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:',
    '            return r.status, json.loads(r.read())',
    '    except urllib.error.HTTPError as e:',
    '        return e.code, None',
    'def handler(event, context):',
    "    ns = open(os.path.join(SA, 'namespace')).read()",
    "    other = event['data']",
    "    _, review = api('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {'apiVersion': 'authentication.k8s.io/v1', 'kind': 'SelfSubjectReview'})",
    "    pods_status, pods = api('GET', '/api/v1/namespaces/%s/pods' % ns)",
    "    secrets_status, _ = api('GET', '/api/v1/namespaces/%s/secrets' % ns)",
    "    functions_status, _ = api('GET', '/apis/kubeless.io/v1beta1/namespaces/%s/functions' % ns)",
    "    other_status, _ = api('GET', '/api/v1/namespaces/%s/pods' % other)",
    '    return json.dumps({',
    "        'user': review['status']['userInfo']['username'] if review else None,",
    "        'pods': pods_status, 'podNames': [p['metadata']['name'] for p in (pods or {}).get('items', [])],",
    "        'secrets': secrets_status, 'functions': functions_status, 'otherNamespacePods': other_status,",
    '    })',
    '',
  ].join('\n'),
  'secure.py': "def handler(event, context):\n    print('e2e-event', event['data'], event['event-id'], flush=True)\n    return event['data']\n",
  'alice.py': "def handler(event, context):\n    return 'alice'\n",
});
const file = (name: string): string => path.join(dir, name);

// ---------------------------------------------------------------- PKI for mTLS (openssl, as mtls.test.ts)
const ssl = (args: string[]): void => {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
};
function issue(name: string, ext: string): { cert: string; key: string } {
  writeFileSync(file(`${name}.ext`), ext);
  ssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
  return { cert: file(`${name}.crt`), key: file(`${name}.key`) };
}
/**
 * An https request to a TLS function by its Service's DNS name (which its server certificate
 * names, as the kafka-trigger's delivery checks), optionally with a client certificate.
 */
function callPod(host: string, body: string, client?: { cert: string; key: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host,
        port: 8080,
        method: 'POST',
        path: '/',
        ca: readFileSync(file('ca.crt')),
        ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}),
        headers: { 'content-type': 'text/plain' },
        agent: false,
        timeout: 5000,
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: text });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

const sha = (pw: string): string => `{SHA}${createHash('sha1').update(pw).digest('base64')}`;

beforeAll(async () => {
  [a, b] = await Promise.all([withNamespace('e2e-sec'), withNamespace('e2e-sec-b')]);
  // The namespaces enforce the restricted Pod Security Standard before any function exists.
  await Promise.all([a.name, b.name].map((ns) => kubectlOk(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted', 'pod-security.kubernetes.io/warn=restricted'])));

  // A CA, the trigger's client certificate, and (below) the function's server certificate.
  ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=e2e-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  const client = issue('trigger', 'extendedKeyUsage=clientAuth\n');
  // The controllers as pods, the chart installed once per namespace: in A the function controller
  // and the http-trigger; in B the function controller and a kafka-trigger that calls functions
  // over mTLS with the client certificate of its release's deliveryTls Secret.
  [relA, relB] = await Promise.all([
    installControllers(a.name, { kafkaTrigger: { enabled: false }, sqsTrigger: { enabled: false } }),
    installControllers(
      b.name,
      { httpTrigger: { enabled: false }, sqsTrigger: { enabled: false }, kafkaTrigger: { extraEnv: extraEnv({ STATUS_INTERVAL: '1s' }), deliveryTls: { secret: 'e2e-delivery-tls' } } },
      (sys) => kubectlOk(['create', 'secret', 'generic', 'e2e-delivery-tls', '-n', sys, `--from-file=ca.crt=${file('ca.crt')}`, `--from-file=tls.crt=${client.cert}`, `--from-file=tls.key=${client.key}`]),
    ),
  ]);
  userRole = (kind: 'view' | 'edit'): string => `${relA?.release ?? 'kubeless'}-${kind}`;

  const n = ['-n', a.name];
  await Promise.all([
    // The talk's objects: the Secret the function mounts, the htpasswd Secret of the HTTP trigger
    // (`htpasswd -cb auth foo bar`), and the falco ServiceAccount allowed to get/list/delete pods.
    kubectlOk(['create', 'secret', 'generic', 'pubsub-key', '-n', a.name, `--from-literal=key.json={"project":"e2e-${run}"}`]),
    kubectlOk(['create', 'secret', 'generic', 'basic-auth', '-n', a.name, `--from-literal=auth=foo:${sha('bar')}`]),
    (async () => {
      await kubectlOk(['create', 'serviceaccount', 'falco', '-n', a.name]);
      await kubectlOk(['create', 'role', 'falco', '--verb=get,list,delete', '--resource=pods', '-n', a.name]);
      await kubectlOk(['create', 'rolebinding', 'falco', '--role=falco', `--serviceaccount=${a.name}:falco`, '-n', a.name]);
    })(),
    kubelessOk(['topic', 'create', topic]),
  ]);
  await Promise.all([
    kubelessOk(['function', 'deploy', 'foo', '--from-file', file('foo.py'), '--handler', 'foo.handler', '--runtime', 'python3.11', '--label', 'foo=bar,bar=baz',
      '--env', 'GOOGLE_APPLICATION_CREDENTIALS=/pubsub-key/key.json', '--env', 'GREETING=hello', '--secrets', 'pubsub-key', ...n]),
    kubelessOk(['function', 'deploy', 'falco', '--from-file', file('falco.py'), '--handler', 'falco.handler', '--runtime', 'python3.11', '--service-account', 'falco', ...n]),
  ]);

  // The mTLS function in namespace B: the runtime serves HTTPS only and requires a client
  // certificate from the CA (FUNC_TLS_*), from a mounted Secret. The function controller sees
  // FUNC_TLS_CLIENT_CA_FILE and probes it with a TCP connect (a kubelet's HTTP(S) probe carries no
  // client certificate and could never pass); nothing is set here by hand.
  await eventually('pod IPs in namespace A', async () => {
    const all = (await Promise.all(['foo', 'falco'].map((f) => functionPods(a.name, f)))).flat().map((p) => p.status?.podIP as string | undefined);
    return all.length === 2 && all.every(Boolean) ? (all as string[]) : undefined;
  }, 60_000).catch(async (err: unknown) => {
    // Say why, e.g. the restricted namespace refused the pods.
    throw new Error(`${(err as Error).message}; ReplicaSets: ${await replicaFailures(a.name)}`);
  });
  // The names the trigger (and this test) reach the functions by: their Services' DNS names.
  const server = issue('server', `subjectAltName=DNS:foo.${b.name}.svc.cluster.local,DNS:tls-only.${b.name}.svc.cluster.local\nextendedKeyUsage=serverAuth\n`);
  await kubectlOk(['create', 'secret', 'generic', 'foo-tls', '-n', b.name, `--from-file=tls.crt=${server.cert}`, `--from-file=tls.key=${server.key}`, `--from-file=ca.crt=${file('ca.crt')}`]);
  const fn = JSON.parse(await kubelessOk(['function', 'deploy', 'foo', '--from-file', file('secure.py'), '--handler', 'secure.handler', '--runtime', 'python3.11', '--label', 'foo=bar,bar=baz',
    '--env', 'FUNC_TLS_CERT_FILE=/foo-tls/tls.crt,FUNC_TLS_KEY_FILE=/foo-tls/tls.key,FUNC_TLS_CLIENT_CA_FILE=/foo-tls/ca.crt', '--secrets', 'foo-tls', '-n', b.name, '--dryrun', '-o', 'json'])) as Json;
  await Promise.all([
    kubectlOk(['create', '-f', '-'], { input: JSON.stringify(fn) }),
    kubelessOk(['trigger', 'kafka', 'create', 'secure', '--trigger-topic', topic, '--function-selector', 'foo=bar', '--initial-offset', 'earliest', '-n', b.name]),
    kubelessOk(['trigger', 'http', 'create', 'get-python', '--function-name', 'foo', '--basic-auth-secret', 'basic-auth', '--gateway', 'traefik', '--hostname', host, ...n]),
  ]);
  await Promise.all([waitReady(a.name, 'functions.kubeless.io', 'foo', 60_000), waitReady(a.name, 'functions.kubeless.io', 'falco', 60_000)]);
});

afterAll(async () => {
  await Promise.all([relA?.uninstall(), relB?.uninstall()]);
  await kubelessOk(['topic', 'delete', topic]).catch(() => undefined);
  await Promise.all([a.cleanup(), b.cleanup()]);
  rmSync(dir, { recursive: true, force: true });
});

/** The ReplicaFailure messages of the namespace's ReplicaSets (a pod the API server refused). */
async function replicaFailures(ns: string): Promise<string> {
  const rs = JSON.parse(await kubectlOk(['get', 'replicasets', '-n', ns, '-o', 'json'])).items as Json[];
  const failures = rs.flatMap((r) => ((r.status.conditions ?? []) as Json[]).filter((c) => c.type === 'ReplicaFailure').map((c) => `${String(r.metadata.name)}: ${String(c.message)}`));
  return failures.length > 0 ? failures.join('; ') : 'no failure reported';
}
const forbidden = (user: string, verb: string, resource: string, ns: string): RegExp =>
  new RegExp(`forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "[a-z.]*" in the namespace "${ns}"`);

describe('RBAC: who may CRUD functions where', () => {
  it("alice is denied until bound to the chart's view role, then its edit role; the creation is audited", async () => {
    const deploy = ['function', 'deploy', 'alice-fn', '--from-file', file('alice.py'), '--handler', 'alice.handler', '--runtime', 'python3.11', '-n', a.name];
    const [denied, create] = await Promise.all([kubeless(['function', 'ls', '-n', a.name], { user: 'alice' }), kubeless(deploy, { user: 'alice' })]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(forbidden('alice', 'list', 'functions', a.name));
    expect(create.code).toBe(1);
    expect(create.stderr).toMatch(forbidden('alice', 'create', 'functions', a.name));
    expect((await kubectlOk(['get', 'functions', '-n', a.name, '-o', 'name'])).split('\n').sort()).toEqual(['', 'function.kubeless.io/falco', 'function.kubeless.io/foo']);

    // The chart's view role: she may list, not create.
    await kubectlOk(['create', 'rolebinding', 'alice-view', `--clusterrole=${userRole('view')}`, '--user=alice', '-n', a.name]);
    const [ls, stillDenied] = await Promise.all([kubeless(['function', 'ls', '-n', a.name], { user: 'alice' }), kubeless(deploy, { user: 'alice' })]);
    expect(ls.stdout).toMatch(/^foo\s/m);
    expect(ls.stdout).toMatch(/^falco\s/m);
    expect(stillDenied.stderr).toMatch(forbidden('alice', 'create', 'functions', a.name));

    // The chart's edit role: she may create.
    await kubectlOk(['create', 'rolebinding', 'alice-edit', `--clusterrole=${userRole('edit')}`, '--user=alice', '-n', a.name]);
    await kubelessOk(deploy, { user: 'alice' });
    const fn = await getJson(a.name, 'functions.kubeless.io', 'alice-fn');
    expect(fn.spec).toMatchObject({ runtime: 'python3.11', handler: 'alice.handler' });

    // The talk's "audit function creation": the API server's audit log names her.
    const { stdout } = await promisify(execFile)('grep', ['-F', '"username":"alice"', stackEnv().AUDIT_LOG], { maxBuffer: 64 * 1024 * 1024 });
    const creates = stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Json)
      .filter((e) => e.verb === 'create' && e.objectRef?.resource === 'functions' && e.objectRef.namespace === a.name && e.stage === 'ResponseComplete');
    expect(creates.map((e) => e.responseStatus.code as number)).toEqual(expect.arrayContaining([403, 201]));
    expect(creates.find((e) => e.responseStatus.code === 201)?.objectRef.name).toBe('alice-fn');
  });

  it('namespaces isolate: the admin sees both, alice only the one she is bound in', async () => {
    await eventually('foo in namespace B', async () => (await kubectl(['get', 'functions', 'foo', '-n', b.name])).code === 0);
    const all = await kubectlOk(['get', 'functions', '--all-namespaces', '--no-headers', '-o', 'custom-columns=NS:.metadata.namespace,NAME:.metadata.name']);
    const rows = all.trim().split('\n').map((l) => l.trim().split(/\s+/).join('/'));
    expect(rows).toEqual(expect.arrayContaining([`${a.name}/foo`, `${b.name}/foo`]));

    expect((await kubectlOk(['get', 'functions', '-n', a.name, '-o', 'name'], { user: 'alice' })).split('\n')).toContain('function.kubeless.io/foo');
    const other = await kubectl(['get', 'functions', '-n', b.name], { user: 'alice' });
    expect(other.code).not.toBe(0);
    expect(other.stderr).toMatch(forbidden('alice', 'list', 'functions', b.name));
    const everywhere = await kubectl(['get', 'functions', '--all-namespaces'], { user: 'alice' });
    expect(everywhere.code).not.toBe(0);
    expect(everywhere.stderr).toMatch(/forbidden: User "alice" cannot list resource "functions" in API group "kubeless\.io" at the cluster scope/);
    // And the CLI refuses her namespace B too.
    expect((await kubeless(['function', 'ls', '-n', b.name], { user: 'alice' })).stderr).toMatch(forbidden('alice', 'list', 'functions', b.name));
  });
});

describe('pod security', () => {
  it('function pods run non-root under the restricted standard, which rejects a privileged pod', async () => {
    const ns = JSON.parse(await kubectlOk(['get', 'namespace', a.name, '-o', 'json'])) as Json;
    expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    for (const fn of ['foo', 'falco']) {
      // The ReplicaSet could create its pods in this namespace: they passed admission.
      const rs = JSON.parse(await kubectlOk(['get', 'replicasets', '-n', a.name, '-l', `function=${fn}`, '-o', 'json'])).items as Json[];
      expect(rs.flatMap((r) => (r.status.conditions ?? []) as Json[]).filter((c) => c.type === 'ReplicaFailure')).toEqual([]);
      const pods = await functionPods(a.name, fn);
      expect(pods).toHaveLength(1);
      const spec = pods[0]?.spec as Json;
      expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } });
      for (const c of [...(spec.initContainers as Json[]), ...(spec.containers as Json[])]) {
        expect({ container: c.name, ...c.securityContext }).toMatchObject({ container: c.name, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true, runAsNonRoot: true });
        expect(c.securityContext.privileged).toBeUndefined();
      }
      // No ServiceAccount named, no token mounted; falco names one.
      expect(spec.automountServiceAccountToken).toBe(fn === 'falco');
      expect(pods[0]?.status.phase).toBe('Running');
    }
    // And the kubelet applied it: the function's process runs as uid 1000 on a read-only root.
    const fooPod = String((await functionPods(a.name, 'foo'))[0]?.metadata.name);
    expect(await kubectlOk(['exec', fooPod, '-n', a.name, '-c', 'foo', '--', 'sh', '-c', 'id -u; touch /x 2>&1 || true'])).toMatch(/^1000\n.*Read-only file system/s);

    // A privileged pod: this API server disallows privileged containers outright
    // (--allow-privileged=false), before any namespace policy.
    const privileged = await kubectl(['run', `priv-${run}`, '--image=busybox', '--privileged', '-n', a.name, '--dry-run=server', '--', 'sleep', '1']);
    expect(privileged.code).not.toBe(0);
    expect(privileged.stderr).toMatch(/securityContext\.privileged: Forbidden/);
    // A plain pod (root allowed, no seccomp, capabilities kept) is what the namespace's restricted
    // enforcement rejects, through the PodSecurity admission plugin; an unlabelled namespace takes it.
    const plain = (ns: string): string[] => ['run', `plain-${run}`, '--image=busybox', '--dry-run=server', '-n', ns, '--', 'sleep', '1'];
    const rejected = await kubectl(plain(a.name));
    expect(rejected.code).not.toBe(0);
    expect(rejected.stderr).toMatch(/violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false .*runAsNonRoot != true.*seccompProfile/);
    expect((await kubectl(plain('default'))).code).toBe(0);
  });
});

describe('function identity', () => {
  it('the function sees the mounted Secret and its env var, and no API token', async () => {
    const out = JSON.parse(await kubelessOk(['function', 'call', 'foo', '--data', 'who', '-n', a.name])) as Json;
    expect(out).toEqual({ data: 'who', credentials: `{"project":"e2e-${run}"}`, greeting: 'hello', token: false });
  });

  it('a function with a ServiceAccount calls the API as that account, and no more', async () => {
    const out = JSON.parse(await kubelessOk(['function', 'call', 'falco', '--data', b.name, '-n', a.name])) as Json;
    const pods = await functionPods(a.name, 'falco');
    expect(out).toEqual({
      user: `system:serviceaccount:${a.name}:falco`,
      // Allowed by the falco Role.
      pods: 200,
      podNames: expect.arrayContaining([pods[0]?.metadata.name]) as unknown,
      // Not granted: Secrets, Functions, and anything in another namespace.
      secrets: 403,
      functions: 403,
      otherNamespacePods: 403,
    });
  });
});

describe('network policy', () => {
  // Enforced by the stack's kube-network-policies: a denied connection is dropped, so the client
  // times out. Only pod traffic is subject to policies (Traefik's too: it is a pod in namespace
  // traefik); the node's root processes (kubelet, this test, the host-process controllers) are
  // always let through.
  const selected = async (ns: string, podSelector: Json): Promise<string[]> => {
    const parts = [
      ...Object.entries((podSelector.matchLabels ?? {}) as Record<string, string>).map(([k, v]) => `${k}=${v}`),
      ...((podSelector.matchExpressions ?? []) as Json[]).map((e) => (e.operator === 'Exists' ? String(e.key) : `${String(e.key)} ${String(e.operator).toLowerCase()} (${(e.values as string[]).join(',')})`)),
    ];
    const pods = JSON.parse(await kubectlOk(['get', 'pods', '-n', ns, '-l', parts.join(','), '-o', 'json'])).items as Json[];
    return pods.map((p) => String(p.metadata.name)).sort();
  };

  /** A busybox pod in namespace A that sleeps, restricted-compliant, to run `nc` from. */
  /** A busybox pod in namespace A that sleeps, restricted-compliant, to run `nc` from. */
  const clientPod = (name: string, labels: Record<string, string>): K8sObject => sleeperPod(a.name, name, { 'e2e-client': run, ...labels });
  /** An HTTP/1.0 GET /healthz sent with busybox `nc -w 3` from `pod`: its output, or `nc: timed out`. */
  const nc = (pod: string, target: { ip: string; port: number }): Promise<{ code: number; stdout: string; stderr: string }> =>
    kubectl(['exec', pod, '-n', a.name, '-c', 'client', '--', 'sh', '-c', 'printf "GET /healthz HTTP/1.0\\r\\n\\r\\n" | nc -w 3 "$0" "$1"', target.ip, String(target.port)]);
  const answered = (r: { stdout: string }): boolean => /^HTTP\/1\.[01] 200 /.test(r.stdout);
  const timedOut = (r: { code: number; stdout: string; stderr: string }): boolean => r.code !== 0 && r.stdout === '' && r.stderr.includes('nc: timed out');
  /** The function's pod IP and container port (the runtime's, 8080). */
  const target = async (fn: string): Promise<{ ip: string; port: number }> => {
    const pods = await functionPods(a.name, fn);
    expect(pods).toHaveLength(1);
    const c = ((pods[0]?.spec.containers ?? []) as Json[]).find((x) => x.name === fn);
    return { ip: String(pods[0]?.status.podIP), port: Number((c?.ports as Json[] | undefined)?.[0]?.containerPort) };
  };

  afterAll(async () => {
    // The chart's policy isolates every function pod in namespace A, so a client pod of a later
    // test would be dropped, and so would the Traefik pod (namespace traefik is not the policy's
    // ingressNamespace here) that the basic-auth test goes through: the tests after this block
    // get the namespace without policies.
    await kubectl(['delete', 'networkpolicy', 'deny-foobar', 'kubeless-functions', '-n', a.name, '--ignore-not-found']);
    await kubectl(['delete', 'pods', '-n', a.name, '-l', `e2e-client=${run}`, '--wait=false']);
  });

  it("the talk's deny-foobar policy: only pods labelled access=true reach the function labelled foo=bar", async () => {
    const [allowed, other] = [`client-access-${run}`, `client-${run}`];
    await kubectlOk(['apply', '-f', '-'], { input: toYamlStream([clientPod(allowed, { access: 'true' }), clientPod(other, {})]) });
    await kubectlOk(['wait', '--for=condition=Ready', `pod/${allowed}`, `pod/${other}`, '-n', a.name, '--timeout=60s']);
    const [foo, falco] = await Promise.all([target('foo'), target('falco')]);
    expect(foo.port).toBe(8080);
    // Before any policy, both clients reach foo.
    for (const r of await Promise.all([nc(allowed, foo), nc(other, foo)])) expect(r.stdout).toMatch(/^HTTP\/1\.[01] 200 /);

    const policy = {
      kind: 'NetworkPolicy',
      apiVersion: 'networking.k8s.io/v1',
      metadata: { name: 'deny-foobar', namespace: a.name },
      spec: { podSelector: { matchLabels: { foo: 'bar' } }, ingress: [{ from: [{ podSelector: { matchLabels: { access: 'true' } } }] }] },
    };
    await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(policy) });
    const np = await getJson(a.name, 'networkpolicy', 'deny-foobar');
    const fooPods = (await functionPods(a.name, 'foo')).map((p) => String(p.metadata.name));
    expect(await selected(a.name, np.spec.podSelector)).toEqual(fooPods);

    // The unlabelled client's connection is dropped: nc times out.
    const denied = await eventually('deny-foobar drops the unlabelled client', async () => {
      const r = await nc(other, foo);
      return timedOut(r) ? r : undefined;
    }, 30_000);
    expect(denied.stderr).toMatch(/^nc: timed out$/m);
    // The labelled client still gets an HTTP answer.
    const ok = await eventually('the access=true client answered', async () => {
      const r = await nc(allowed, foo);
      return answered(r) ? r : undefined;
    }, 30_000);
    expect(ok.stdout).toMatch(/^HTTP\/1\.[01] 200 /);
    // The policy isolates only the foo=bar pods: the unlabelled client still reaches falco.
    expect((await nc(other, falco)).stdout).toMatch(/^HTTP\/1\.[01] 200 /);
  });

  it("the chart's function-pods policy selects every function pod and admits the trigger controllers", async () => {
    // Objects only here: test/helm checks that the chart's policy is enforced. It runs after the
    // deny-foobar test, whose unlabelled client reaches falco only while no policy selects falco.
    const objects = await render({ release: 'kubeless', namespace: 'kubeless', set: ['networkPolicy.enabled=true', `networkPolicy.namespaces={${a.name}}`] });
    const policies = objects.filter((o: K8sObject) => o.kind === 'NetworkPolicy');
    expect(policies.map((p) => `${p.metadata.namespace ?? ''}/${p.metadata.name}`)).toEqual([`${a.name}/kubeless-functions`]);
    await kubectlOk(['apply', '-f', '-'], { input: toYamlStream(policies) });
    const np = await getJson(a.name, 'networkpolicy', 'kubeless-functions');
    const fnPods = (await Promise.all(['foo', 'falco'].map((f) => functionPods(a.name, f)))).flat().map((p) => String(p.metadata.name));
    expect(await selected(a.name, np.spec.podSelector)).toEqual(expect.arrayContaining(fnPods));
    expect(np.spec.ingress[0].from[0].podSelector.matchExpressions).toEqual(
      expect.arrayContaining([{ key: 'app.kubernetes.io/component', operator: 'In', values: ['http-trigger', 'kafka-trigger', 'sqs-trigger', 'cronjob-trigger'] }]),
    );
  });
});

describe('mTLS from the kafka-trigger to a runtime pod', () => {
  it('delivers over https with the client certificate', async () => {
    await waitReady(b.name, 'functions.kubeless.io', 'foo', 60_000);
    tlsHost = `foo.${b.name}.svc.cluster.local`;
    await waitReady(b.name, 'kafkatriggers.kubeless.io', 'secure');
    await kubelessOk(['topic', 'publish', '--topic', topic, '--data', `mtls-${run}`]);
    await logsContaining(b.name, 'foo', [`e2e-event mtls-${run} partition:0/offset:0`]);
    const t = await waitReady(b.name, 'kafkatriggers.kubeless.io', 'secure');
    expect(t.status.functions).toEqual(['foo']);
    // Ready with the controller's default probes, which follow the runtime's mTLS settings.
    const c0 = JSON.parse(await kubectlOk(['get', 'deployment', 'foo', '-n', b.name, '-o', 'json'])).spec.template.spec.containers[0] as Json;
    expect(c0.readinessProbe).toMatchObject({ tcpSocket: { port: 8080 }, periodSeconds: 1 });
    expect((c0.readinessProbe as Json).httpGet).toBeUndefined();
    expect(c0.livenessProbe).toMatchObject({ tcpSocket: { port: 8080 }, initialDelaySeconds: 3, periodSeconds: 30 });
  });

  it('a function serving TLS without client certificates is probed over HTTPS and answers a client without one', async () => {
    await kubelessOk(['function', 'deploy', 'tls-only', '--from-file', file('secure.py'), '--handler', 'secure.handler', '--runtime', 'python3.11',
      '--env', 'FUNC_TLS_CERT_FILE=/foo-tls/tls.crt,FUNC_TLS_KEY_FILE=/foo-tls/tls.key', '--secrets', 'foo-tls', '-n', b.name]);
    // Ready only once the kubelet's HTTPS probe passed (it checks no certificate).
    await waitReady(b.name, 'functions.kubeless.io', 'tls-only', 60_000);
    const c0 = JSON.parse(await kubectlOk(['get', 'deployment', 'tls-only', '-n', b.name, '-o', 'json'])).spec.template.spec.containers[0] as Json;
    expect(c0.readinessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 8080, scheme: 'HTTPS' }, periodSeconds: 1 });
    expect(await callPod(`tls-only.${b.name}.svc.cluster.local`, `tls-${run}`)).toEqual({ status: 200, body: `tls-${run}` });
  });

  it('the function refuses a client without a certificate, and plain http', async () => {
    expect(tlsHost).toBe(`foo.${b.name}.svc.cluster.local`);
    await expect(callPod(tlsHost, `nocert-${run}`)).rejects.toThrow();
    const plain = await new Promise<string>((resolve) => {
      const req = http.request({ host: tlsHost, port: 8080, method: 'POST', path: '/', agent: false, timeout: 5000 }, (res) => {
        resolve(`answered ${String(res.statusCode)}`);
        res.resume();
      });
      req.on('error', (err) => {
        resolve(`refused: ${err.message}`);
      });
      req.end(`plain-${run}`);
    });
    expect(plain).toMatch(/^refused/);
    // With the trigger's certificate the same request is served: the refusal is about the certificate.
    const ok = await callPod(tlsHost, `withcert-${run}`, { cert: file('trigger.crt'), key: file('trigger.key') });
    expect(ok).toEqual({ status: 200, body: `withcert-${run}` });
    const logs = await logsContaining(b.name, 'foo', [`e2e-event withcert-${run}`]);
    expect(logs).not.toContain(`nocert-${run}`);
    expect(logs).not.toContain(`plain-${run}`);
  });
});

describe('HTTP trigger with basic auth', () => {
  it('creates the Ingress and Middleware; Traefik answers 401 without credentials, 200 with them', async () => {
    const trigger = await waitReady(a.name, 'httptriggers.kubeless.io', 'get-python');

    const denied = await untilTraefik('401 without credentials', () => viaTraefik(host, '/'), (r) => r.status !== 404);
    expect(denied.status).toBe(401);
    expect(denied.headers['www-authenticate']).toMatch(/^Basic/);
    expect((await viaTraefik(host, '/', { auth: 'foo:wrong' })).status).toBe(401);
    const ok = await viaTraefik(host, '/', { auth: 'foo:bar', method: 'POST', body: `via-ingress-${run}`, headers: { 'content-type': 'text/plain' } });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ data: `via-ingress-${run}` });

    // The objects a user expects: an Ingress for Traefik that uses the trigger's basic-auth Middleware.
    const ing = await getJson(a.name, 'ingress', 'get-python');
    expect(ing.spec.ingressClassName).toBe('traefik');
    expect(ing.spec.rules).toEqual([{ host, http: { paths: [expect.objectContaining({ path: '/', backend: { service: { name: 'foo', port: { number: 8080 } } } })] } }]);
    expect(ing.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'HTTPTrigger', name: 'get-python', uid: trigger.metadata.uid, controller: true })]);
    const middlewares = String(ing.metadata.annotations['traefik.ingress.kubernetes.io/router.middlewares']).split(',');
    // Named with a hash of namespace and trigger, so Traefik's `<namespace>-<name>` IDs never meet across namespaces.
    const auth = childName(a.name, 'get-python', 'auth');
    expect(middlewares).toContain(`${a.name}-${auth}@kubernetescrd`);
    const mw = await getJson(a.name, 'middlewares.traefik.io', auth);
    expect(mw.spec.basicAuth).toMatchObject({ secret: 'basic-auth' });
  });
});
