/**
 * Every controller has exactly the rights it needs, asked of the real API server's authorizer
 * after the chart's RBAC was applied for real (a release of its own):
 *  - every call each controller made in the integration run (its audit-derived fixture), and
 *    whatever the live audit log of this stack shows for it, is allowed. In the stack each
 *    controller runs on a TokenRequest token of its own ServiceAccount (release `kubeless`), so
 *    the audit log attributes every call by username;
 *  - a written list of what each controller must not do is forbidden;
 *  - the function controller, run on a TokenRequest token of this release's ServiceAccount,
 *    reconciles a Function with no request forbidden;
 *  - people bound to <release>-view can list functions but not create them; <release>-edit can.
 * Regenerate the fixtures after a controller changes what it calls (a stack whose audit log has
 * seen the integration run of the controllers, the CLI and the chaos tests):
 *   npm run -s stack -- exec npx vitest run --project integration services cli test/chaos
 *   node test/helm/audit-verbs.mjs .stack/logs/audit.log --all
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient, Manager } from '@kubeless/controller';
import { buildFunctionController } from '@kubeless/function-controller';
import { createLogger, createRegistry } from '@kubeless/observability';
import { CONTROLLER_NAMESPACE, controllerServiceAccount, eventually, kubectl, kubectlOk, stackEnv, uniqueName, withNamespace } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTROLLERS, deriveVerbs, forbiddenRequests, stackUser, type AuditVerb } from './audit-verbs.mjs';
import { kubectlIn, partition, render, serviceAccountMay, toYamlStream, type Access } from './chart.js';

type Controller = (typeof CONTROLLERS)[number];
const fixtureOf = (c: Controller): { user: string; verbs: AuditVerb[] } =>
  JSON.parse(readFileSync(path.join(import.meta.dirname, 'fixtures', `${c}-verbs.json`), 'utf8')) as { user: string; verbs: AuditVerb[] };

const release = uniqueName('kl');
const fullname = `${release}-kubeless`;
const sa = (component: string): string => `${fullname}-${component}`;
const RBAC_KINDS = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'ConfigMap']);

let ns: { name: string; cleanup: () => Promise<void> }; // the release namespace
let work: { name: string; cleanup: () => Promise<void> }; // where functions and triggers live

beforeAll(async () => {
  ns = await withNamespace('helm-rbac');
  work = await withNamespace('helm-work');
  const objects = await render({
    release,
    namespace: ns.name,
    setJson: [
      `kafkaTrigger.rbac.secrets=[{"namespace":"${work.name}","names":["kafka-given"]}]`,
      `sqsTrigger.rbac.secrets=[{"namespace":"${work.name}","names":["sqs-given"]}]`,
      `httpTrigger.rbac.secrets=[{"namespace":"${work.name}","names":["htpasswd"]}]`,
      `functionController.rbac.secrets=[{"namespace":"${work.name}","names":["fn-secret","no-such-secret"]}]`,
    ],
    // As the stack installs it (its fixtures include HTTPRoutes).
    set: ['httpTrigger.routes.gatewayAPI=true'],
  });
  // The RBAC objects, ServiceAccounts and kubeless-config for real; no controller Deployments
  // (the stack has no images to run them).
  const r = await kubectlIn(['apply', '-f', '-'], toYamlStream(objects.filter((o) => RBAC_KINDS.has(o.kind))));
  expect(r.code, r.stderr).toBe(0);
}, 60_000);

afterAll(async () => {
  await kubectl(['delete', 'clusterrole,clusterrolebinding', '-l', `app.kubernetes.io/instance=${release}`, '--wait=false']);
  await work.cleanup();
  await ns.cleanup();
});

/**
 * An audit entry as the accesses to check under the chart's install (every namespace watched).
 * No controller reads Secrets cluster-wide: each `get`s only the Secrets granted to it by name
 * (`<controller>.rbac.secrets`), checked by the tests of given and not-given Secrets instead. The
 * http-trigger may also `create` Secrets (Kong ACL credentials), checked as any other call.
 */
function accessesOf(component: Controller, v: AuditVerb): Access[] {
  if (v.resource === 'secrets' && v.verb === 'get') return [];
  const base = { verb: v.verb, group: v.group, resource: v.resource, subresource: v.subresource };
  // Leases are the controller's own, in the release namespace.
  if (v.resource === 'leases') return [{ ...base, namespace: ns.name, ...(v.verb === 'create' ? {} : { name: sa(component) }) }];
  const out: Access[] = [{ ...base, namespace: work.name }];
  // The default install watches every namespace: lists and watches go cluster-wide.
  if (v.verb === 'list' || v.verb === 'watch' || v.scope === 'cluster') out.push(base);
  return out;
}

async function expectAllowed(component: string, accesses: Access[]): Promise<void> {
  const { denied } = await partition(ns.name, sa(component), accesses);
  expect(denied, `${component} must be allowed`).toEqual([]);
}

async function expectDenied(component: string, accesses: Access[]): Promise<void> {
  const { allowed } = await partition(ns.name, sa(component), accesses);
  expect(allowed, `${component} must be forbidden`).toEqual([]);
}

for (const component of CONTROLLERS) {
  describe(`the ${component} (rights from the audit log)`, () => {
    it('may make every call its integration run made (audit-derived fixture)', async () => {
      const fixture = fixtureOf(component);
      expect(fixture.user).toBe(stackUser(component));
      // Status is written: patched (the kit's controllers) or updated (the cronjob-trigger's claims carry a resourceVersion).
      expect(fixture.verbs.some((v) => v.subresource === 'status' && (v.verb === 'patch' || v.verb === 'update'))).toBe(true);
      await expectAllowed(component, fixture.verbs.flatMap((v) => accessesOf(component, v)));
    });

    it('may make every call the live audit log of this stack shows, and was refused nothing but Secrets not granted', async () => {
      const log = readFileSync(stackEnv().AUDIT_LOG, 'utf8');
      await expectAllowed(component, deriveVerbs(log, stackUser(component)).flatMap((v) => accessesOf(component, v)));
      // Tests show an ungranted Secret as SecretForbidden on purpose. Anything else the stack's
      // controller was refused must be allowed to it now: a refusal while the API server restarts
      // (chaos tests; its authorizer has not synced yet) is transient, a missing rule is not.
      const refused = forbiddenRequests(log, stackUser(component)).filter((r) => !(r.resource === 'secrets' && r.verb === 'get'));
      const stillDenied: string[] = [];
      const gone = new Map<string, boolean>();
      for (const r of refused) {
        // A test's own grant (e.g. a Lease Role of a chaos test, refused while the API server
        // restarted) goes with its namespace: a request into a namespace deleted (or being deleted)
        // since cannot be judged.
        if (r.namespace) {
          if (!gone.has(r.namespace)) {
            const phase = await kubectl(['get', 'namespace', r.namespace, '-o', 'jsonpath={.status.phase}']);
            gone.set(r.namespace, phase.code !== 0 || phase.stdout.trim() === 'Terminating');
          }
          if (gone.get(r.namespace)) continue;
        }
        const access = { verb: r.verb, group: r.group, resource: r.resource, subresource: r.subresource, ...(r.namespace ? { namespace: r.namespace } : {}), ...(r.name ? { name: r.name } : {}) };
        if (!(await serviceAccountMay(CONTROLLER_NAMESPACE, controllerServiceAccount(component), access))) stillDenied.push(r.uri);
      }
      expect(stillDenied).toEqual([]);
    });
  });
}

describe('no controller reads Secrets cluster-wide', () => {
  // What `kubectl auth can-i get secrets --all-namespaces --as=system:serviceaccount:<ns>:<sa>` asks.
  for (const component of CONTROLLERS) {
    it(`${component}: may not get, list or watch Secrets in every namespace`, async () => {
      await expectDenied(component, [
        { verb: 'get', resource: 'secrets' },
        { verb: 'list', resource: 'secrets' },
        { verb: 'watch', resource: 'secrets' },
      ]);
      const r = await kubectl(['auth', 'can-i', 'get', 'secrets', '--all-namespaces', `--as=system:serviceaccount:${ns.name}:${sa(component)}`]);
      expect(r.stdout.trim()).toBe('no');
    });
  }
});

describe('the function controller', () => {
  it('may not do what it never needs', async () => {
    const w = work.name;
    await expectDenied('function-controller', [
      { verb: 'get', resource: 'secrets', namespace: w, name: 'not-given' },
      { verb: 'delete', resource: 'namespaces', name: w },
      { verb: 'list', resource: 'secrets', namespace: w },
      { verb: 'watch', resource: 'secrets' },
      { verb: 'create', resource: 'secrets', namespace: w },
      { verb: 'delete', group: 'apps', resource: 'deployments', namespace: w },
      { verb: 'create', resource: 'pods', namespace: w },
      { verb: 'delete', resource: 'pods', namespace: w },
      { verb: 'create', resource: 'pods', subresource: 'exec', namespace: w },
      { verb: 'update', group: 'kubeless.io', resource: 'functions', namespace: w },
      { verb: 'delete', group: 'kubeless.io', resource: 'functions', namespace: w },
      { verb: 'list', group: 'kubeless.io', resource: 'kafkatriggers', namespace: w },
      { verb: 'create', group: 'networking.k8s.io', resource: 'ingresses', namespace: w },
      { verb: 'update', group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', name: 'functions.kubeless.io' },
      { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'rolebindings', namespace: w },
      { verb: 'escalate', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
      { verb: 'impersonate', resource: 'serviceaccounts', namespace: w },
      { verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: w, name: 'default' },
      { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: ns.name, name: 'kube-controller-manager' },
      { verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: w },
      { verb: 'update', resource: 'configmaps', namespace: ns.name, name: 'kubeless-config' },
    ]);
  });
});

describe('the trigger controllers: what they must not do, and Secrets by name', () => {
  const common = (resource: string): Access[] => [
    { verb: 'watch', group: 'kubeless.io', resource },
    { verb: 'list', group: 'kubeless.io', resource, namespace: work.name },
    { verb: 'patch', group: 'kubeless.io', resource, subresource: 'status', namespace: work.name },
    { verb: 'list', group: 'kubeless.io', resource: 'functions' },
    { verb: 'watch', resource: 'services' },
    { verb: 'create', resource: 'events', namespace: work.name },
  ];
  const forbiddenToAll = (): Access[] => [
    { verb: 'create', group: 'apps', resource: 'deployments', namespace: work.name },
    { verb: 'create', resource: 'pods', namespace: work.name },
    { verb: 'list', resource: 'secrets', namespace: work.name },
    { verb: 'watch', resource: 'secrets' },
    { verb: 'get', resource: 'secrets', namespace: work.name, name: 'not-given' },
    { verb: 'create', group: 'kubeless.io', resource: 'functions', namespace: work.name },
    { verb: 'delete', group: 'kubeless.io', resource: 'functions', namespace: work.name },
    { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'rolebindings', namespace: work.name },
    { verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
    { verb: 'impersonate', resource: 'users' },
    { verb: 'delete', resource: 'namespaces', name: work.name },
  ];

  it('http-trigger: manages routes, reads functions, services, EndpointSlices and the Secrets it was given, and nothing else', async () => {
    await expectAllowed('http-trigger', [
      ...common('httptriggers'),
      { verb: 'create', group: 'networking.k8s.io', resource: 'ingresses', namespace: work.name },
      { verb: 'patch', group: 'traefik.io', resource: 'middlewares', namespace: work.name },
      { verb: 'delete', group: 'configuration.konghq.com', resource: 'kongplugins', namespace: work.name },
      { verb: 'list', group: 'discovery.k8s.io', resource: 'endpointslices' },
      // Kong ACL credentials: created, never read or changed.
      { verb: 'create', resource: 'secrets', namespace: work.name },
    ]);
    // It may `get` only the basic-auth Secrets it was given by name, never list, watch or change one.
    await expectAllowed('http-trigger', [{ verb: 'get', resource: 'secrets', namespace: work.name, name: 'htpasswd' }]);
    await expectDenied('http-trigger', [
      ...forbiddenToAll(),
      { verb: 'get', resource: 'secrets', namespace: ns.name, name: 'htpasswd' },
      { verb: 'patch', resource: 'secrets', namespace: work.name, name: 'htpasswd' },
      { verb: 'update', resource: 'secrets', namespace: work.name, name: 'htpasswd' },
      { verb: 'delete', resource: 'secrets', namespace: work.name, name: 'htpasswd' },
      { verb: 'create', resource: 'services', namespace: work.name },
      { verb: 'update', group: 'kubeless.io', resource: 'httptriggers', namespace: work.name },
      { verb: 'update', group: 'gateway.networking.k8s.io', resource: 'httproutes', namespace: work.name },
      { verb: 'watch', group: 'traefik.io', resource: 'middlewares' },
      { verb: 'patch', group: 'kubeless.io', resource: 'functions', namespace: work.name },
    ]);
  });

  for (const [component, kind, given, other] of [
    ['kafka-trigger', 'kafkatriggers', 'kafka-given', 'sqs-given'],
    ['sqs-trigger', 'sqstriggers', 'sqs-given', 'kafka-given'],
  ] as const) {
    it(`${component}: reads EndpointSlices and only the Secrets it was given; scales Deployments only through their scale subresource`, async () => {
      await expectAllowed(component, [
        ...common(kind),
        { verb: 'list', group: 'discovery.k8s.io', resource: 'endpointslices' },
        { verb: 'get', resource: 'secrets', namespace: work.name, name: given },
        { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: ns.name, name: sa(component) },
        { verb: 'get', group: 'apps', resource: 'deployments', namespace: work.name },
        { verb: 'patch', group: 'apps', resource: 'deployments', subresource: 'scale', namespace: work.name },
        { verb: 'list', group: 'autoscaling', resource: 'horizontalpodautoscalers', namespace: work.name },
      ]);
      await expectDenied(component, [
        ...forbiddenToAll(),
        { verb: 'get', resource: 'secrets', namespace: work.name, name: other },
        { verb: 'get', resource: 'secrets', namespace: ns.name, name: given },
        { verb: 'update', resource: 'secrets', namespace: work.name, name: given },
        { verb: 'update', group: 'kubeless.io', resource: kind, namespace: work.name },
        { verb: 'create', group: 'networking.k8s.io', resource: 'ingresses', namespace: work.name },
        { verb: 'patch', group: 'kubeless.io', resource: kind === 'kafkatriggers' ? 'sqstriggers' : 'kafkatriggers', subresource: 'status', namespace: work.name },
        // Replicas only: never a Deployment itself (its pod template), nor the list of them.
        { verb: 'patch', group: 'apps', resource: 'deployments', namespace: work.name },
        { verb: 'update', group: 'apps', resource: 'deployments', namespace: work.name },
        { verb: 'list', group: 'apps', resource: 'deployments', namespace: work.name },
        { verb: 'create', group: 'autoscaling', resource: 'horizontalpodautoscalers', namespace: work.name },
      ]);
    });
  }
});

describe('the cronjob-trigger: claims slots in status, reads no Secret', () => {
  it('gets, lists and watches cronjobtriggers, updates their status, reads functions, services and EndpointSlices, and nothing else', async () => {
    const w = work.name;
    await expectAllowed('cronjob-trigger', [
      { verb: 'get', group: 'kubeless.io', resource: 'cronjobtriggers', namespace: w },
      { verb: 'watch', group: 'kubeless.io', resource: 'cronjobtriggers' },
      { verb: 'update', group: 'kubeless.io', resource: 'cronjobtriggers', subresource: 'status', namespace: w },
      { verb: 'list', group: 'kubeless.io', resource: 'functions' },
      { verb: 'watch', resource: 'services' },
      { verb: 'list', group: 'discovery.k8s.io', resource: 'endpointslices' },
      { verb: 'create', resource: 'events', namespace: w },
      { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: ns.name, name: sa('cronjob-trigger') },
    ]);
    await expectDenied('cronjob-trigger', [
      { verb: 'get', resource: 'secrets', namespace: w, name: 'kafka-given' },
      { verb: 'get', resource: 'secrets', namespace: w, name: 'sqs-given' },
      { verb: 'list', resource: 'secrets', namespace: w },
      { verb: 'update', group: 'kubeless.io', resource: 'cronjobtriggers', namespace: w },
      { verb: 'patch', group: 'kubeless.io', resource: 'cronjobtriggers', namespace: w },
      { verb: 'delete', group: 'kubeless.io', resource: 'cronjobtriggers', namespace: w },
      { verb: 'create', group: 'kubeless.io', resource: 'cronjobtriggers', namespace: w },
      { verb: 'patch', group: 'kubeless.io', resource: 'sqstriggers', subresource: 'status', namespace: w },
      { verb: 'get', group: 'kubeless.io', resource: 'functions', namespace: w },
      { verb: 'update', group: 'kubeless.io', resource: 'functions', namespace: w },
      { verb: 'create', group: 'batch', resource: 'cronjobs', namespace: w },
      { verb: 'create', group: 'batch', resource: 'jobs', namespace: w },
      { verb: 'create', resource: 'pods', namespace: w },
      { verb: 'create', group: 'apps', resource: 'deployments', namespace: w },
      { verb: 'create', resource: 'services', namespace: w },
      { verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: w },
      { verb: 'impersonate', resource: 'users' },
    ]);
  });
});

describe('people', () => {
  it('bound to the view role list functions but cannot create them; bound to the edit role they can', async () => {
    await kubectlOk(['create', 'rolebinding', 'alice-view', `--clusterrole=${fullname}-view`, '--user=alice', '-n', work.name]);
    await kubectlOk(['create', 'rolebinding', 'bob-edit', `--clusterrole=${fullname}-edit`, '--user=bob', '-n', work.name]);
    const fn = JSON.stringify({
      apiVersion: 'kubeless.io/v1beta1',
      kind: 'Function',
      metadata: { name: uniqueName('fn'), namespace: work.name },
      spec: { runtime: 'python3.11', handler: 'foo.handler', function: 'def handler(e, c):\n    return "hi"\n', 'function-content-type': 'text', deps: '' },
    });
    const list = await kubectl(['get', 'functions', '-n', work.name], { user: 'alice' });
    expect(list.code, list.stderr).toBe(0);
    const aliceCreate = await kubectl(['create', '--dry-run=server', '-f', '-'], { user: 'alice', input: fn });
    expect(aliceCreate.code).not.toBe(0);
    expect(aliceCreate.stderr).toMatch(/forbidden/i);
    const elsewhere = await kubectl(['get', 'functions', '-n', ns.name], { user: 'alice' });
    expect(elsewhere.stderr).toMatch(/forbidden/i);
    const bobCreate = await kubectl(['create', '--dry-run=server', '-f', '-'], { user: 'bob', input: fn });
    expect(bobCreate.code, bobCreate.stderr).toBe(0);
  });
});

describe('the function controller on its own rights', () => {
  it('reconciles Functions with a TokenRequest token of its ServiceAccount, and nothing it asks is forbidden', async () => {
    const token = (await kubectlOk(['create', 'token', sa('function-controller'), '-n', ns.name, '--duration=10m'])).trim();
    const adminKc = new KubeConfig();
    adminKc.loadFromFile(stackEnv().KUBECONFIG);
    const cluster = adminKc.getCurrentCluster()!;
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [cluster],
      users: [{ name: 'sa', token }],
      contexts: [{ name: 'sa', cluster: cluster.name, user: 'sa' }],
      currentContext: 'sa',
    });
    const client = new KubeClient(kc, { userAgent: 'kubeless-function-controller/helm-own-rights' });
    const logger = createLogger({ name: 'function-controller-own-rights', level: process.env.TEST_LOG_LEVEL ?? 'silent' });
    // As the chart runs it: kubeless-config from the release namespace, its own Lease there.
    const parts = buildFunctionController({
      client,
      logger,
      registry: createRegistry({ defaultMetrics: false }),
      watchNamespace: work.name,
      configNamespace: ns.name,
      instance: 'helm-own-rights',
    });
    let lostLease = false;
    const manager = new Manager({
      client,
      logger,
      leaderElection: { namespace: ns.name, name: sa('function-controller'), identity: 'helm-own-rights', leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 500 },
      // In-process: a lost Lease must not SIGTERM the test runner (the default for a controller process).
      onLostLeadership: () => {
        lostLease = true;
      },
    });
    manager.addAll(parts);
    await kubectlOk(['create', 'secret', 'generic', 'fn-secret', '-n', work.name, '--from-literal=k=v']);
    const user = `system:serviceaccount:${ns.name}:${sa('function-controller')}`;
    // Requests of this ServiceAccount the API server answered 403, from the audit log.
    const forbidden = (): string[] =>
      readFileSync(stackEnv().AUDIT_LOG, 'utf8')
        .split('\n')
        .filter((l) => l.includes(user))
        .map((l) => JSON.parse(l) as { user: { username: string }; verb: string; requestURI: string; responseStatus?: { code?: number } })
        .filter((e) => e.user.username === user && e.responseStatus?.code === 403)
        .map((e) => `${e.verb} ${e.requestURI}`)
        .filter((x, i, all) => all.indexOf(x) === i);
    try {
      await manager.start();
      const fn = (name: string, secret: string): string =>
        JSON.stringify({
          apiVersion: 'kubeless.io/v1beta1',
          kind: 'Function',
          metadata: { name, namespace: work.name },
          spec: {
            runtime: 'python3.11',
            handler: 'foo.handler',
            'function-content-type': 'text',
            function: 'def handler(event, context):\n    return event["data"]\n',
            deps: '',
            horizontalPodAutoscaler: { metadata: { name }, spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name }, minReplicas: 1, maxReplicas: 2, metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }] } },
            deployment: { spec: { template: { spec: { volumes: [{ name: 's', secret: { secretName: secret } }], containers: [{ volumeMounts: [{ name: 's', mountPath: '/s' }] }] } } } },
          },
        });
      await kubectlOk(['apply', '-f', '-'], { input: fn('good', 'fn-secret') });
      await kubectlOk(['apply', '-f', '-'], { input: fn('missing', 'no-such-secret') });

      const deployment = await eventually('the Deployment of "good"', async () => {
        const r = await kubectl(['get', 'deployment', 'good', '-n', work.name, '-o', 'json']);
        return r.code === 0 ? (JSON.parse(r.stdout)) : undefined;
      });
      // kubeless-config's security defaults reached the pod template.
      expect(deployment.spec.template.spec.securityContext).toMatchObject({ runAsUser: 1000, runAsNonRoot: true });
      for (const kind of ['configmap', 'service']) await eventually(`the ${kind} of "good"`, async () => (await kubectl(['get', kind, 'good', '-n', work.name])).code === 0);
      const status = await eventually('status of "good"', async () => {
        const f = JSON.parse(await kubectlOk(['get', 'function', 'good', '-n', work.name, '-o', 'json']));
        const types = (f.status?.conditions ?? []).filter((c: any) => c.status === 'True').map((c: any) => c.type);
        return types.includes('ConfigReady') && types.includes('ServiceReady') ? f.status : undefined;
      });
      expect(status.url).toContain('good');
      // The missing Secret is reported as an Event on the Function.
      await eventually('a SecretNotFound Event', async () => {
        const events = await kubectlOk(['get', 'events', '-n', work.name, '--field-selector', 'involvedObject.name=missing', '-o', 'json']);
        return (JSON.parse(events)).items.some((e: any) => e.reason === 'SecretNotFound');
      });
      await eventually('the HPA of "good"', async () => (await kubectl(['get', 'hpa', 'good', '-n', work.name])).code === 0);
      // And it held its Lease in the release namespace.
      const lease = JSON.parse(await kubectlOk(['get', 'lease', sa('function-controller'), '-n', ns.name, '-o', 'json']));
      expect(lease.spec.holderIdentity).toBe('helm-own-rights');
      expect(lostLease).toBe(false);
    } catch (err) {
      throw new Error(`${(err as Error).message}; requests forbidden to ${user}: ${JSON.stringify(forbidden())}`, { cause: err });
    } finally {
      await manager.stop();
      client.close();
    }
    expect(forbidden()).toEqual([]);
  }, 90_000);
});


