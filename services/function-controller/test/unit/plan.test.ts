import { POD_SPEC_FEATURES, defaultKubelessConfig, parseKubelessConfig, retiredRuntime, runtimeIds, type Function as KubelessFunction, type PodSpecFeature } from '@kubeless/api';
import { describe, expect, it } from 'vitest';
import { mergeUnder } from '../../src/merge.js';
import { CHECKSUM_ANNOTATION, PlanError, SPEC_HASH_ANNOTATION, planFunction, wantsHpa } from '../../src/plan.js';

const fn = (spec: KubelessFunction['spec'], meta: Partial<KubelessFunction['metadata']> = {}): KubelessFunction => ({
  apiVersion: 'kubeless.io/v1beta1',
  kind: 'Function',
  metadata: { name: 'hello', namespace: 'ns1', uid: 'uid-1', ...meta },
  spec,
});
const base = { runtime: 'nodejs24', handler: 'index.hello', function: "module.exports = { hello: () => 'hi' }" };
type J = Record<string, any>;
const tpl = (d: J): J => d.spec.template;

describe('planFunction', () => {
  it.each([
    ['an unknown runtime', { ...base, runtime: 'ruby3.3' }, 'UnsupportedRuntime', /^runtime "ruby3\.3" is not listed in kubeless-config; supported: nodejs22, nodejs24, nodejs26, python3\.11, python3\.12, python3\.13$/],
    [
      '--runtime nodejs20, past its end of life',
      { ...base, runtime: 'nodejs20' },
      'UnsupportedRuntime',
      /^runtime "nodejs20" is not listed in kubeless-config \(Node\.js 20 reached end of life in April 2026\); use nodejs24; supported: nodejs22, nodejs24, nodejs26, python3\.11, python3\.12, python3\.13$/,
    ],
    ['--runtime nodejs18', { ...base, runtime: 'nodejs18' }, 'UnsupportedRuntime', /\(Node\.js 18 reached end of life in April 2025\); use nodejs24; supported:/],
    ['--runtime python2.7', { ...base, runtime: 'python2.7' }, 'UnsupportedRuntime', /\(Python 2\.7 reached end of life in January 2020\); use python3\.13; supported:/],
    ['no runtime and no image', { handler: 'a.b', function: 'x' }, 'NoRuntime', /set a runtime/],
  ])('rejects %s', (_name, spec, reason, message) => {
    let err: unknown;
    try {
      planFunction(fn(spec), defaultKubelessConfig());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PlanError);
    expect((err as PlanError).reason).toBe(reason);
    expect((err as PlanError).message).toMatch(message);
    expect(err).toMatchObject({ name: 'PlanError', code: 'KUBELESS_FUNCTION_PLAN', retriable: false });
  });

  it.each(['nodejs22', 'nodejs24', 'nodejs26'])('runs --runtime %s in its own image', (runtime) => {
    const c0 = tpl(planFunction(fn({ ...base, runtime }), defaultKubelessConfig()).deployment).spec.containers[0];
    expect(c0.image).toBe(`kubeless/runtime-nodejs:${runtime.slice('nodejs'.length)}`);
  });

  it('names every child like the function, owned by it, labelled', () => {
    const p = planFunction(fn(base, { labels: { team: 'a' } }), defaultKubelessConfig());
    for (const child of [p.configMap, p.service, p.deployment]) {
      expect(child.metadata?.name).toBe('hello');
      expect(child.metadata?.labels).toEqual({ team: 'a', 'created-by': 'kubeless', function: 'hello' });
      expect(child.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Function', name: 'hello', uid: 'uid-1', controller: true });
      expect(child.metadata?.annotations?.[SPEC_HASH_ANNOTATION]).toMatch(/^[0-9a-f]{16}$/);
    }
    expect(p.hpa).toBeUndefined();
    expect(p.url).toBe('http://hello.ns1.svc.cluster.local:8080');
  });

  it('names the code file <module><suffix>, or <module> for archives, and carries deps', () => {
    const text = planFunction(fn({ ...base, deps: '{"dependencies":{}}' }), defaultKubelessConfig());
    expect(text.configMap.data).toEqual({ handler: 'index.hello', 'index.js': base.function, 'package.json': '{"dependencies":{}}' });
    const zip = planFunction(fn({ ...base, 'function-content-type': 'base64+zip' }), defaultKubelessConfig());
    expect(Object.keys(zip.configMap.data as J)).toEqual(['handler', 'index']);
    const inits = tpl(zip.deployment).spec.initContainers as J[];
    expect(inits.map((c) => c.name)).toEqual(['prepare']);
    expect(inits[0]?.env).toEqual(expect.arrayContaining([{ name: 'FUNC_FILE', value: 'index' }, { name: 'FUNC_CONTENT_TYPE', value: 'base64+zip' }]));
  });

  it('adds the install step only with deps', () => {
    const p = planFunction(fn({ ...base, runtime: 'python3.12', handler: 'foo.handler', deps: 'requests' }), defaultKubelessConfig());
    const inits = tpl(p.deployment).spec.initContainers as J[];
    expect(inits.map((c) => c.name)).toEqual(['prepare', 'install']);
    expect(inits[1]).toMatchObject({ image: 'kubeless/runtime-python:3.12', command: ['/bin/sh', '-c', '/opt/kubeless/install-deps.sh'], workingDir: '/kubeless' });
    expect(inits[1]?.env).toEqual(expect.arrayContaining([{ name: 'KUBELESS_DEPS_FILE', value: '/kubeless/requirements.txt' }, { name: 'HOME', value: '/tmp' }]));
  });

  it('changes the checksum annotation for code, deps, runtime or timeout, and only then', () => {
    const sum = (spec: KubelessFunction['spec']): string =>
      tpl(planFunction(fn(spec), defaultKubelessConfig()).deployment).metadata.annotations[CHECKSUM_ANNOTATION] as string;
    const s0 = sum(base);
    expect(sum({ ...base })).toBe(s0);
    expect(sum({ ...base, function: 'other' })).not.toBe(s0);
    expect(sum({ ...base, runtime: 'nodejs22' })).not.toBe(s0);
    expect(sum({ ...base, deps: 'x' })).not.toBe(s0);
    expect(sum({ ...base, timeout: '30' })).not.toBe(s0);
  });

  it('applies security defaults but keeps what the user set', () => {
    const p = planFunction(
      fn({
        ...base,
        deployment: { spec: { template: { spec: { securityContext: { runAsUser: 2000 }, containers: [{ securityContext: { readOnlyRootFilesystem: false } }] } } } },
      }),
      defaultKubelessConfig(),
    );
    const spec = tpl(p.deployment).spec;
    expect(spec.securityContext).toEqual({ runAsUser: 2000, runAsNonRoot: true, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    expect(spec.containers[0].securityContext).toEqual({ readOnlyRootFilesystem: false, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, runAsNonRoot: true });
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.serviceAccountName).toBe('default');
    // In-flight invocations may run for the whole function timeout (180 s) on SIGTERM.
    expect(spec.terminationGracePeriodSeconds).toBe(190);
  });

  it('merges the kubeless-config deployment template under the function (the function wins)', () => {
    const cfg = parseKubelessConfig({ deployment: 'spec:\n  replicas: 3\n  template:\n    spec:\n      serviceAccountName: falco\n      nodeSelector: {disk: ssd}' });
    const own = planFunction(fn({ ...base, deployment: { spec: { template: { spec: { nodeSelector: { disk: 'hdd' } } } } } }), cfg);
    expect((own.deployment as J).spec.replicas).toBe(3);
    expect(tpl(own.deployment as J).spec.serviceAccountName).toBe('falco');
    expect(tpl(own.deployment as J).spec.automountServiceAccountToken).toBe(true);
    expect(tpl(own.deployment as J).spec.nodeSelector).toEqual({ disk: 'hdd' });
  });

  it('uses the service port for the URL and the target port for the container', () => {
    const p = planFunction(fn({ ...base, service: { ports: [{ name: 'http-function-port', port: 80, targetPort: 8081 }] } }), defaultKubelessConfig());
    expect(p.url).toBe('http://hello.ns1.svc.cluster.local:80');
    const c0 = tpl(p.deployment).spec.containers[0];
    expect(c0.ports).toEqual([{ containerPort: 8081, protocol: 'TCP' }]);
    expect(c0.env).toEqual(expect.arrayContaining([{ name: 'FUNC_PORT', value: '8081' }]));
  });

  it.each([
    ['plain HTTP', [], { httpGet: { path: '/healthz', port: 8080 } }],
    ['TLS', [{ name: 'FUNC_TLS_CERT_FILE', value: '/tls/tls.crt' }, { name: 'FUNC_TLS_KEY_FILE', value: '/tls/tls.key' }], { httpGet: { path: '/healthz', port: 8080, scheme: 'HTTPS' } }],
    // The kubelet presents no client certificate: an HTTP probe of an mTLS runtime never passes.
    ['mTLS', [{ name: 'FUNC_TLS_CERT_FILE', value: '/tls/tls.crt' }, { name: 'FUNC_TLS_KEY_FILE', value: '/tls/tls.key' }, { name: 'FUNC_TLS_CLIENT_CA_FILE', value: '/tls/ca.crt' }], { tcpSocket: { port: 8080 } }],
    ['mTLS from a ConfigMap key', [{ name: 'FUNC_TLS_CERT_FILE', value: '/tls/tls.crt' }, { name: 'FUNC_TLS_CLIENT_CA_FILE', valueFrom: { configMapKeyRef: { name: 'tls', key: 'ca' } } }], { tcpSocket: { port: 8080 } }],
    ['an empty TLS variable', [{ name: 'FUNC_TLS_CERT_FILE', value: '' }], { httpGet: { path: '/healthz', port: 8080 } }],
  ])('probes a runtime serving %s the way it can answer', (_name, env, check) => {
    const p = planFunction(fn({ ...base, deployment: { spec: { template: { spec: { containers: [{ env }] } } } } }), defaultKubelessConfig());
    const c0 = tpl(p.deployment).spec.containers[0];
    expect(c0.readinessProbe).toEqual({ ...check, periodSeconds: 1 });
    expect(c0.livenessProbe).toEqual({ ...check, initialDelaySeconds: 3, periodSeconds: 30 });
  });

  it("uses a runtime family's liveness probe from kubeless-config only for a runtime serving plain HTTP", () => {
    const cfg = defaultKubelessConfig();
    const family = cfg.runtimes.find((r) => r.ID === 'nodejs');
    if (!family) throw new Error('no nodejs family in the default config');
    family.livenessProbeInfo = { exec: { command: ['curl', '-f', 'http://localhost:8080/healthz'] }, periodSeconds: 10 };
    const c0 = (env: unknown[]): J => tpl(planFunction(fn({ ...base, deployment: { spec: { template: { spec: { containers: [{ env }] } } } } }), cfg).deployment).spec.containers[0];
    expect(c0([]).livenessProbe).toEqual(family.livenessProbeInfo);
    // Over TLS or mTLS that plain-HTTP check would fail every period and restart the pod.
    expect(c0([{ name: 'FUNC_TLS_CERT_FILE', value: '/tls/tls.crt' }]).livenessProbe).toEqual({ httpGet: { path: '/healthz', port: 8080, scheme: 'HTTPS' }, initialDelaySeconds: 3, periodSeconds: 30 });
    expect(c0([{ name: 'FUNC_TLS_CERT_FILE', value: '/tls/tls.crt' }, { name: 'FUNC_TLS_CLIENT_CA_FILE', value: '/tls/ca.crt' }]).livenessProbe).toEqual({ tcpSocket: { port: 8080 }, initialDelaySeconds: 3, periodSeconds: 30 });
  });

  it('keeps the probes the user set', () => {
    const readinessProbe = { exec: { command: ['true'] } };
    const livenessProbe = { httpGet: { path: '/live', port: 9000 } };
    const env = [{ name: 'FUNC_TLS_CERT_FILE', value: '/tls/tls.crt' }, { name: 'FUNC_TLS_CLIENT_CA_FILE', value: '/tls/ca.crt' }];
    const c0 = tpl(planFunction(fn({ ...base, deployment: { spec: { template: { spec: { containers: [{ env, readinessProbe, livenessProbe }] } } } } }), defaultKubelessConfig()).deployment).spec.containers[0];
    expect(c0.readinessProbe).toEqual(readinessProbe);
    expect(c0.livenessProbe).toEqual(livenessProbe);
  });

  it('keeps a custom image without injecting code', () => {
    const p = planFunction(fn({ handler: 'a.b', function: 'x', deployment: { spec: { template: { spec: { containers: [{ image: 'me/fn:1' }] } } } } }), defaultKubelessConfig());
    const spec = tpl(p.deployment).spec;
    expect(spec.containers[0].image).toBe('me/fn:1');
    expect(spec.initContainers).toBeUndefined();
  });

  it('turns the original v2beta1 HPA into autoscaling/v2, and ignores a zero-value one', () => {
    expect(wantsHpa({ metadata: { creationTimestamp: null }, spec: { scaleTargetRef: { kind: '', name: '' }, maxReplicas: 0 } })).toBe(false);
    const p = planFunction(
      fn({
        ...base,
        horizontalPodAutoscaler: {
          metadata: { name: 'hello' },
          spec: { scaleTargetRef: { apiVersion: 'apps/v1beta1', kind: 'Deployment', name: 'hello' }, minReplicas: 1, maxReplicas: 5, metrics: [{ type: 'Resource', resource: { name: 'cpu', targetAverageUtilization: 70 } }] },
        },
      }),
      defaultKubelessConfig(),
    );
    expect(p.hpa?.apiVersion).toBe('autoscaling/v2');
    expect((p.hpa as J).spec).toEqual({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'hello' },
      minReplicas: 1,
      maxReplicas: 5,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
    });
    expect((p.deployment as J).spec.replicas).toBeUndefined();
  });
});

/** The PlanError planFunction throws, or a failure when it plans. */
function refusal(f: KubelessFunction, cfg = defaultKubelessConfig()): PlanError {
  try {
    planFunction(f, cfg);
  } catch (e) {
    if (e instanceof PlanError) return e;
    throw e;
  }
  throw new Error('planFunction planned a Function it should refuse');
}
const withPod = (pod: J): KubelessFunction['spec'] => ({ ...base, deployment: { spec: { template: { spec: pod } } } });
const allow = (...features: PodSpecFeature[]) => parseKubelessConfig({ 'pod-spec-features': features.map((f) => `${f}: true`).join('\n') });
const P = 'spec.deployment.spec.template.spec';

describe('tenancy: pod fields that escalate are off unless kubeless-config turns them on', () => {
  it.each<[string, J, string, PodSpecFeature]>([
    ['securityContext.privileged on the function container', { containers: [{ securityContext: { privileged: true } }] }, `${P}.containers[0].securityContext.privileged`, 'privileged'],
    ['securityContext.privileged on an init container', { initContainers: [{ name: 'setup', image: 'busybox', securityContext: { privileged: true } }] }, `${P}.initContainers[0].securityContext.privileged`, 'privileged'],
    ['allowPrivilegeEscalation on a sidecar', { containers: [{}, { name: 'side', image: 'x', securityContext: { allowPrivilegeEscalation: true } }] }, `${P}.containers[1].securityContext.allowPrivilegeEscalation`, 'allowPrivilegeEscalation'],
    ['capabilities.add', { containers: [{ securityContext: { capabilities: { add: ['NET_ADMIN'] } } }] }, `${P}.containers[0].securityContext.capabilities.add`, 'addCapabilities'],
    ['a hostPath volume', { volumes: [{ name: 'tmp', emptyDir: {} }, { name: 'root', hostPath: { path: '/' } }] }, `${P}.volumes[1].hostPath`, 'hostPath'],
    ['hostNetwork', { hostNetwork: true }, `${P}.hostNetwork`, 'hostNetwork'],
    ['hostPID', { hostPID: true }, `${P}.hostPID`, 'hostPID'],
    ['hostIPC', { hostIPC: true }, `${P}.hostIPC`, 'hostIPC'],
    ['a container hostPort', { containers: [{ ports: [{ containerPort: 8080, hostPort: 80 }] }] }, `${P}.containers[0].ports[0].hostPort`, 'hostPort'],
    ['a string where a boolean goes', { hostNetwork: 'true' }, `${P}.hostNetwork`, 'hostNetwork'],
  ])('refuses %s, naming the field and the kubeless-config key, and plans it once the feature is on', (_name, pod, path, feature) => {
    const err = refusal(fn(withPod(pod)));
    expect(err.reason).toBe('PodFieldNotAllowed');
    expect(err.message).toContain(path);
    expect(err.message).toContain(`${feature}: true`);
    expect(err.message).toContain('kubeless-config pod-spec-features');
    expect(() => planFunction(fn(withPod(pod)), allow(feature))).not.toThrow();
    // Another feature turned on does not let it through.
    const other = POD_SPEC_FEATURES.filter((f) => f !== feature);
    expect(refusal(fn(withPod(pod)), allow(...other)).reason).toBe('PodFieldNotAllowed');
  });

  it('keeps an allowed field in the planned pod', () => {
    const spec = tpl(planFunction(fn(withPod({ hostNetwork: true, containers: [{ securityContext: { capabilities: { add: ['NET_ADMIN'] } } }] })), allow('hostNetwork', 'addCapabilities')).deployment).spec;
    expect(spec.hostNetwork).toBe(true);
    expect(spec.containers[0].securityContext.capabilities).toEqual({ add: ['NET_ADMIN'], drop: ['ALL'] });
  });

  it('leaves out the allowPrivilegeEscalation default where an allowed field implies escalation (the API server refuses the pair)', () => {
    const spec = (pod: J, ...features: PodSpecFeature[]): J => tpl(planFunction(fn(withPod(pod)), allow(...features)).deployment).spec;
    expect(spec({ containers: [{ securityContext: { privileged: true } }] }, 'privileged').containers[0].securityContext).toEqual({ privileged: true, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true, runAsNonRoot: true });
    expect(spec({ containers: [{ securityContext: { capabilities: { add: ['CAP_SYS_ADMIN'] } } }] }, 'addCapabilities').containers[0].securityContext.allowPrivilegeEscalation).toBeUndefined();
    expect(spec({ containers: [{ securityContext: { capabilities: { add: ['NET_ADMIN'] } } }] }, 'addCapabilities').containers[0].securityContext.allowPrivilegeEscalation).toBe(false);
  });

  it('lists every refused field in one message', () => {
    const err = refusal(fn(withPod({ hostPID: true, volumes: [{ name: 'h', hostPath: { path: '/var/run' } }], containers: [{ securityContext: { privileged: true } }] })));
    expect(err.message).toMatch(/hostPID.*volumes\[0\]\.hostPath.*containers\[0\]\.securityContext\.privileged/u);
  });

  it.each<[string, J]>([
    ['privileged: false', { containers: [{ securityContext: { privileged: false } }] }],
    ['allowPrivilegeEscalation: false', { containers: [{ securityContext: { allowPrivilegeEscalation: false } }] }],
    ['an empty capabilities.add', { containers: [{ securityContext: { capabilities: { add: [], drop: ['ALL'] } } }] }],
    ['hostPort: 0', { containers: [{ ports: [{ containerPort: 9090, hostPort: 0 }] }] }],
    ['hostNetwork: false', { hostNetwork: false, hostPID: false, hostIPC: false }],
    ['secret, configMap and emptyDir volumes', { volumes: [{ name: 's', secret: { secretName: 's' } }, { name: 'c', configMap: { name: 'c' } }, { name: 'e', emptyDir: {} }] }],
  ])('plans %s', (_name, pod) => {
    expect(() => planFunction(fn(withPod(pod)), defaultKubelessConfig())).not.toThrow();
  });

  it("trusts the operator's kubeless-config deployment template", () => {
    const cfg = parseKubelessConfig({ deployment: 'spec:\n  template:\n    spec:\n      hostNetwork: true\n      containers:\n        - securityContext: {privileged: true}' });
    const spec = tpl(planFunction(fn(base), cfg).deployment).spec;
    expect(spec.hostNetwork).toBe(true);
    expect(spec.containers[0].securityContext.privileged).toBe(true);
  });

  it.each(['kube-system:default', 'system:serviceaccount:kube-system:default', 'other/sa', 'Admin', 'sa_1', '../x'])('refuses serviceAccountName %j, which no ServiceAccount of the namespace can have', (name) => {
    const err = refusal(fn(withPod({ serviceAccountName: name })));
    expect(err.reason).toBe('InvalidServiceAccountName');
    expect(err.message).toContain(JSON.stringify(name));
    expect(err.message).toContain('its own namespace, ns1');
  });

  it('refuses a ServiceAccount name that is not one from the kubeless-config template too', () => {
    expect(refusal(fn(base), parseKubelessConfig({ deployment: 'spec: {template: {spec: {serviceAccountName: "kube-system:builder"}}}' })).reason).toBe('InvalidServiceAccountName');
  });

  it.each(['falco', 'team-a.reader'])('runs as serviceAccountName %s of its namespace', (name) => {
    expect(tpl(planFunction(fn(withPod({ serviceAccountName: name })), defaultKubelessConfig()).deployment).spec.serviceAccountName).toBe(name);
  });
});

describe("tenancy: a function's Service stays in its namespace", () => {
  it.each<[string, J, string, RegExp]>([
    ['--service-type ExternalName', { type: 'ExternalName', externalName: 'victim.team-a.svc.cluster.local', ports: [{ port: 8080 }] }, 'ExternalNameService', /ExternalName/u],
    ['an externalName on a ClusterIP Service', { externalName: 'example.com' }, 'ExternalNameService', /ExternalName/u],
    ['externalIPs', { externalIPs: ['203.0.113.7'] }, 'ExternalIPsService', /externalIPs/u],
  ])('refuses %s', (_name, service, reason, message) => {
    const err = refusal(fn({ ...base, service }));
    expect(err.reason).toBe(reason);
    expect(err.message).toMatch(message);
    expect(err.message).toContain('spec.service');
  });

  it.each<[string, J | undefined, J]>([
    ['no selector', undefined, { 'created-by': 'kubeless', function: 'hello' }],
    ['an empty selector', {}, { 'created-by': 'kubeless', function: 'hello' }],
    ['extra keys', { tier: 'web' }, { tier: 'web', 'created-by': 'kubeless', function: 'hello' }],
    ["another function's pods", { function: 'victim', 'created-by': 'someone' }, { 'created-by': 'kubeless', function: 'hello' }],
    ['only other pods', { app: 'database' }, { app: 'database', 'created-by': 'kubeless', function: 'hello' }],
  ])('selects only the function pods given %s', (_name, selector, want) => {
    const p = planFunction(fn({ ...base, service: selector === undefined ? {} : { selector } }), defaultKubelessConfig());
    expect((p.service as J).spec.selector).toEqual(want);
  });

  it('keeps the type a user picks otherwise', () => {
    expect((planFunction(fn({ ...base, service: { type: 'NodePort' } }), defaultKubelessConfig()).service as J).spec.type).toBe('NodePort');
  });
});

describe('kubeless-config', () => {
  it('turns every pod feature off by default and reads pod-spec-features', () => {
    expect(Object.values(defaultKubelessConfig().podSpecFeatures).every((v) => !v)).toBe(true);
    const cfg = parseKubelessConfig({ 'pod-spec-features': 'hostPath: true\nprivileged: false' });
    expect(cfg.podSpecFeatures).toMatchObject({ hostPath: true, privileged: false, hostNetwork: false });
    expect(cfg.problems).toEqual([]);
  });

  it.each([
    ['an unknown feature', 'hostpath: true', /unknown feature hostpath/u],
    ['a value that is not a boolean', 'hostPath: "yes"', /hostPath must be true or false/u],
    ['a list', '[hostPath]', /must be an object/u],
    ['broken YAML', '{hostPath: [', /pod-spec-features/u],
  ])('reports %s in pod-spec-features and keeps the feature off', (_name, text, problem) => {
    const cfg = parseKubelessConfig({ 'pod-spec-features': text });
    expect(cfg.podSpecFeatures.hostPath).toBe(false);
    expect(cfg.problems.join('\n')).toMatch(problem);
  });

  it('reads runtime-images with the original key spellings and lists ids', () => {
    const cfg = parseKubelessConfig({
      'runtime-images': JSON.stringify([{ id: 'python', depname: 'requirements.txt', filenamesuffix: '.py', versions: [{ name: 'python312', version: 3.12, images: [{ phase: 'runtime', image: 'x' }] }] }]),
    });
    expect(runtimeIds(cfg)).toEqual(['python3.12']);
    expect(cfg.problems).toEqual([]);
  });

  it('keeps the defaults and reports a broken key', () => {
    const cfg = parseKubelessConfig({ 'runtime-images': '{not json', deployment: '[1,2]' });
    expect(runtimeIds(cfg)).toContain('nodejs24');
    expect(cfg.problems).toHaveLength(2);
  });

  it('ships Node.js 22, 24, 26 and Python 3.11 to 3.13, and provisions code with the Node.js 24 image', () => {
    const cfg = defaultKubelessConfig();
    expect(runtimeIds(cfg)).toEqual(['nodejs22', 'nodejs24', 'nodejs26', 'python3.11', 'python3.12', 'python3.13']);
    expect(cfg.provisionImage).toBe('kubeless/runtime-nodejs:24');
  });

  it('gives every dependency install the install-env (a registry mirror); the runtime\'s own installation env wins', () => {
    const cfg = parseKubelessConfig({
      'install-env': 'NPM_REGISTRY: http://mirror.example:4873/\nPIP_INDEX_URL: http://mirror.example/simple/\nHOME: /elsewhere\nRETRIES: 3',
      'runtime-images': JSON.stringify([
        { ID: 'python', depName: 'requirements.txt', fileNameSuffix: '.py', versions: [{ name: 'python313', version: '3.13', images: [{ phase: 'installation', image: 'i', command: 'install', env: { PIP_INDEX_URL: 'http://runtime.example/simple/' } }, { phase: 'runtime', image: 'r' }] }] },
      ]),
    });
    expect(cfg.problems).toEqual([]);
    const inits = tpl(planFunction(fn({ runtime: 'python3.13', handler: 'f.h', function: 'x', deps: 'six' }), cfg).deployment).spec.initContainers as J[];
    const env = inits.find((c) => c.name === 'install')?.env as { name: string; value: string }[];
    const byName = Object.fromEntries(env.map((e) => [e.name, e.value]));
    expect(byName).toMatchObject({ NPM_REGISTRY: 'http://mirror.example:4873/', PIP_INDEX_URL: 'http://runtime.example/simple/', HOME: '/elsewhere', RETRIES: '3' });
    expect(env.length).toBe(new Set(env.map((e) => e.name)).size);
    // Only the install step: the function's own container never gets it.
    expect(JSON.stringify(tpl(planFunction(fn({ runtime: 'python3.13', handler: 'f.h', function: 'x', deps: 'six' }), cfg).deployment as J).spec.containers)).not.toContain('mirror.example');
  });

  it.each([
    ['a bad name', '"1BAD": x', /1BAD is not an environment variable name/u],
    ['a value that is not a string', 'A: [1]', /A must be a string/u],
    ['a list', '[A]', /must be an object/u],
  ])('reports %s in install-env and leaves it out', (_name, text, problem) => {
    const cfg = parseKubelessConfig({ 'install-env': text });
    expect(cfg.installEnv).toEqual({});
    expect(cfg.problems.join('\n')).toMatch(problem);
  });

  it('ships the ids the end-of-life hint suggests', () => {
    const ids = runtimeIds(defaultKubelessConfig());
    for (const retired of ['nodejs20', 'python2.7']) expect(ids).toContain(retiredRuntime(retired)?.use);
  });
});

describe('mergeUnder', () => {
  it('fills only what is missing, merges containers by index and appends env', () => {
    expect(
      mergeUnder(
        { a: 1, containers: [{ name: 'c', env: [{ name: 'A', value: '1' }] }] },
        { a: 2, b: 3, containers: [{ image: 'i', env: [{ name: 'A', value: 'x' }, { name: 'B', value: '2' }] }] },
      ),
    ).toEqual({ a: 1, b: 3, containers: [{ name: 'c', image: 'i', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] }] });
  });
});
