import type { HTTPTrigger } from '@kubeless/api';
import { describe, expect, it } from 'vitest';
import { AUTH_REALM, CORS_HEADERS, CORS_MAX_AGE, CORS_METHODS, PlanError, normalisePath, planHttpTrigger } from '../../src/plan.js';

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
      mw('foo-cors', {
        headers: { accessControlAllowOriginList: ['*'], accessControlAllowMethods: CORS_METHODS, accessControlAllowHeaders: CORS_HEADERS, accessControlMaxAge: CORS_MAX_AGE, addVaryHeader: true },
      }),
      mw('foo-auth', { basicAuth: { secret: 'basic-auth', realm: AUTH_REALM, removeHeader: true } }),
      mw('foo-strip', { stripPrefix: { prefixes: ['/fn'] } }),
    ]);
    expect(p.route).toEqual(
      ingress(
        { 'traefik.ingress.kubernetes.io/router.middlewares': 'ns1-foo-cors@kubernetescrd,ns1-foo-auth@kubernetescrd,ns1-foo-strip@kubernetescrd', 'traefik.ingress.kubernetes.io/router.tls': 'true' },
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

  it('basic auth, CORS and a path: KongPlugins, a KongConsumer, konghq.com annotations', () => {
    const p = planHttpTrigger(trigger({ gateway: 'kong', 'host-name': 'foo.bar.com', path: 'api', 'basic-auth-secret': 'kong-cred', 'cors-enable': true, 'tls-secret': 'cert' }), backend);
    expect(p.extras).toEqual([
      { apiVersion: 'configuration.konghq.com/v1', kind: 'KongPlugin', metadata: meta('foo-basic-auth', kongClass), plugin: 'basic-auth', config: { hide_credentials: true } },
      { apiVersion: 'configuration.konghq.com/v1', kind: 'KongConsumer', metadata: meta('foo-consumer', kongClass), username: 'ns1-foo', credentials: ['kong-cred'] },
      {
        apiVersion: 'configuration.konghq.com/v1',
        kind: 'KongPlugin',
        metadata: meta('foo-cors', kongClass),
        plugin: 'cors',
        config: { origins: ['*'], methods: CORS_METHODS, headers: CORS_HEADERS, credentials: false, max_age: CORS_MAX_AGE },
      },
    ]);
    expect(p.route).toEqual(
      ingress(
        { 'konghq.com/strip-path': 'true', 'konghq.com/plugins': 'foo-basic-auth,foo-cors', 'konghq.com/protocols': 'https' },
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
              { type: 'ExtensionRef', extensionRef: { group: 'traefik.io', kind: 'Middleware', name: 'foo-auth' } },
              { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } },
            ],
            backendRefs: [{ group: '', kind: 'Service', name: 'foo', port: 8080, weight: 1 }],
          },
        ],
      },
    });
    expect(p.extras.map((e) => e.metadata?.name)).toEqual(['foo-auth']);
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
