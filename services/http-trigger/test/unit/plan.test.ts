import type { HTTPTrigger } from '@kubeless/api';
import { describe, expect, it } from 'vitest';
import { annotationPolicy } from '../../src/annotations.js';
import { childName, incarnationName, kongIdentity } from '../../src/names.js';
import { AUTH_REALM, CORS_HEADERS, CORS_MAX_AGE, CORS_METHODS, PlanError, normalisePath, planHttpTrigger, type PlanSettings } from '../../src/plan.js';

const trigger = (spec: Partial<HTTPTrigger['spec']>, meta: Partial<HTTPTrigger['metadata']> = {}): HTTPTrigger => ({
  apiVersion: 'kubeless.io/v1beta1',
  kind: 'HTTPTrigger',
  metadata: { name: 'foo', namespace: 'ns1', uid: 'uid-1', ...meta },
  spec: { 'function-name': 'foo', ...spec },
});
const backend = { service: 'foo', port: 8080 };
const owner = [{ apiVersion: 'kubeless.io/v1beta1', kind: 'HTTPTrigger', name: 'foo', uid: 'uid-1', controller: true, blockOwnerDeletion: true }];
const labels = { 'created-by': 'kubeless', 'kubeless.io/http-trigger': 'foo' };
const meta = (name: string, annotations?: Record<string, string>) => ({ name, namespace: 'ns1', labels, ...(annotations ? { annotations } : {}), ownerReferences: owner });
const ingress = (annotations: Record<string, string> | undefined, spec: Record<string, unknown>) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: meta('foo', annotations), spec });
const rule = (host: string | undefined, path: string, pathType = 'Prefix', port = 8080) => ({
  ...(host ? { host } : {}),
  http: { paths: [{ path, pathType, backend: { service: { name: 'foo', port: { number: port } } } }] },
});
const N = 'nginx.ingress.kubernetes.io/';
const nginxCors = {
  [`${N}enable-cors`]: 'true',
  [`${N}cors-allow-origin`]: '*',
  [`${N}cors-allow-methods`]: CORS_METHODS.join(', '),
  [`${N}cors-allow-headers`]: CORS_HEADERS.join(','),
  [`${N}cors-max-age`]: String(CORS_MAX_AGE),
};
const mw = (name: string, spec: unknown) => ({ apiVersion: 'traefik.io/v1alpha1', kind: 'Middleware', metadata: meta(name), spec });
const kongClass = { 'kubernetes.io/ingress.class': 'kong' };
/** The derived name of trigger ns1/foo's gateway object `what`: `foo-<what>-` + 16 hex of sha256("ns1/foo"). */
const n = (what: string): string => `foo-${what}-c18eef6b898a875d`;
/** Kong consumer username and ACL group of the trigger with uid uid-1: 20 hex of sha256("uid-1"). */
const KONG_ID = 'kubeless-4a49acf8a6bd72772849';
const ACL_SECRET = 'foo-acl-69210243a7e1a2ff';

/** The PlanError a plan throws (fails the test when it throws none). */
function planError(t: HTTPTrigger, settings?: PlanSettings): PlanError {
  try {
    planHttpTrigger(t, backend, settings);
  } catch (e) {
    if (e instanceof PlanError) return e;
    throw e;
  }
  throw new Error('no PlanError');
}

describe('planHttpTrigger: nginx', () => {
  it.each([
    ['the default: host and path /', { 'host-name': 'foo.example.com' }, ingress(undefined, { ingressClassName: 'nginx', rules: [rule('foo.example.com', '/')] })],
    [
      '--path: a regex with capture groups and rewrite-target /$2',
      { 'host-name': 'foo.example.com', path: 'echo' },
      ingress({ [`${N}use-regex`]: 'true', [`${N}rewrite-target`]: '/$2' }, { ingressClassName: 'nginx', rules: [rule('foo.example.com', '/echo(/|$)(.*)', 'ImplementationSpecific')] }),
    ],
    [
      'basic auth (the talk): auth-type, auth-secret, realm',
      { 'host-name': 'foo.example.com', 'basic-auth-secret': 'basic-auth' },
      ingress({ [`${N}auth-type`]: 'basic', [`${N}auth-secret`]: 'basic-auth', [`${N}auth-realm`]: AUTH_REALM }, { ingressClassName: 'nginx', rules: [rule('foo.example.com', '/')] }),
    ],
    ['--cors-enable', { 'cors-enable': true }, ingress(nginxCors, { ingressClassName: 'nginx', rules: [rule(undefined, '/')] })],
    [
      '--tls-secret: spec.tls with the host',
      { 'host-name': 'foo.example.com', 'tls-secret': 'foo-cert' },
      ingress(undefined, { ingressClassName: 'nginx', rules: [rule('foo.example.com', '/')], tls: [{ hosts: ['foo.example.com'], secretName: 'foo-cert' }] }),
    ],
    [
      '--enableTLSAcme without an issuer: kubernetes.io/tls-acme and <trigger>-tls',
      { 'host-name': 'foo.example.com', tls: true },
      ingress({ [`${N}ssl-redirect`]: 'true', 'kubernetes.io/tls-acme': 'true' }, { ingressClassName: 'nginx', rules: [rule('foo.example.com', '/')], tls: [{ hosts: ['foo.example.com'], secretName: 'foo-tls' }] }),
    ],
    [
      'an ingress class override',
      { ingressClassName: 'nginx-internal' },
      ingress(undefined, { ingressClassName: 'nginx-internal', rules: [rule(undefined, '/')] }),
    ],
  ])('%s', (_name, spec, want) => {
    const p = planHttpTrigger(trigger(spec), backend);
    expect(p.route).toEqual(want);
    expect(p.extras).toEqual([]);
    expect(p.apis).toEqual([]);
  });

  it('--enableTLSAcme uses the controller issuer, or the trigger own one', () => {
    const settings = { acmeIssuer: { name: 'letsencrypt', kind: 'ClusterIssuer' as const } };
    expect(planHttpTrigger(trigger({ 'host-name': 'a.b', tls: true }), backend, settings).route.metadata?.annotations).toEqual({
      [`${N}ssl-redirect`]: 'true',
      'cert-manager.io/cluster-issuer': 'letsencrypt',
    });
    expect(planHttpTrigger(trigger({ 'host-name': 'a.b', tls: true, acmeIssuer: { name: 'ns-issuer', kind: 'Issuer' } }), backend, settings).route.metadata?.annotations).toEqual({
      [`${N}ssl-redirect`]: 'true',
      'cert-manager.io/issuer': 'ns-issuer',
    });
  });

  it('uses the Service port, copies the trigger labels and annotations (not kubectl bookkeeping)', () => {
    const p = planHttpTrigger(
      trigger({}, { labels: { team: 'a' }, annotations: { [`${N}proxy-body-size`]: '8m', 'kubectl.kubernetes.io/last-applied-configuration': '{}' } }),
      { service: 'foo', port: 80 },
    );
    expect(p.route.metadata?.labels).toEqual({ team: 'a', ...labels });
    expect(p.route.metadata?.annotations).toEqual({ [`${N}proxy-body-size`]: '8m' });
    expect((p.route.spec as { rules: unknown[] }).rules).toEqual([rule(undefined, '/', 'Prefix', 80)]);
    expect(p.url).toBe('http://*/');
  });

  it('an htpasswd Secret is required for basic auth', () => {
    expect(planHttpTrigger(trigger({ 'basic-auth-secret': 's' }), backend).secret).toEqual({ name: 's', form: 'htpasswd' });
  });
});

describe('planHttpTrigger: traefik', () => {
  it('basic auth (the talk), path, CORS and TLS: Middlewares referenced in order by router.middlewares, router.tls', () => {
    const p = planHttpTrigger(trigger({ gateway: 'traefik', 'host-name': 'foo.example.com', path: '/fn/', 'basic-auth-secret': 'basic-auth', 'cors-enable': true, 'tls-secret': 'cert' }), backend);
    expect(p.extras).toEqual([
      mw(n('cors'), {
        headers: { accessControlAllowOriginList: ['*'], accessControlAllowMethods: CORS_METHODS, accessControlAllowHeaders: CORS_HEADERS, accessControlMaxAge: CORS_MAX_AGE, addVaryHeader: true },
      }),
      mw(n('auth'), { basicAuth: { secret: 'basic-auth', realm: AUTH_REALM, removeHeader: true } }),
      mw(n('strip'), { stripPrefix: { prefixes: ['/fn'] } }),
    ]);
    expect(p.route).toEqual(
      ingress(
        {
          'traefik.ingress.kubernetes.io/router.middlewares': `ns1-${n('cors')}@kubernetescrd,ns1-${n('auth')}@kubernetescrd,ns1-${n('strip')}@kubernetescrd`,
          'traefik.ingress.kubernetes.io/router.tls': 'true',
        },
        { ingressClassName: 'traefik', rules: [rule('foo.example.com', '/fn')], tls: [{ hosts: ['foo.example.com'], secretName: 'cert' }] },
      ),
    );
    expect(p.apis).toEqual([{ group: 'traefik.io', version: 'v1alpha1', plural: 'middlewares' }]);
    expect(p.url).toBe('https://foo.example.com/fn');
  });

  it('a bare route has no Middleware and needs no CRD', () => {
    const p = planHttpTrigger(trigger({ gateway: 'traefik', 'host-name': 'a.b' }), backend);
    expect(p.route).toEqual(ingress(undefined, { ingressClassName: 'traefik', rules: [rule('a.b', '/')] }));
    expect(p.extras).toEqual([]);
    expect(p.apis).toEqual([]);
  });
});

describe('planHttpTrigger: kong', () => {
  it('--hostname foo.bar.com (the talk): an Ingress of class kong', () => {
    const p = planHttpTrigger(trigger({ gateway: 'kong', 'host-name': 'foo.bar.com' }), backend);
    expect(p.route).toEqual(ingress(undefined, { ingressClassName: 'kong', rules: [rule('foo.bar.com', '/')] }));
    expect(p.extras).toEqual([]);
  });

  it('basic auth, CORS and a path: KongPlugins (basic-auth, an acl allowing only this trigger), a KongConsumer with its ACL credential, konghq.com annotations', () => {
    const p = planHttpTrigger(trigger({ gateway: 'kong', 'host-name': 'foo.bar.com', path: 'api', 'basic-auth-secret': 'kong-cred', 'cors-enable': true, 'tls-secret': 'cert' }), backend);
    expect(p.createOnly).toEqual([
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { ...meta(ACL_SECRET), labels: { ...labels, 'konghq.com/credential': 'acl' } },
        type: 'Opaque',
        stringData: { group: KONG_ID },
      },
    ]);
    expect(p.extras).toEqual([
      { apiVersion: 'configuration.konghq.com/v1', kind: 'KongPlugin', metadata: meta(n('basic-auth'), kongClass), plugin: 'basic-auth', config: { hide_credentials: true } },
      { apiVersion: 'configuration.konghq.com/v1', kind: 'KongPlugin', metadata: meta(n('acl'), kongClass), plugin: 'acl', config: { allow: [KONG_ID], hide_groups_header: true } },
      { apiVersion: 'configuration.konghq.com/v1', kind: 'KongConsumer', metadata: meta(n('consumer'), kongClass), username: KONG_ID, credentials: ['kong-cred', ACL_SECRET] },
      {
        apiVersion: 'configuration.konghq.com/v1',
        kind: 'KongPlugin',
        metadata: meta(n('cors'), kongClass),
        plugin: 'cors',
        config: { origins: ['*'], methods: CORS_METHODS, headers: CORS_HEADERS, credentials: false, max_age: CORS_MAX_AGE },
      },
    ]);
    expect(p.route).toEqual(
      ingress(
        { 'konghq.com/strip-path': 'true', 'konghq.com/plugins': `${n('basic-auth')},${n('acl')},${n('cors')}`, 'konghq.com/protocols': 'https' },
        { ingressClassName: 'kong', rules: [rule('foo.bar.com', '/api')], tls: [{ hosts: ['foo.bar.com'], secretName: 'cert' }] },
      ),
    );
    expect(p.secret).toEqual({ name: 'kong-cred', form: 'kong-credential' });
    expect(p.apis.map((a) => a.plural)).toEqual(['kongplugins', 'kongconsumers']);
  });
});

describe('planHttpTrigger: Gateway API', () => {
  it('an HTTPRoute attached to the parent, path rewritten, Middlewares by extensionRef', () => {
    const p = planHttpTrigger(trigger({ gateway: 'traefik', 'host-name': 'a.b', path: 'fn', 'basic-auth-secret': 's', gatewayParent: { name: 'gw', namespace: 'infra', sectionName: 'http' } }), backend);
    expect(p.route).toEqual({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: meta('foo'),
      spec: {
        parentRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw', namespace: 'infra', sectionName: 'http' }],
        hostnames: ['a.b'],
        rules: [
          {
            matches: [{ path: { type: 'PathPrefix', value: '/fn' } }],
            filters: [
              { type: 'ExtensionRef', extensionRef: { group: 'traefik.io', kind: 'Middleware', name: n('auth') } },
              { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } },
            ],
            backendRefs: [{ group: '', kind: 'Service', name: 'foo', port: 8080, weight: 1 }],
          },
        ],
      },
    });
    expect(p.extras.map((e) => e.metadata?.name)).toEqual([n('auth')]);
    expect(p.apis.map((a) => a.plural)).toEqual(['middlewares', 'httproutes']);
  });

  it.each([
    ['TLS on the route', { tls: true, 'host-name': 'a.b' }],
    ['nginx basic auth', { 'basic-auth-secret': 's' }],
  ])('rejects %s with UnsupportedWithHTTPRoute', (_n, spec) => {
    expect(() => planHttpTrigger(trigger({ ...spec, gatewayParent: { name: 'gw' } }), backend)).toThrow(PlanError);
  });
});

describe('controller defaults', () => {
  it('a trigger without a gateway or class gets the controller defaults; its own always win', () => {
    const dflt = planHttpTrigger(trigger({ 'host-name': 'a.test' }), backend, { defaultGateway: 'traefik', ingressClassName: 'public' });
    expect(dflt.route).toEqual(ingress(undefined, { ingressClassName: 'public', rules: [rule('a.test', '/')] }));
    const own = planHttpTrigger(trigger({ 'host-name': 'a.test', gateway: 'nginx', ingressClassName: 'internal' }), backend, { defaultGateway: 'traefik', ingressClassName: 'public' });
    expect((own.route.spec as { ingressClassName: string }).ingressClassName).toBe('internal');
    const kong = planHttpTrigger(trigger({ 'host-name': 'a.test' }), backend, { defaultGateway: 'kong' });
    expect(kong.route.spec).toMatchObject({ ingressClassName: 'kong' });
    expect(planHttpTrigger(trigger({ 'host-name': 'a.test' }), backend).route.spec).toMatchObject({ ingressClassName: 'nginx' });
  });
});

describe('input checks', () => {
  it('tls with tls-secret is InvalidSpec', () => {
    let err: unknown;
    try {
      planHttpTrigger(trigger({ tls: true, 'tls-secret': 'x' }), backend);
    } catch (e) {
      err = e;
    }
    expect((err as PlanError).reason).toBe('InvalidSpec');
  });

  it.each([
    [undefined, '/'],
    ['', '/'],
    ['echo', '/echo'],
    ['/echo/', '/echo'],
    ['a/b', '/a/b'],
  ])('normalises path %s to %s', (input, want) => {
    expect(normalisePath(input)).toBe(want);
  });
});

describe('tenant isolation: derived names', () => {
  const t = (namespace: string, name: string, uid = `${namespace}/${name}`, spec: Partial<HTTPTrigger['spec']> = {}): HTTPTrigger =>
    trigger({ 'basic-auth-secret': 's', 'cors-enable': true, path: 'p', ...spec }, { namespace, name, uid });
  const names = (p: { extras: { metadata?: { name?: string } }[]; createOnly: { metadata?: { name?: string } }[] }): string[] =>
    [...p.createOnly, ...p.extras].map((o) => o.metadata?.name ?? '');
  /** Traefik's CRD provider ID of each Middleware the Ingress references. */
  const traefikIds = (p: { route: { metadata?: { annotations?: Record<string, string> } } }): string[] =>
    (p.route.metadata?.annotations?.['traefik.ingress.kubernetes.io/router.middlewares'] ?? '').split(',');
  const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

  it('kubeless trigger http create foo -n team and -n team-a: distinct gateway object names and Traefik IDs', () => {
    for (const gateway of ['traefik', 'kong'] as const) {
      const a = planHttpTrigger(t('team', 'foo', 'u1', { gateway }), backend);
      const b = planHttpTrigger(t('team-a', 'foo', 'u2', { gateway }), backend);
      expect(names(a).filter((x) => names(b).includes(x))).toEqual([]);
    }
  });

  it('team/a-x and team-a/x (one Traefik ID team-a-x-auth@kubernetescrd until now) reference distinct Middlewares', () => {
    const a = planHttpTrigger(t('team', 'a-x', 'u1', { gateway: 'traefik' }), backend);
    const b = planHttpTrigger(t('team-a', 'x', 'u2', { gateway: 'traefik' }), backend);
    expect(traefikIds(a)).toHaveLength(3);
    expect(traefikIds(a).filter((id) => traefikIds(b).includes(id))).toEqual([]);
  });

  it('63-character trigger and namespace names: every derived name is a DNS label of at most 63, still distinct', () => {
    const ns = 'n'.repeat(63);
    const long1 = `${'a'.repeat(60)}-01`;
    const long2 = `${'a'.repeat(60)}-02`;
    for (const gateway of ['traefik', 'kong'] as const) {
      const all: string[] = [];
      for (const name of [long1, long2]) {
        const p = planHttpTrigger(t(ns, name, `uid-${name}`, { gateway }), backend);
        for (const x of names(p)) expect(x, x).toMatch(DNS_LABEL);
        all.push(...names(p));
      }
      expect(new Set(all).size, gateway).toBe(all.length);
    }
  });

  it('a trigger named with dots (a DNS subdomain) gets DNS-label names', () => {
    const p = planHttpTrigger(t('ns1', 'api.v2.example', 'u', { gateway: 'traefik' }), backend);
    expect(names(p).every((x) => DNS_LABEL.test(x) && x.startsWith('api-v2-example-'))).toBe(true);
  });

  it('kong: the consumer username and the ACL group come from the uid, so a-b/c and a/b-c no longer share username a-b-c', () => {
    const a = planHttpTrigger(t('a-b', 'c', 'uid-a', { gateway: 'kong' }), backend);
    const b = planHttpTrigger(t('a', 'b-c', 'uid-b', { gateway: 'kong' }), backend);
    const consumer = (p: typeof a) => p.extras.find((o) => o.kind === 'KongConsumer') as { username: string } | undefined;
    const acl = (p: typeof a) => p.extras.find((o) => o.plugin === 'acl') as { config: { allow: string[]; hide_groups_header: boolean } } | undefined;
    expect(consumer(a)?.username).toBe(kongIdentity('uid-a'));
    expect(consumer(a)?.username).not.toBe(consumer(b)?.username);
    expect(acl(a)?.config).toEqual({ allow: [kongIdentity('uid-a')], hide_groups_header: true });
    expect(acl(b)?.config.allow).toEqual([kongIdentity('uid-b')]);
    // The group is in the ACL credential the consumer lists, which only this trigger's incarnation names.
    expect(a.createOnly[0]?.stringData).toEqual({ group: kongIdentity('uid-a') });
    expect((a.extras.find((o) => o.kind === 'KongConsumer') as { credentials: string[] }).credentials).toEqual(['s', incarnationName('c', 'acl', 'uid-a')]);
  });

  it('kong: the trigger deleted and created again (a new uid) gets a new ACL Secret name and group; its plugin names stay', () => {
    const before = planHttpTrigger(t('ns1', 'foo', 'uid-old', { gateway: 'kong' }), backend);
    const after = planHttpTrigger(t('ns1', 'foo', 'uid-new', { gateway: 'kong' }), backend);
    expect(before.createOnly[0]?.metadata?.name).not.toBe(after.createOnly[0]?.metadata?.name);
    expect(before.createOnly[0]?.stringData).not.toEqual(after.createOnly[0]?.stringData);
    expect(before.extras.map((o) => o.metadata?.name)).toEqual(after.extras.map((o) => o.metadata?.name));
    expect(childName('ns1', 'foo', 'acl')).toBe(n('acl'));
  });

  it('kong basic auth without a uid (never from the API server) is InvalidSpec', () => {
    expect(planError(trigger({ gateway: 'kong', 'basic-auth-secret': 's' }, { uid: '' })).reason).toBe('InvalidSpec');
  });
});

describe('tenant isolation: annotations', () => {
  const annotated = (annotations: Record<string, string>, spec: Partial<HTTPTrigger['spec']> = {}): HTTPTrigger => trigger(spec, { annotations });

  it.each([
    'nginx.ingress.kubernetes.io/configuration-snippet',
    'nginx.ingress.kubernetes.io/server-snippet',
    'nginx.ingress.kubernetes.io/auth-snippet',
    'nginx.ingress.kubernetes.io/stream-snippet',
    'nginx.org/server-snippets',
    'nginx.org/location-snippets',
    'NGINX.ingress.kubernetes.io/Configuration-Snippet',
  ])('kubectl annotate httptrigger foo %s=...: refused (AnnotationNotAllowed, route withdrawn), the key named', (key) => {
    const err = planError(annotated({ [key]: 'return 200 "pwned";' }));
    expect(err.reason).toBe('AnnotationNotAllowed');
    expect(err.withdraw).toBe(true);
    expect(err.message).toContain(key);
  });

  it.each([
    ['nginx.ingress.kubernetes.io/auth-secret', 'other-ns/their-htpasswd', {}],
    ['nginx.ingress.kubernetes.io/auth-type', 'none', { 'basic-auth-secret': 's' }],
    ['nginx.ingress.kubernetes.io/rewrite-target', '/admin', { path: 'p' }],
    ['nginx.ingress.kubernetes.io/cors-allow-origin', 'https://evil.example', {}],
    ['traefik.ingress.kubernetes.io/router.middlewares', 'other-ns-their-auth@kubernetescrd', { gateway: 'traefik' as const }],
    ['konghq.com/plugins', 'their-plugin', { gateway: 'kong' as const }],
    ['cert-manager.io/cluster-issuer', 'production', {}],
    ['kubernetes.io/ingress.class', 'internal', {}],
  ])('kubectl annotate httptrigger foo %s=%s: a key kubeless generates is refused, whatever the spec', (key, value, spec) => {
    const err = planError(annotated({ [key]: value }, spec));
    expect(err.reason).toBe('AnnotationNotAllowed');
    expect(err.message).toContain(`${key} is set by kubeless`);
  });

  it('kubectl annotate httptrigger foo nginx.ingress.kubernetes.io/proxy-body-size=8m: copied by default', () => {
    expect(planHttpTrigger(annotated({ [`${N}proxy-body-size`]: '8m' }), backend).route.metadata?.annotations).toEqual({ [`${N}proxy-body-size`]: '8m' });
  });

  it('every refused key is named, in order', () => {
    const err = planError(annotated({ [`${N}server-snippet`]: 'x', [`${N}auth-secret`]: 'y', [`${N}proxy-body-size`]: '1m' }));
    expect(err.message).toMatch(/auth-secret is set by kubeless.*server-snippet is denied by the operator \(pattern \*-snippet\)/);
    expect(err.message).not.toContain('proxy-body-size');
  });

  it('ANNOTATIONS_ALLOW=nginx.ingress.kubernetes.io/proxy-*: only matching keys reach the Ingress, others are refused', () => {
    const settings = { annotations: annotationPolicy([`${N}proxy-*`], ['*-snippet', '*snippets']) };
    expect(planHttpTrigger(annotated({ [`${N}proxy-read-timeout`]: '60' }), backend, settings).route.metadata?.annotations).toEqual({ [`${N}proxy-read-timeout`]: '60' });
    const err = planError(annotated({ [`${N}whitelist-source-range`]: '0.0.0.0/0' }), settings);
    expect(err.message).toContain(`${N}whitelist-source-range is not in the operator's allow-list`);
  });

  it('ANNOTATIONS_DENY=- lets snippets through, never the generated keys', () => {
    const settings = { annotations: annotationPolicy([], ['-']) };
    expect(planHttpTrigger(annotated({ [`${N}server-snippet`]: 'x' }), backend, settings).route.metadata?.annotations).toEqual({ [`${N}server-snippet`]: 'x' });
    expect(planError(annotated({ [`${N}auth-secret`]: 'x' }), settings).reason).toBe('AnnotationNotAllowed');
  });

  it('ANNOTATIONS_DENY=nginx.ingress.kubernetes.io/auth-tls-*: an operator pattern replaces the default list', () => {
    const settings = { annotations: annotationPolicy([], [`${N}auth-tls-*`]) };
    expect(planError(annotated({ [`${N}auth-tls-secret`]: 'other/ca' }), settings).message).toContain('pattern nginx.ingress.kubernetes.io/auth-tls-*');
  });

  it('kubectl bookkeeping annotations are neither copied nor checked', () => {
    expect(planHttpTrigger(annotated({ 'kubectl.kubernetes.io/last-applied-configuration': '{}' }), backend, { annotations: annotationPolicy(['none/*'], []) }).route.metadata?.annotations).toBeUndefined();
  });
});
