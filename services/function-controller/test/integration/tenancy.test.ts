/**
 * Tenant isolation (issue 18) against the real API server, with the controller on its own
 * ServiceAccount's token as the chart grants it: pod fields that escalate are refused unless
 * kubeless-config turns them on, a function runs only as a ServiceAccount of its namespace, its
 * Service stays in the namespace, and the controller reads no Secret it was not granted.
 * Each test asserts on objects in the API server (status conditions, children present or absent).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '@kubeless/controller';
import { clients, controllerKubeconfig, grantSecrets, kubectlOk, withNamespace } from '@kubeless/stack';
import { condition, createFunction, eventually, getFunction, getRaw, patchFunction, startController, type Running } from './harness.js';

type Json = Record<string, any>;

let ns: { name: string; cleanup: () => Promise<void> };
let other: { name: string; cleanup: () => Promise<void> };
let ctrl: Running;
beforeAll(async () => {
  ns = await withNamespace('fntenant');
  other = await withNamespace('fntenant-other');
  ctrl = await startController(ns.name);
});
afterAll(async () => {
  await ctrl.stop();
  await ns.cleanup();
  await other.cleanup();
});

const code = "module.exports = { hello: () => 'hi' }";
/** A Function with `pod` as its own pod template spec and `service` as spec.service; no replicas unless asked (no pod is needed to see the plan). */
function fnWith(name: string, o: { pod?: Json; service?: Json; replicas?: number } = {}): Record<string, unknown> {
  return {
    metadata: { name },
    spec: {
      runtime: 'nodejs24',
      handler: 'index.hello',
      function: code,
      deployment: { spec: { replicas: o.replicas ?? 0, template: { spec: o.pod ?? {} } } },
      ...(o.service ? { service: o.service } : {}),
    },
  };
}

const path = (kind: 'configmaps' | 'services' | 'deployments' | 'pods', name: string, namespace = ns.name): string =>
  kind === 'deployments' ? `/apis/apps/v1/namespaces/${namespace}/deployments/${name}` : `/api/v1/namespaces/${namespace}/${kind}/${name}`;

/** Waits until the Function's Ready condition has `reason`, and returns it. */
async function readyCondition(name: string, reason: string, timeoutMs = 30_000): Promise<{ status: string; reason?: string; message?: string }> {
  return eventually(
    `${name} Ready reason ${reason}`,
    async () => {
      const c = condition(await getFunction(ns.name, name), 'Ready');
      return c?.reason === reason ? c : undefined;
    },
    timeoutMs,
  );
}

async function expectNoChildren(name: string): Promise<void> {
  expect(await getRaw(path('deployments', name))).toBeUndefined();
  expect(await getRaw(path('services', name))).toBeUndefined();
  expect(await getRaw(path('configmaps', name))).toBeUndefined();
}

describe('pod fields that escalate', () => {
  it.each<[string, Json, string, string]>([
    ['hostNetwork', { hostNetwork: true }, 'spec.deployment.spec.template.spec.hostNetwork', 'hostNetwork'],
    ['a hostPath volume', { volumes: [{ name: 'root', hostPath: { path: '/' } }], containers: [{ volumeMounts: [{ name: 'root', mountPath: '/host' }] }] }, 'spec.deployment.spec.template.spec.volumes[0].hostPath', 'hostPath'],
    ['a privileged init container', { initContainers: [{ name: 'setup', image: 'busybox', securityContext: { privileged: true } }] }, 'spec.deployment.spec.template.spec.initContainers[0].securityContext.privileged', 'privileged'],
    ['an added capability', { containers: [{ securityContext: { capabilities: { add: ['SYS_ADMIN'] } } }] }, 'spec.deployment.spec.template.spec.containers[0].securityContext.capabilities.add', 'addCapabilities'],
    ['a hostPort', { containers: [{ ports: [{ containerPort: 8080, hostPort: 8080 }] }] }, 'spec.deployment.spec.template.spec.containers[0].ports[0].hostPort', 'hostPort'],
  ])('refuses a new Function asking for %s: Ready=False, no Deployment', async (_what, pod, field, feature) => {
    const name = `esc-${feature.toLowerCase()}`;
    await createFunction(ns.name, fnWith(name, { pod }));
    const ready = await readyCondition(name, 'PodFieldNotAllowed');
    expect(ready.status).toBe('False');
    expect(ready.message).toContain(field);
    expect(ready.message).toContain(`${feature}: true`);
    expect(ready.message).toContain('kubeless-config pod-spec-features');
    await expectNoChildren(name);
  });

  it('leaves the running children of an existing Function as they were when it is edited to ask for one', async () => {
    await createFunction(ns.name, fnWith('esc-edit'));
    const before = await eventually('esc-edit deployment', () => getRaw<Json>(path('deployments', 'esc-edit')));
    await eventually('esc-edit service', () => getRaw<Json>(path('services', 'esc-edit')));
    await patchFunction(ns.name, 'esc-edit', { spec: { deployment: { spec: { template: { spec: { containers: [{ securityContext: { privileged: true } }] } } } } } });
    const ready = await readyCondition('esc-edit', 'PodFieldNotAllowed');
    expect(ready.message).toContain('containers[0].securityContext.privileged');
    const after = (await getRaw<Json>(path('deployments', 'esc-edit')))!;
    expect(after.metadata.uid).toBe(before.metadata.uid);
    expect(after.metadata.generation).toBe(before.metadata.generation);
    expect(after.spec.template.spec.containers[0].securityContext.privileged).toBeUndefined();
    expect(await getRaw(path('services', 'esc-edit'))).toBeDefined();
    expect(await getRaw(path('configmaps', 'esc-edit'))).toBeDefined();
  });

  it('lets a field through once kubeless-config turns it on, without a restart', async () => {
    await createFunction(ns.name, fnWith('esc-allowed', { pod: { hostIPC: true } }));
    await createFunction(ns.name, fnWith('esc-still-off', { pod: { hostPID: true } }));
    await readyCondition('esc-allowed', 'PodFieldNotAllowed');
    await readyCondition('esc-still-off', 'PodFieldNotAllowed');
    await kubectlOk(['create', 'configmap', 'kubeless-config', '-n', ns.name, '--from-literal=pod-spec-features=hostIPC: true']);
    try {
      const dep = await eventually('esc-allowed deployment', () => getRaw<Json>(path('deployments', 'esc-allowed')), 15_000);
      expect(dep.spec.template.spec.hostIPC).toBe(true);
      // The other features stay off (the config edit reconciled every Function, this one too).
      expect((await readyCondition('esc-still-off', 'PodFieldNotAllowed')).status).toBe('False');
      expect(await getRaw(path('deployments', 'esc-still-off'))).toBeUndefined();
    } finally {
      await kubectlOk(['delete', 'configmap', 'kubeless-config', '-n', ns.name]);
    }
  });
});

describe('ServiceAccounts', () => {
  it.each([
    ['sa-colon', 'kube-system:default'],
    ['sa-username', 'system:serviceaccount:kube-system:default'],
    ['sa-slash', 'kube-system/default'],
  ])('refuses (%s) serviceAccountName %j: Ready=False, no Deployment', async (name, sa) => {
    await createFunction(ns.name, fnWith(name, { pod: { serviceAccountName: sa } }));
    const ready = await readyCondition(name, 'InvalidServiceAccountName');
    expect(ready.message).toContain(JSON.stringify(sa));
    await expectNoChildren(name);
  });

  it("runs no pod as another namespace's ServiceAccount, and says why", async () => {
    // The ServiceAccount exists only in the other namespace: a pod of ns may name it, but can only ever be ns's.
    await kubectlOk(['create', 'serviceaccount', 'deployer', '-n', other.name]);
    await createFunction(ns.name, fnWith('sa-elsewhere', { pod: { serviceAccountName: 'deployer' }, replicas: 1 }));
    const dep = await eventually('sa-elsewhere deployment', () => getRaw<Json>(path('deployments', 'sa-elsewhere')));
    expect(dep.spec.template.spec.serviceAccountName).toBe('deployer');
    const st = await eventually('sa-elsewhere ReplicaFailure', async () => {
      const c = condition(await getFunction(ns.name, 'sa-elsewhere'), 'DeploymentReady');
      return c?.reason === 'ReplicaFailure' ? c : undefined;
    });
    expect(st.message).toMatch(/service ?account/iu);
    const pods = await clients().core.listNamespacedPod({ namespace: ns.name, labelSelector: 'function=sa-elsewhere' });
    expect(pods.items).toEqual([]);
    const elsewhere = await clients().core.listNamespacedPod({ namespace: other.name });
    expect(elsewhere.items).toEqual([]);
  });
});

describe("a function's Service", () => {
  it.each<[string, Json, string]>([
    ['ExternalName', { type: 'ExternalName', externalName: 'victim.team-a.svc.cluster.local', ports: [{ port: 8080 }] }, 'ExternalNameService'],
    ['externalIPs', { ports: [{ port: 8080, targetPort: 8080 }], externalIPs: ['203.0.113.7'] }, 'ExternalIPsService'],
  ])('refuses %s: Ready=False, no Service, no Deployment', async (what, service, reason) => {
    const name = `svc-${what.toLowerCase()}`;
    await createFunction(ns.name, fnWith(name, { service }));
    const ready = await readyCondition(name, reason);
    expect(ready.status).toBe('False');
    await expectNoChildren(name);
  });

  it('leaves the Service of an existing Function as it was when it is edited to ExternalName', async () => {
    await createFunction(ns.name, fnWith('svc-edit'));
    const before = await eventually('svc-edit service', () => getRaw<Json>(path('services', 'svc-edit')));
    await patchFunction(ns.name, 'svc-edit', { spec: { service: { type: 'ExternalName', externalName: 'kubernetes.default.svc.cluster.local' } } });
    await readyCondition('svc-edit', 'ExternalNameService');
    const after = (await getRaw<Json>(path('services', 'svc-edit')))!;
    expect(after.spec.type).toBe('ClusterIP');
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it("selects only the function's pods, whatever selector the user writes", async () => {
    await createFunction(ns.name, fnWith('svc-select', { service: { ports: [{ port: 8080, targetPort: 8080 }], selector: { function: 'victim', 'created-by': 'me', app: 'db' } } }));
    const svc = await eventually('svc-select service', () => getRaw<Json>(path('services', 'svc-select')));
    expect(svc.spec.selector).toEqual({ app: 'db', 'created-by': 'kubeless', function: 'svc-select' });
  });
});

describe('Secrets', () => {
  it('the controller may not read a Secret of a namespace that did not grant it', async () => {
    await kubectlOk(['create', 'secret', 'generic', 'team-key', '-n', ns.name, '--from-literal=k=v']);
    const c = KubeClient.fromKubeconfig(controllerKubeconfig('function-controller'));
    try {
      const status = await c.get(`/api/v1/namespaces/${ns.name}/secrets/team-key`).then(
        () => 200,
        (err: unknown) => (err as { status?: number }).status,
      );
      expect(status).toBe(403);
    } finally {
      c.close();
    }
  });

  it('deploys a Function whose Secret it may not check, and names that Secret while its pods wait', async () => {
    await createFunction(ns.name, fnWith('sec-unchecked', { replicas: 1, pod: { volumes: [{ name: 'k', secret: { secretName: 'not-there' } }], containers: [{ volumeMounts: [{ name: 'k', mountPath: '/k' }] }] } }));
    await eventually('sec-unchecked deployment', () => getRaw<Json>(path('deployments', 'sec-unchecked')));
    const c = await eventually('sec-unchecked waiting', async () => {
      const d = condition(await getFunction(ns.name, 'sec-unchecked'), 'DeploymentReady');
      return d?.reason === 'WaitingForReplicas' ? d : undefined;
    });
    expect(c.message).toContain('"not-there"');
    expect(c.message).toContain('functionController.rbac.secrets');
  });

  it('reports SecretNotFound where the operator granted the check, without creating the Deployment', async () => {
    await grantSecrets('function-controller', ns.name, ['granted-missing']);
    await createFunction(ns.name, fnWith('sec-granted', { pod: { volumes: [{ name: 'k', secret: { secretName: 'granted-missing' } }], containers: [{ volumeMounts: [{ name: 'k', mountPath: '/k' }] }] } }));
    const ready = await readyCondition('sec-granted', 'SecretNotFound');
    expect(ready.message).toContain('Secret "granted-missing" not found');
    expect(await getRaw(path('deployments', 'sec-granted'))).toBeUndefined();
  });
});
