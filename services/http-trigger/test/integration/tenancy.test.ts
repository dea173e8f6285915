/**
 * Tenant isolation of the HTTP trigger (issue 18), against the real API server, each attack as a
 * tenant would try it, with the controller on its own ServiceAccount as the chart grants it:
 *  - a function Service that leads out of the namespace (ExternalName, externalIPs, a foreign
 *    selector, a hand-made EndpointSlice) gets no route, and a route made before is removed;
 *  - gateway objects of two namespaces never meet in a gateway's global names (Traefik IDs
 *    `<ns>-<name>@kubernetescrd`; Kong consumers and ACL groups);
 *  - an annotation the policy refuses (a configuration snippet) gets no route;
 *  - the controller reads no Secret but those granted by name; elsewhere it routes unchecked.
 * No function controller runs here: the Services are the tenant's own, made by hand, as a tenant
 * with edit rights can. Assertions are on the objects in the API server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, Manager, type KubeObject } from '@kubeless/controller';
import { createLogger } from '@kubeless/observability';
import { clients, controllerKubeconfig, eventually, grantSecrets, kubectlOk, stackEnv, uniqueName } from '@kubeless/stack';
import { buildHttpTriggerController, childName, incarnationName, kongIdentity } from '../../src/index.js';
import { applyHttpTriggerRbac, httpTriggerMay } from './identity.js';

type Json = Record<string, any>;

let client: KubeClient;
let hcClient: KubeClient;
const managers: Manager[] = [];
/** `<x>` and `<x>-a`: namespaces whose names make Traefik IDs of `a-x` and `x` meet. */
let team: string;
let teamA: string;

const trgPath = (ns: string, name = ''): string => `/apis/kubeless.io/v1beta1/namespaces/${ns}/httptriggers${name ? `/${name}` : ''}`;
const ingPath = (ns: string, name: string): string => `/apis/networking.k8s.io/v1/namespaces/${ns}/ingresses/${name}`;
const mwPath = (ns: string, name: string): string => `/apis/traefik.io/v1alpha1/namespaces/${ns}/middlewares/${name}`;
const kongPath = (ns: string, plural: string, name: string): string => `/apis/configuration.konghq.com/v1/namespaces/${ns}/${plural}/${name}`;

async function get(p: string): Promise<Json | undefined> {
  try {
    return await client.get<KubeObject & Json>(p);
  } catch (err) {
    if ((err as { status?: number }).status === 404) return undefined;
    throw err;
  }
}

async function createTrigger(ns: string, name: string, spec: Json, annotations?: Record<string, string>): Promise<Json> {
  return client.create<KubeObject & Json>(trgPath(ns), { apiVersion: 'kubeless.io/v1beta1', kind: 'HTTPTrigger', metadata: { name, ...(annotations ? { annotations } : {}) }, spec });
}

/** A Function object (no controller makes its pods here) and the tenant's own Service for it. */
async function createFunction(ns: string, name: string, service: Json = {}): Promise<void> {
  await client.create(`/apis/kubeless.io/v1beta1/namespaces/${ns}/functions`, {
    apiVersion: 'kubeless.io/v1beta1',
    kind: 'Function',
    metadata: { name },
    spec: { runtime: 'nodejs24', handler: 'index.h', function: 'module.exports = { h: () => "ok" }' },
  });
  await client.create(`/api/v1/namespaces/${ns}/services`, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, labels: { 'created-by': 'kubeless', function: name } },
    spec: { selector: { 'created-by': 'kubeless', function: name }, ports: [{ name: 'http', port: 8080, targetPort: 8080 }], ...service },
  });
}

const ready = async (ns: string, name: string): Promise<Json | undefined> =>
  ((await get(trgPath(ns, name)))?.status?.conditions as Json[] | undefined)?.find((c) => c.type === 'Ready');

const waitReady = (ns: string, name: string, status = 'True', reason?: string, timeoutMs = 20_000): Promise<Json> =>
  eventually(`${name} Ready=${status} ${reason ?? ''}`, async () => {
    const c = await ready(ns, name);
    return c?.status === status && (reason === undefined || c.reason === reason) ? c : undefined;
  }, timeoutMs);

beforeAll(async () => {
  await applyHttpTriggerRbac();
  team = uniqueName('tn');
  teamA = `${team}-a`;
  for (const name of [team, teamA]) await clients().core.createNamespace({ body: { metadata: { name } } });
  client = KubeClient.fromKubeconfig(stackEnv().KUBECONFIG, { userAgent: 'kubeless-test/http-trigger-tenancy' });
  hcClient = KubeClient.fromKubeconfig(controllerKubeconfig('http-trigger'), { userAgent: 'kubeless-http-trigger/test' });
  const logger = createLogger({ name: 'http-trigger-tenancy-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  for (const ns of [team, teamA]) {
    const parts = buildHttpTriggerController({ client: hcClient, logger, watchNamespace: ns });
    const m = new Manager({ client: hcClient, logger, leaderElection: false });
    m.addAll(parts);
    await m.start();
    managers.push(m);
  }
  await createFunction(team, 'echo');
  await createFunction(teamA, 'echo');
});

afterAll(async () => {
  for (const m of managers) await m.stop();
  client.close();
  hcClient.close();
  for (const name of [team, teamA]) await clients().core.deleteNamespace({ name }).catch(() => undefined);
});

describe('no route out of the namespace', () => {
  it.each([
    ['ExternalName to another namespace', 'ExternalNameService', { type: 'ExternalName', externalName: 'victim.team-b.svc.cluster.local', selector: null }],
    ['externalIPs', 'ExternalIPsService', { externalIPs: ['203.0.113.7'] }],
    ['a selector picking another app', 'ForeignServiceSelector', { selector: { app: 'someone-else' } }],
  ])('a function Service with %s gets no Ingress: Ready=False %s', async (_what, reason, service) => {
    const fn = `out-${reason.toLowerCase().slice(0, 12)}`;
    await createFunction(team, fn, service);
    await createTrigger(team, fn, { 'function-name': fn, 'host-name': `${fn}.test` });
    const c = await waitReady(team, fn, 'False', reason);
    expect(c.message).toContain(fn);
    expect(await get(ingPath(team, fn))).toBeUndefined();
  });

  it('an unlabelled ExternalName Service put in place of the function Service removes the route', async () => {
    await createFunction(team, 'swap');
    await createTrigger(team, 'swap', { 'function-name': 'swap', 'host-name': 'swap.test' });
    await waitReady(team, 'swap');
    expect(await get(ingPath(team, 'swap'))).toBeDefined();
    await client.delete(`/api/v1/namespaces/${team}/services/swap`);
    await client.create(`/api/v1/namespaces/${team}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'swap' },
      spec: { type: 'ExternalName', externalName: 'victim.team-b.svc.cluster.local', ports: [{ port: 8080 }] },
    });
    await waitReady(team, 'swap', 'False', 'ServiceNotFound', 10_000);
    await eventually('ingress removed', async () => (await get(ingPath(team, 'swap'))) === undefined, 10_000);
  });

  it('a hand-made EndpointSlice for the function Service removes the route; deleting it brings the route back', async () => {
    await createTrigger(team, 'sliced', { 'function-name': 'echo', 'host-name': 'sliced.test' });
    await waitReady(team, 'sliced');
    expect(await get(ingPath(team, 'sliced'))).toBeDefined();

    // The tenant adds endpoints of its choosing to its own Service (no managed-by label).
    await client.create(`/apis/discovery.k8s.io/v1/namespaces/${team}/endpointslices`, {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'echo-hand-made', labels: { 'kubernetes.io/service-name': 'echo' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.96.0.1'] }],
      ports: [{ name: 'http', port: 443, protocol: 'TCP' }],
    });
    const c = await waitReady(team, 'sliced', 'False', 'ForeignEndpoints', 10_000);
    expect(c.message).toContain('echo-hand-made');
    await eventually('ingress removed', async () => (await get(ingPath(team, 'sliced'))) === undefined, 10_000);

    await client.delete(`/apis/discovery.k8s.io/v1/namespaces/${team}/endpointslices/echo-hand-made`);
    await waitReady(team, 'sliced', 'True', undefined, 10_000);
    expect(await get(ingPath(team, 'sliced'))).toBeDefined();
  });
});

describe('HTTP routes cannot collide or borrow', () => {
  it('traefik: team/a-x and team-a/x reference distinct Middlewares (one ID team-a-x-auth@kubernetescrd before)', async () => {
    await createTrigger(team, 'a-x', { 'function-name': 'echo', gateway: 'traefik', 'host-name': 'ax.test', path: 'p', 'basic-auth-secret': 'htpasswd' });
    await createTrigger(teamA, 'x', { 'function-name': 'echo', gateway: 'traefik', 'host-name': 'x.test', path: 'p', 'basic-auth-secret': 'htpasswd' });
    await waitReady(team, 'a-x');
    await waitReady(teamA, 'x');
    const ids = async (ns: string, name: string): Promise<string[]> =>
      String((await get(ingPath(ns, name)))?.metadata.annotations['traefik.ingress.kubernetes.io/router.middlewares']).split(',');
    const a = await ids(team, 'a-x');
    const b = await ids(teamA, 'x');
    expect(a).toHaveLength(2);
    expect(a.filter((id) => b.includes(id))).toEqual([]);
    // Each ID names a Middleware of the trigger's own namespace, guarding with its own Secret.
    for (const [ns, name, list] of [[team, 'a-x', a], [teamA, 'x', b]] as const) {
      const auth = childName(ns, name, 'auth');
      expect(list).toContain(`${ns}-${auth}@kubernetescrd`);
      expect((await get(mwPath(ns, auth)))?.metadata.ownerReferences[0].name).toBe(name);
    }
  });

  it('traefik: a Middleware of the old naming (<trigger>-auth) is pruned on upgrade', async () => {
    const t = await createTrigger(team, 'legacy', { 'function-name': 'echo', gateway: 'traefik', 'host-name': 'legacy.test', 'basic-auth-secret': 'htpasswd' });
    await waitReady(team, 'legacy');
    // What the previous version made for this trigger: same labels and controller reference, old name.
    await client.create(`/apis/traefik.io/v1alpha1/namespaces/${team}/middlewares`, {
      apiVersion: 'traefik.io/v1alpha1',
      kind: 'Middleware',
      metadata: {
        name: 'legacy-auth',
        labels: { 'created-by': 'kubeless', 'kubeless.io/http-trigger': 'legacy' },
        ownerReferences: [{ apiVersion: 'kubeless.io/v1beta1', kind: 'HTTPTrigger', name: 'legacy', uid: t.metadata.uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: { basicAuth: { secret: 'htpasswd' } },
    });
    await client.mergePatch(trgPath(team, 'legacy'), { metadata: { labels: { upgraded: 'yes' } } });
    await eventually('old-named Middleware pruned', async () => (await get(mwPath(team, 'legacy-auth'))) === undefined, 10_000);
    expect(await get(mwPath(team, childName(team, 'legacy', 'auth')))).toBeDefined();
  });

  it('kong: an acl plugin lets through only this trigger\'s consumer, whose ACL credential (created once, owned by the trigger) names a group from its uid', async () => {
    await kubectlOk(['create', 'secret', 'generic', 'kong-cred', '-n', team, '--type=kubernetes.io/basic-auth', '--from-literal=username=alice', '--from-literal=password=wonderland']);
    await kubectlOk(['label', 'secret', 'kong-cred', '-n', team, 'konghq.com/credential=basic-auth']);
    const t = await createTrigger(team, 'kong', { 'function-name': 'echo', gateway: 'kong', 'host-name': 'kong.test', 'basic-auth-secret': 'kong-cred' });
    await waitReady(team, 'kong');
    const uid = String(t.metadata.uid);
    const group = kongIdentity(uid);
    const kn = (what: string): string => childName(team, 'kong', what);

    const acl = await get(kongPath(team, 'kongplugins', kn('acl')));
    expect(acl).toMatchObject({ plugin: 'acl', config: { allow: [group], hide_groups_header: true } });
    const consumer = await get(kongPath(team, 'kongconsumers', kn('consumer')));
    const secretName = incarnationName('kong', 'acl', uid);
    expect(consumer).toMatchObject({ username: group, credentials: ['kong-cred', secretName] });
    const secret = await get(`/api/v1/namespaces/${team}/secrets/${secretName}`);
    expect(secret?.metadata.labels['konghq.com/credential']).toBe('acl');
    expect(Buffer.from(String(secret?.data.group), 'base64').toString()).toBe(group);
    expect(secret?.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'HTTPTrigger', name: 'kong', uid, controller: true })]);
    const ing = await get(ingPath(team, 'kong'));
    expect(String(ing?.metadata.annotations['konghq.com/plugins']).split(',')).toEqual([kn('basic-auth'), kn('acl')]);
    // The same trigger name in another namespace: another consumer username and group.
    await kubectlOk(['create', 'secret', 'generic', 'kong-cred', '-n', teamA, '--type=kubernetes.io/basic-auth', '--from-literal=username=bob', '--from-literal=password=builder']);
    await kubectlOk(['label', 'secret', 'kong-cred', '-n', teamA, 'konghq.com/credential=basic-auth']);
    await createTrigger(teamA, 'kong', { 'function-name': 'echo', gateway: 'kong', 'host-name': 'kong-a.test', 'basic-auth-secret': 'kong-cred' });
    await waitReady(teamA, 'kong');
    const other = await get(kongPath(teamA, 'kongconsumers', childName(teamA, 'kong', 'consumer')));
    expect(other?.username).not.toBe(group);
    expect((await get(kongPath(teamA, 'kongplugins', childName(teamA, 'kong', 'acl'))))?.config.allow).not.toContain(group);
  });

  it('kong: an ACL Secret already there under that name is accepted as it is, never read or changed', async () => {
    const t = await createTrigger(team, 'kong-pre', { 'function-name': 'echo', gateway: 'kong', 'host-name': 'kong-pre.test' });
    await waitReady(team, 'kong-pre');
    const secretName = incarnationName('kong-pre', 'acl', String(t.metadata.uid));
    const made = await client.create<KubeObject & Json>(`/api/v1/namespaces/${team}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: secretName, labels: { 'konghq.com/credential': 'acl' } },
      stringData: { group: 'made-by-the-tenant' },
    });
    await client.mergePatch(trgPath(team, 'kong-pre'), { spec: { 'basic-auth-secret': 'kong-cred' } });
    await eventually('consumer made', () => get(kongPath(team, 'kongconsumers', childName(team, 'kong-pre', 'consumer'))));
    await waitReady(team, 'kong-pre');
    expect((await get(`/api/v1/namespaces/${team}/secrets/${secretName}`))?.metadata.resourceVersion).toBe(made.metadata?.resourceVersion);
  });
});

describe('annotations pass an allow-list', () => {
  it('an HTTPTrigger with nginx.ingress.kubernetes.io/configuration-snippet is refused by default: no Ingress, the key named', async () => {
    await createTrigger(team, 'snippet', { 'function-name': 'echo', 'host-name': 'snippet.test' }, { 'nginx.ingress.kubernetes.io/configuration-snippet': 'return 200 "pwned";' });
    const c = await waitReady(team, 'snippet', 'False', 'AnnotationNotAllowed');
    expect(c.message).toContain('nginx.ingress.kubernetes.io/configuration-snippet');
    expect(await get(ingPath(team, 'snippet'))).toBeUndefined();
  });

  it('annotating a routed trigger with auth-secret of another namespace removes its Ingress', async () => {
    await createTrigger(team, 'borrow', { 'function-name': 'echo', 'host-name': 'borrow.test' });
    await waitReady(team, 'borrow');
    await client.mergePatch(trgPath(team, 'borrow'), { metadata: { annotations: { 'nginx.ingress.kubernetes.io/auth-secret': `${teamA}/their-htpasswd`, 'nginx.ingress.kubernetes.io/auth-type': 'basic' } } });
    const c = await waitReady(team, 'borrow', 'False', 'AnnotationNotAllowed', 10_000);
    expect(c.message).toContain('nginx.ingress.kubernetes.io/auth-secret is set by kubeless');
    await eventually('ingress removed', async () => (await get(ingPath(team, 'borrow'))) === undefined, 10_000);
  });
});

describe('no cluster-wide Secret reads', () => {
  it('the http-trigger may not read a Secret no grant names, nor list Secrets; it may create them (Kong ACL credentials)', async () => {
    await kubectlOk(['create', 'secret', 'generic', 'private', '-n', teamA, '--from-literal=token=s3cr3t']);
    expect(await httpTriggerMay('get', 'secrets', teamA, 'private')).toBe(false);
    expect(await httpTriggerMay('list', 'secrets', teamA)).toBe(false);
    expect(await httpTriggerMay('create', 'secrets', teamA)).toBe(true);
  });

  it('an ungranted basic-auth Secret is routed unchecked and Ready says so; a granted missing one is SecretNotFound', async () => {
    await kubectlOk(['create', 'secret', 'generic', 'htpasswd', '-n', teamA, '--from-literal=auth=alice:{SHA}x']);
    await createTrigger(teamA, 'unchecked', { 'function-name': 'echo', 'host-name': 'unchecked.test', 'basic-auth-secret': 'htpasswd' });
    const c = await waitReady(teamA, 'unchecked');
    expect(c.message).toContain('basic-auth Secret "htpasswd" not checked');
    expect((await get(ingPath(teamA, 'unchecked')))?.metadata.annotations['nginx.ingress.kubernetes.io/auth-secret']).toBe('htpasswd');

    await grantSecrets('http-trigger', teamA, ['granted-missing']);
    await createTrigger(teamA, 'granted', { 'function-name': 'echo', 'host-name': 'granted.test', 'basic-auth-secret': 'granted-missing' });
    expect((await waitReady(teamA, 'granted', 'False', 'SecretNotFound')).message).toContain('"granted-missing"');
    expect(await get(ingPath(teamA, 'granted'))).toBeUndefined();
  });
});
