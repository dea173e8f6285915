/**
 * The function controller against the real API server and controller-manager: children,
 * security defaults under Pod Security `restricted`, rollouts, config edits, conflicts and bad
 * input. Pods start on the stack's node a few seconds later: the first status says WaitingForReplicas.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clients, grantSecrets, kubectlOk, withNamespace } from '@kubeless/stack';
import { condition, createFunction, eventually, getFunction, getRaw, patchFunction, startController, type Running } from './harness.js';

type Json = Record<string, any>;

let ns: { name: string; cleanup: () => Promise<void> };
let ctrl: Running;
beforeAll(async () => {
  ns = await withNamespace('fnctl');
  // The talk's namespace policy: function pods must pass the restricted Pod Security Standard.
  await kubectlOk(['label', 'namespace', ns.name, 'pod-security.kubernetes.io/enforce=restricted', 'pod-security.kubernetes.io/warn=restricted']);
  await kubectlOk(['create', 'secret', 'generic', 'pubsub-key', '-n', ns.name, '--from-literal=key.json={"k":"v"}']);
  await kubectlOk(['create', 'serviceaccount', 'falco', '-n', ns.name]);
  ctrl = await startController(ns.name);
});
afterAll(async () => {
  await ctrl.stop();
  await ns.cleanup();
});

const seedCode = "def handler(event, context):\n    return event['data']\n";

/** The Function the original CLI writes for the talk's `kubeless function deploy foo ... --secrets pubsub-key --env ...`. */
function seedFunction(name: string, extra: { serviceAccountName?: string } = {}): Record<string, unknown> {
  return {
    metadata: { name, labels: { 'created-by': 'kubeless', function: name, foo: 'bar', bar: 'baz' }, annotations: { 'iam.amazonaws.com/role': 'role-arn' } },
    spec: {
      runtime: 'python3.11',
      handler: 'foo.handler',
      'function-content-type': 'text',
      function: seedCode,
      checksum: '',
      deps: '',
      timeout: '180',
      deployment: {
        spec: {
          template: {
            spec: {
              ...(extra.serviceAccountName ? { serviceAccountName: extra.serviceAccountName } : {}),
              containers: [
                {
                  name: '',
                  image: '',
                  imagePullPolicy: 'Always',
                  resources: {},
                  env: [{ name: 'GOOGLE_APPLICATION_CREDENTIALS', value: '/pubsub-key/key.json' }],
                  volumeMounts: [{ name: 'pubsub-key-vol', mountPath: '/pubsub-key' }],
                },
              ],
              volumes: [{ name: 'pubsub-key-vol', secret: { secretName: 'pubsub-key' } }],
            },
          },
        },
      },
      service: { ports: [{ name: 'http-function-port', port: 8080, targetPort: 8080, protocol: 'TCP' }], selector: { 'created-by': 'kubeless', function: name }, type: 'ClusterIP' },
    },
  };
}

const api = (ns: string, kind: 'configmaps' | 'services' | 'deployments', name: string): string =>
  kind === 'deployments' ? `/apis/apps/v1/namespaces/${ns}/deployments/${name}` : `/api/v1/namespaces/${ns}/${kind}/${name}`;

describe('the seed function', () => {
  it('becomes a ConfigMap, a Service and a Deployment with the expected fields', async () => {
    await createFunction(ns.name, seedFunction('foo'));
    const dep = await eventually('deployment', () => getRaw<Json>(api(ns.name, 'deployments', 'foo')));
    const cm = (await getRaw<Json>(api(ns.name, 'configmaps', 'foo')))!;
    const svc = (await getRaw<Json>(api(ns.name, 'services', 'foo')))!;
    const fn = await getFunction(ns.name, 'foo');

    for (const child of [cm, svc, dep]) {
      expect(child.metadata.labels).toMatchObject({ 'created-by': 'kubeless', function: 'foo', foo: 'bar', bar: 'baz' });
      expect(child.metadata.ownerReferences).toEqual([
        { apiVersion: 'kubeless.io/v1beta1', kind: 'Function', name: 'foo', uid: fn.metadata?.uid, controller: true, blockOwnerDeletion: true },
      ]);
    }
    expect(cm.data).toEqual({ handler: 'foo.handler', 'foo.py': seedCode });
    expect(svc.spec.ports).toEqual([{ name: 'http-function-port', port: 8080, targetPort: 8080, protocol: 'TCP' }]);
    expect(svc.spec.selector).toEqual({ 'created-by': 'kubeless', function: 'foo' });

    const tpl = dep.spec.template;
    expect(dep.spec.selector).toEqual({ matchLabels: { 'created-by': 'kubeless', function: 'foo' } });
    expect(tpl.metadata.labels).toMatchObject({ foo: 'bar', bar: 'baz', function: 'foo', 'created-by': 'kubeless' });
    expect(tpl.metadata.annotations['iam.amazonaws.com/role']).toBe('role-arn');
    const c0 = tpl.spec.containers[0];
    expect(c0.name).toBe('foo');
    expect(c0.image).toBe('kubeless/runtime-python:3.11');
    const env = Object.fromEntries((c0.env as { name: string; value: string }[]).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      GOOGLE_APPLICATION_CREDENTIALS: '/pubsub-key/key.json',
      FUNC_HANDLER: 'handler',
      MOD_NAME: 'foo',
      FUNC_TIMEOUT: '180',
      FUNC_RUNTIME: 'python3.11',
      FUNC_MEMORY_LIMIT: '0',
      FUNC_PORT: '8080',
      KUBELESS_INSTALL_VOLUME: '/kubeless',
    });
    // Code in /kubeless (read-only for the function), the secret mounted read-only.
    expect(c0.volumeMounts).toEqual(
      expect.arrayContaining([
        { name: 'pubsub-key-vol', mountPath: '/pubsub-key', readOnly: true },
        { name: 'kubeless-code', mountPath: '/kubeless', readOnly: true },
      ]),
    );
    const prepare = tpl.spec.initContainers.find((c: Json) => c.name === 'prepare');
    expect(prepare.volumeMounts).toEqual(expect.arrayContaining([{ name: 'kubeless-src', mountPath: '/src', readOnly: true }, { name: 'kubeless-code', mountPath: '/kubeless' }]));
    expect(Object.fromEntries((prepare.env as { name: string; value: string }[]).map((e) => [e.name, e.value]))).toMatchObject({ FUNC_FILE: 'foo.py', KUBELESS_DEPS_NAME: 'requirements.txt' });
    // Security defaults: non-root, no escalation, no capabilities, RuntimeDefault, read-only root; no token without a service account.
    expect(tpl.spec.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    for (const c of [...tpl.spec.containers, ...tpl.spec.initContainers]) {
      expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true, runAsNonRoot: true });
    }
    expect(tpl.spec.automountServiceAccountToken).toBe(false);

    const st = await eventually('status', async () => {
      const f = await getFunction(ns.name, 'foo');
      return condition(f, 'DeploymentReady') ? f : undefined;
    });
    expect(st.status?.observedGeneration).toBe(1);
    expect(st.status?.url).toBe(`http://foo.${ns.name}.svc.cluster.local:8080`);
    expect(condition(st, 'ConfigReady')?.status).toBe('True');
    expect(condition(st, 'ServiceReady')?.status).toBe('True');
    expect(condition(st, 'DeploymentReady')).toMatchObject({ status: 'False', reason: 'WaitingForReplicas' });
    expect(condition(st, 'Ready')).toMatchObject({ status: 'False', reason: 'WaitingForReplicas' });
  });

  it('creates pods that pass Pod Security restricted, from the Deployment it wrote', async () => {
    const pods = await eventually('pods', async () => {
      const list = await clients().core.listNamespacedPod({ namespace: ns.name, labelSelector: 'function=foo' });
      return list.items.length > 0 ? list.items : undefined;
    });
    expect(pods[0]?.metadata?.labels).toMatchObject({ foo: 'bar', bar: 'baz' });
    const events = await clients().core.listNamespacedEvent({ namespace: ns.name });
    const failures = events.items.filter((e) => e.type === 'Warning' && /FailedCreate|violat/i.test(`${e.reason ?? ''} ${e.message ?? ''}`));
    expect(failures.map((e) => e.message)).toEqual([]);
  });

  it('uses a named ServiceAccount and mounts a token only then', async () => {
    await createFunction(ns.name, seedFunction('foo-sa', { serviceAccountName: 'falco' }));
    const dep = await eventually('deployment', () => getRaw<Json>(api(ns.name, 'deployments', 'foo-sa')));
    expect(dep.spec.template.spec.serviceAccountName).toBe('falco');
    expect(dep.spec.template.spec.automountServiceAccountToken).toBe(true);
  });
});

describe('changes', () => {
  it('rolls the pod template on a code change and on a runtime-only change', async () => {
    const before = (await getRaw<Json>(api(ns.name, 'deployments', 'foo')))!;
    const sum0 = before.spec.template.metadata.annotations['kubeless.io/function-checksum'];
    await patchFunction(ns.name, 'foo', { spec: { function: "def handler(event, context):\n    return 'v2'\n" } });
    const afterCode = await eventually('code rollout', async () => {
      const d = await getRaw<Json>(api(ns.name, 'deployments', 'foo'));
      return d && d.spec.template.metadata.annotations['kubeless.io/function-checksum'] !== sum0 ? d : undefined;
    });
    expect((await getRaw<Json>(api(ns.name, 'configmaps', 'foo')))?.data['foo.py']).toContain("'v2'");

    await patchFunction(ns.name, 'foo', { spec: { runtime: 'python3.12' } });
    const afterRuntime = await eventually('runtime rollout', async () => {
      const d = await getRaw<Json>(api(ns.name, 'deployments', 'foo'));
      return d && d.metadata.generation > afterCode.metadata.generation ? d : undefined;
    });
    expect(afterRuntime.spec.template.spec.containers[0].image).toBe('kubeless/runtime-python:3.12');
    expect(afterRuntime.spec.template.metadata.annotations['kubeless.io/function-checksum']).not.toBe(
      afterCode.spec.template.metadata.annotations['kubeless.io/function-checksum'],
    );
  });

  it('updates the Service selector and type, which the original never did; the function\'s own keys stay', async () => {
    await patchFunction(ns.name, 'foo', { spec: { service: { ports: [{ name: 'http-function-port', port: 80, targetPort: 8080, protocol: 'TCP' }], type: 'NodePort', selector: { 'created-by': null, function: 'foo', tier: 'web' } } } });
    const svc = await eventually('service update', async () => {
      const s = await getRaw<Json>(api(ns.name, 'services', 'foo'));
      return s?.spec.type === 'NodePort' ? s : undefined;
    });
    expect(svc.spec.selector).toEqual({ 'created-by': 'kubeless', function: 'foo', tier: 'web' });
    expect(svc.spec.ports[0].port).toBe(80);
    await eventually('url', async () => (await getFunction(ns.name, 'foo')).status?.url === `http://foo.${ns.name}.svc.cluster.local:80`);
  });

  it('applies a kubeless-config edit to existing functions within 10 s, without a restart', async () => {
    await kubectlOk(['create', 'configmap', 'kubeless-config', '-n', ns.name, '--from-literal=deployment={"spec":{"template":{"spec":{"serviceAccountName":"falco"}}}}']);
    const started = Date.now();
    const dep = await eventually(
      'config applied',
      async () => {
        const d = await getRaw<Json>(api(ns.name, 'deployments', 'foo'));
        return d?.spec.template.spec.serviceAccountName === 'falco' ? d : undefined;
      },
      10_000,
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(dep.spec.template.spec.automountServiceAccountToken).toBe(true);
    await kubectlOk(['delete', 'configmap', 'kubeless-config', '-n', ns.name]);
    await eventually('config removed', async () => (await getRaw<Json>(api(ns.name, 'deployments', 'foo')))?.spec.template.spec.serviceAccountName === 'default');
  });

  it('removes every child when the Function is deleted', async () => {
    await clients().custom.deleteNamespacedCustomObject({ group: 'kubeless.io', version: 'v1beta1', plural: 'functions', namespace: ns.name, name: 'foo-sa' });
    await eventually(
      'children collected',
      async () =>
        (await getRaw(api(ns.name, 'deployments', 'foo-sa'))) === undefined &&
        (await getRaw(api(ns.name, 'services', 'foo-sa'))) === undefined &&
        (await getRaw(api(ns.name, 'configmaps', 'foo-sa'))) === undefined &&
        // Every pod is gone or on its way out: when it leaves the node is the kubelet's business
        // (once, in CI, a pod deleted while it was starting was killed 3 minutes later).
        (await clients().core.listNamespacedPod({ namespace: ns.name, labelSelector: 'function=foo-sa' })).items.every((p) => p.metadata?.deletionTimestamp !== undefined),
      60_000,
    );
  });
});

describe('conflicts and bad input', () => {
  async function expectNotReady(name: string, reason: string, messagePart: string): Promise<void> {
    const fn = await eventually(`${name} ${reason}`, async () => {
      const f = await getFunction(ns.name, name);
      return condition(f, 'Ready')?.reason === reason ? f : undefined;
    });
    expect(condition(fn, 'Ready')?.status).toBe('False');
    expect(condition(fn, 'Ready')?.message).toContain(messagePart);
    const events = await eventually(`${reason} event`, async () => {
      const list = await clients().core.listNamespacedEvent({ namespace: ns.name, fieldSelector: `involvedObject.name=${name},reason=${reason}` });
      return list.items.length > 0 ? list.items : undefined;
    });
    expect(events[0]?.type).toBe('Warning');
  }

  it('leaves a Service it did not create untouched and reports the conflict', async () => {
    await kubectlOk(['create', 'service', 'clusterip', 'taken', '--tcp=9999:9999', '-n', ns.name]);
    const before = (await getRaw<Json>(api(ns.name, 'services', 'taken')))!;
    await createFunction(ns.name, { metadata: { name: 'taken' }, spec: { runtime: 'nodejs24', handler: 'index.hello', function: "module.exports = { hello: () => 'hi' }" } });
    await expectNotReady('taken', 'ServiceConflict', 'not created by kubeless');
    const after = (await getRaw<Json>(api(ns.name, 'services', 'taken')))!;
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect(after.metadata.ownerReferences).toBeUndefined();
  });

  it('reports a runtime kubeless-config does not list, naming the supported ones, and for one past its end of life what to use', async () => {
    const supported = 'supported: nodejs22, nodejs24, nodejs26, python3.11, python3.12, python3.13';
    await createFunction(ns.name, { metadata: { name: 'old-python' }, spec: { runtime: 'python2.7', handler: 'foo.handler', function: seedCode } });
    await createFunction(ns.name, { metadata: { name: 'old-node' }, spec: { runtime: 'nodejs20', handler: 'index.hello', function: "module.exports = { hello: () => 'hi' }" } });
    await expectNotReady('old-python', 'UnsupportedRuntime', `runtime "python2.7" is not listed in kubeless-config (Python 2.7 reached end of life in January 2020); use python3.13; ${supported}`);
    await expectNotReady('old-node', 'UnsupportedRuntime', `runtime "nodejs20" is not listed in kubeless-config (Node.js 20 reached end of life in April 2026); use nodejs24; ${supported}`);
  });

  it('reports deps for a runtime without a deps file', async () => {
    await kubectlOk([
      'create', 'configmap', 'kubeless-config', '-n', ns.name,
      `--from-literal=runtime-images=${JSON.stringify([
        { ID: 'nodejs', depName: 'package.json', fileNameSuffix: '.js', versions: [{ name: 'nodejs24', version: '24', images: [{ phase: 'runtime', image: 'kubeless/runtime-nodejs:24' }] }] },
        { ID: 'bash', fileNameSuffix: '.sh', versions: [{ name: 'bash5', version: '5', images: [{ phase: 'runtime', image: 'example/bash:5' }] }] },
      ])}`,
    ]);
    try {
      await createFunction(ns.name, { metadata: { name: 'bash-deps' }, spec: { runtime: 'bash5', handler: 'f.main', function: 'echo hi', deps: 'jq' } });
      await expectNotReady('bash-deps', 'DepsNotSupported', 'has no dependency file');
    } finally {
      await kubectlOk(['delete', 'configmap', 'kubeless-config', '-n', ns.name]);
    }
  });

  it('reports a deployment template the API server rejects', async () => {
    await createFunction(ns.name, {
      metadata: { name: 'bad-template' },
      spec: { runtime: 'nodejs24', handler: 'index.hello', function: "module.exports = { hello: () => 'hi' }", deployment: { spec: { replicas: 'two' } } },
    });
    await expectNotReady('bad-template', 'DeploymentInvalid', 'the API server rejected the Deployment');
  });

  it('reports a secret that does not exist where the operator granted the check, and recovers when it appears', async () => {
    // As functionController.rbac.secrets does: `get` on these names in this namespace only.
    await grantSecrets('function-controller', ns.name, ['missing-key']);
    const fn = seedFunction('no-secret');
    ((((fn.spec as Json).deployment.spec.template.spec.volumes as Json[])[0] as Json).secret as Json).secretName = 'missing-key';
    await createFunction(ns.name, fn);
    await expectNotReady('no-secret', 'SecretNotFound', 'Secret "missing-key" not found');
    await kubectlOk(['create', 'secret', 'generic', 'missing-key', '-n', ns.name, '--from-literal=a=b']);
    await eventually('recovered', async () => condition(await getFunction(ns.name, 'no-secret'), 'Ready')?.reason === 'WaitingForReplicas', 30_000);
  });

  it('reports pods that Pod Security restricted refuses (a seccomp profile of Unconfined), creates none, and recovers when the field goes', async () => {
    // Not a field the controller's pod policy refuses: its pod defaults merge under the user's, so the
    // Deployment carries Unconfined and the namespace's admission is what refuses the pods.
    await createFunction(ns.name, {
      metadata: { name: 'unconfined' },
      spec: {
        runtime: 'nodejs24',
        handler: 'index.hello',
        function: "module.exports = { hello: () => 'hi' }",
        deployment: { spec: { template: { spec: { securityContext: { seccompProfile: { type: 'Unconfined' } } } } } },
      },
    });
    const refused = await eventually(
      'refused by admission',
      async () => {
        const f = await getFunction(ns.name, 'unconfined');
        return condition(f, 'Ready')?.reason === 'ReplicaFailure' ? f : undefined;
      },
      60_000,
    );
    const ready = condition(refused, 'Ready');
    expect(ready?.status).toBe('False');
    expect(condition(refused, 'DeploymentReady')).toMatchObject({ status: 'False', reason: 'ReplicaFailure' });
    // The deployment controller's ReplicaFailure condition, as the ReplicaSet's create got it from admission.
    expect(ready?.message).toMatch(
      /^the pods cannot be created: pods "unconfined-[a-z0-9]+-[a-z0-9]+" is forbidden: violates PodSecurity "restricted:latest": seccompProfile \(pod must not set securityContext\.seccompProfile\.type to "Unconfined"\)$/,
    );
    const dep = (await getRaw<Json>(api(ns.name, 'deployments', 'unconfined')))!;
    expect(dep.spec.template.spec.securityContext.seccompProfile).toEqual({ type: 'Unconfined' });
    expect((await clients().core.listNamespacedPod({ namespace: ns.name, labelSelector: 'function=unconfined' })).items).toEqual([]);

    await patchFunction(ns.name, 'unconfined', { spec: { deployment: { spec: { template: { spec: { securityContext: null } } } } } });
    const recovered = await eventually(
      'recovered',
      async () => {
        const f = await getFunction(ns.name, 'unconfined');
        return condition(f, 'Ready')?.status === 'True' ? f : undefined;
      },
      60_000,
    );
    expect(condition(recovered, 'Ready')?.reason).toBe('Deployed');
    expect(recovered.status?.readyReplicas).toBe(1);
    const pods = (await clients().core.listNamespacedPod({ namespace: ns.name, labelSelector: 'function=unconfined' })).items.filter((p) => !p.metadata?.deletionTimestamp);
    expect(pods.map((p) => [p.status?.phase, p.spec?.securityContext?.seccompProfile?.type])).toEqual([['Running', 'RuntimeDefault']]);
  });

  it('keeps serving other functions meanwhile', async () => {
    await createFunction(ns.name, { metadata: { name: 'healthy' }, spec: { runtime: 'nodejs22', handler: 'index.hello', function: "module.exports = { hello: () => 'hi' }" } });
    await eventually('healthy deployment', async () => (await getRaw<Json>(api(ns.name, 'deployments', 'healthy')))?.spec.template.spec.containers[0].image === 'kubeless/runtime-nodejs:22');
  });
});
