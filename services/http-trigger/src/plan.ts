/**
 * The pure half of the HTTP trigger controller: from an HTTPTrigger, the observed backend (the
 * function's Service port) and the controller's settings to the whole objects the chosen gateway
 * expects today (each gateway's documented Ingress annotations and CRDs):
 * - nginx: an Ingress with `ingressClassName: nginx` and `nginx.ingress.kubernetes.io/*` annotations;
 * - traefik: an Ingress plus `traefik.io` Middlewares referenced by `router.middlewares`;
 * - kong: an Ingress plus KongPlugins (and for basic auth a KongConsumer, an `acl` KongPlugin and
 *   the consumer's ACL credential Secret) with `konghq.com/*` annotations;
 * - with `gatewayParent`: a Gateway API HTTPRoute instead of the Ingress.
 * The route is named like the trigger; the gateway objects carry a hash of the trigger's
 * namespace and name (names.ts), so they never meet another namespace's in a gateway's global
 * name space. Every object is labelled and owned by the trigger (controller reference), so it goes
 * with the trigger by garbage collection. The trigger's own annotations pass the operator's
 * policy (annotations.ts). No I/O. A trigger that cannot be served yields a `PlanError` carrying
 * the status reason.
 */
import type { Gateway, HTTPTrigger } from '@kubeless/api';
import { controllerRef, type KubeObject } from '@kubeless/controller';
import { DEFAULT_ANNOTATION_POLICY, filterAnnotations, type AnnotationPolicy } from './annotations.js';
import { childName, incarnationName, kongIdentity } from './names.js';

/** Label on every child: the trigger it belongs to (the children of one trigger are listed by it). */
export const TRIGGER_LABEL = 'kubeless.io/http-trigger';
export const CORS_METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS'];
export const CORS_HEADERS = ['DNT', 'User-Agent', 'X-Requested-With', 'If-Modified-Since', 'Cache-Control', 'Content-Type', 'Range', 'Authorization'];
export const CORS_MAX_AGE = 1728000;
export const AUTH_REALM = 'Authentication Required';

export class PlanError extends Error {
  override readonly name = 'PlanError';
  readonly code = 'KUBELESS_HTTP_TRIGGER_PLAN';
  readonly retriable = false;
  /**
   * @param withdraw the trigger must not keep any route it had (a refusal for safety, not a
   *   spec the route could wait out).
   */
  constructor(
    readonly reason: string,
    message: string,
    readonly withdraw = false,
  ) {
    super(message);
  }
}

/** The reason of a trigger refused for an annotation the policy does not allow. */
export const ANNOTATION_NOT_ALLOWED = 'AnnotationNotAllowed';

/** The function's Service as observed: the backend of the route. */
export interface Backend {
  service: string;
  /** The Service port (not its targetPort: the Ingress addresses the Service). */
  port: number;
}

export interface PlanSettings {
  /** cert-manager issuer for `tls: true` when the trigger names none; undefined: `kubernetes.io/tls-acme`. */
  acmeIssuer?: { name: string; kind: 'Issuer' | 'ClusterIssuer' };
  /** The gateway of a trigger that names none; default nginx, as the original. */
  defaultGateway?: Gateway;
  /** The IngressClass of a trigger that names none; default the gateway's name. */
  ingressClassName?: string;
  /** Which trigger annotations reach the Ingress; default: all but snippets and the generated keys. */
  annotations?: AnnotationPolicy;
}

/** A CRD the planned objects need, checked through discovery before applying. */
export interface RequiredApi {
  group: string;
  version: string;
  plural: string;
}

/** What the auth Secret must look like for the gateway (checked by the reconciler, never modified). */
export interface SecretRequirement {
  name: string;
  /** nginx and traefik: an htpasswd file in `auth`. kong: a basic-auth credential Secret. */
  form: 'htpasswd' | 'kong-credential';
}

export interface HttpTriggerPlan {
  /** The route object: the Ingress or the HTTPRoute named like the trigger. */
  route: KubeObject;
  /** The gateway objects beside it (Middlewares, KongPlugins, KongConsumer), applied before the route. */
  extras: KubeObject[];
  /**
   * Objects created once and never read or changed (the Kong ACL credential Secret), before the
   * extras: an existing one of that name is accepted as it is.
   */
  createOnly: KubeObject[];
  apis: RequiredApi[];
  secret: SecretRequirement | undefined;
  url: string;
}

const MIDDLEWARE = { apiVersion: 'traefik.io/v1alpha1', kind: 'Middleware' };
const KONG_PLUGIN = { apiVersion: 'configuration.konghq.com/v1', kind: 'KongPlugin' };
const KONG_CONSUMER = { apiVersion: 'configuration.konghq.com/v1', kind: 'KongConsumer' };
/** The KIC label that marks a credential Secret (value `acl` for an ACL group, `basic-auth` for credentials). */
export const KONG_CREDENTIAL_LABEL = 'konghq.com/credential';
export const API_MIDDLEWARE: RequiredApi = { group: 'traefik.io', version: 'v1alpha1', plural: 'middlewares' };
export const API_KONG_PLUGIN: RequiredApi = { group: 'configuration.konghq.com', version: 'v1', plural: 'kongplugins' };
export const API_KONG_CONSUMER: RequiredApi = { group: 'configuration.konghq.com', version: 'v1', plural: 'kongconsumers' };
export const API_HTTPROUTE: RequiredApi = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' };

/** `/` + path without leading or trailing slashes; `/` for none. */
export function normalisePath(path: string | undefined): string {
  const trimmed = (path ?? '').replace(/^\/+/, '').replace(/\/+$/, '');
  return `/${trimmed}`;
}

/** Labels of every child: the trigger's own plus `created-by` and the trigger label. */
export function childLabels(t: HTTPTrigger): Record<string, string> {
  return { ...(t.metadata.labels ?? {}), 'created-by': 'kubeless', [TRIGGER_LABEL]: t.metadata.name ?? '' };
}

export function planHttpTrigger(t: HTTPTrigger, backend: Backend, settings: PlanSettings = {}): HttpTriggerPlan {
  const name = t.metadata.name ?? '';
  const namespace = t.metadata.namespace ?? 'default';
  const spec = t.spec;
  const gateway: Gateway = spec.gateway ?? settings.defaultGateway ?? 'nginx';
  const host = spec['host-name'] ?? '';
  const path = normalisePath(spec.path);
  const auth = spec['basic-auth-secret'] ?? '';
  const tlsSecret = spec['tls-secret'] ?? '';
  const acme = spec.tls === true;
  const cors = spec['cors-enable'] === true;
  // The schema rejects this too; a trigger written before the rule existed still gets a reason.
  if (acme && tlsSecret !== '') throw new PlanError('InvalidSpec', 'tls and tls-secret are exclusive: set one of them');
  const own = filterAnnotations(t.metadata.annotations, settings.annotations ?? DEFAULT_ANNOTATION_POLICY);
  if (own.refused.length > 0) {
    throw new PlanError(ANNOTATION_NOT_ALLOWED, `annotation ${own.refused.join('; ')}: remove it from the HTTPTrigger (the operator sets the policy in httpTrigger.annotations)`, true);
  }

  const meta = (objName: string, extra: { annotations?: Record<string, string> } = {}): KubeObject['metadata'] => ({
    name: objName,
    namespace,
    labels: childLabels(t),
    ...(extra.annotations && Object.keys(extra.annotations).length > 0 ? { annotations: extra.annotations } : {}),
    ownerReferences: [controllerRef(t as unknown as KubeObject)],
  });
  const secure = acme || tlsSecret !== '';
  const url = `${secure ? 'https' : 'http'}://${host === '' ? '*' : host}${path}`;
  const secret: SecretRequirement | undefined = auth === '' ? undefined : { name: auth, form: gateway === 'kong' ? 'kong-credential' : 'htpasswd' };
  const extras: KubeObject[] = [];
  const createOnly: KubeObject[] = [];
  const apis: RequiredApi[] = [];

  // --- gateway objects shared by the Ingress and the HTTPRoute forms
  const mwName = (what: string): string => childName(namespace, name, what);
  const middlewares: string[] = [];
  const plugins: string[] = [];
  if (gateway === 'traefik') {
    // Order matters: CORS answers preflights before auth asks for credentials; strip last.
    if (cors) {
      middlewares.push(mwName('cors'));
      extras.push({
        ...MIDDLEWARE,
        metadata: meta(mwName('cors')),
        spec: {
          headers: {
            accessControlAllowOriginList: ['*'],
            accessControlAllowMethods: CORS_METHODS,
            accessControlAllowHeaders: CORS_HEADERS,
            accessControlMaxAge: CORS_MAX_AGE,
            addVaryHeader: true,
          },
        },
      });
    }
    if (auth !== '') {
      middlewares.push(mwName('auth'));
      extras.push({ ...MIDDLEWARE, metadata: meta(mwName('auth')), spec: { basicAuth: { secret: auth, realm: AUTH_REALM, removeHeader: true } } });
    }
    if (path !== '/' && !spec.gatewayParent) {
      middlewares.push(mwName('strip'));
      extras.push({ ...MIDDLEWARE, metadata: meta(mwName('strip')), spec: { stripPrefix: { prefixes: [path] } } });
    }
    if (extras.length > 0) apis.push(API_MIDDLEWARE);
  } else if (gateway === 'kong') {
    const kongClass = { 'kubernetes.io/ingress.class': spec.ingressClassName ?? settings.ingressClassName ?? 'kong' };
    if (auth !== '') {
      // basic-auth accepts the credentials of any consumer in Kong (consumers are global): the
      // acl plugin lets through only this trigger's consumer, by a group named after its uid.
      const uid = t.metadata.uid ?? '';
      if (uid === '') throw new PlanError('InvalidSpec', 'the trigger has no uid yet: kong basic auth needs it for the consumer ACL group');
      const identity = kongIdentity(uid);
      const aclSecret = incarnationName(name, 'acl', uid);
      plugins.push(mwName('basic-auth'), mwName('acl'));
      createOnly.push({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { ...meta(aclSecret), labels: { ...childLabels(t), [KONG_CREDENTIAL_LABEL]: 'acl' } },
        type: 'Opaque',
        stringData: { group: identity },
      });
      extras.push({ ...KONG_PLUGIN, metadata: meta(mwName('basic-auth'), { annotations: kongClass }), plugin: 'basic-auth', config: { hide_credentials: true } });
      extras.push({ ...KONG_PLUGIN, metadata: meta(mwName('acl'), { annotations: kongClass }), plugin: 'acl', config: { allow: [identity], hide_groups_header: true } });
      extras.push({ ...KONG_CONSUMER, metadata: meta(mwName('consumer'), { annotations: kongClass }), username: identity, credentials: [auth, aclSecret] });
      apis.push(API_KONG_PLUGIN, API_KONG_CONSUMER);
    }
    if (cors) {
      plugins.push(mwName('cors'));
      extras.push({
        ...KONG_PLUGIN,
        metadata: meta(mwName('cors'), { annotations: kongClass }),
        plugin: 'cors',
        config: { origins: ['*'], methods: CORS_METHODS, headers: CORS_HEADERS, credentials: false, max_age: CORS_MAX_AGE },
      });
      if (!apis.includes(API_KONG_PLUGIN)) apis.push(API_KONG_PLUGIN);
    }
  }

  if (spec.gatewayParent) {
    return { route: planHttpRoute(t, backend, host, path, gateway, middlewares, plugins, meta(name)), extras, createOnly, apis: [...apis, API_HTTPROUTE], secret, url };
  }

  // --- the Ingress
  const annotations: Record<string, string> = {};
  let ingressPath = path;
  let pathType = 'Prefix';
  if (gateway === 'nginx') {
    const p = 'nginx.ingress.kubernetes.io/';
    if (path !== '/') {
      // Capture groups (required since ingress-nginx 0.22): /fn/x reaches the function as /x.
      ingressPath = `${path}(/|$)(.*)`;
      pathType = 'ImplementationSpecific';
      annotations[`${p}use-regex`] = 'true';
      annotations[`${p}rewrite-target`] = '/$2';
    }
    if (auth !== '') {
      annotations[`${p}auth-type`] = 'basic';
      annotations[`${p}auth-secret`] = auth;
      annotations[`${p}auth-realm`] = AUTH_REALM;
    }
    if (cors) {
      annotations[`${p}enable-cors`] = 'true';
      annotations[`${p}cors-allow-origin`] = '*';
      annotations[`${p}cors-allow-methods`] = CORS_METHODS.join(', ');
      annotations[`${p}cors-allow-headers`] = CORS_HEADERS.join(',');
      annotations[`${p}cors-max-age`] = String(CORS_MAX_AGE);
    }
    if (acme) annotations[`${p}ssl-redirect`] = 'true';
  } else if (gateway === 'traefik') {
    const p = 'traefik.ingress.kubernetes.io/';
    if (middlewares.length > 0) annotations[`${p}router.middlewares`] = middlewares.map((m) => `${namespace}-${m}@kubernetescrd`).join(',');
    if (secure) annotations[`${p}router.tls`] = 'true';
  } else {
    if (path !== '/') annotations['konghq.com/strip-path'] = 'true';
    if (plugins.length > 0) annotations['konghq.com/plugins'] = plugins.join(',');
    if (secure) annotations['konghq.com/protocols'] = 'https';
  }
  if (acme) {
    const issuer = spec.acmeIssuer ? { name: spec.acmeIssuer.name, kind: spec.acmeIssuer.kind ?? 'ClusterIssuer' } : settings.acmeIssuer;
    if (issuer) annotations[issuer.kind === 'Issuer' ? 'cert-manager.io/issuer' : 'cert-manager.io/cluster-issuer'] = issuer.name;
    // No issuer anywhere: cert-manager's ingress-shim honours tls-acme with its default issuer.
    else annotations['kubernetes.io/tls-acme'] = 'true';
  }
  // The trigger's own annotations that passed the policy (none of them is a generated key).
  Object.assign(annotations, own.copied);

  const rule: Record<string, unknown> = {
    http: { paths: [{ path: ingressPath, pathType, backend: { service: { name: backend.service, port: { number: backend.port } } } }] },
  };
  if (host !== '') rule.host = host;
  const ingressSpec: Record<string, unknown> = { ingressClassName: spec.ingressClassName ?? settings.ingressClassName ?? gateway, rules: [rule] };
  if (tlsSecret !== '') ingressSpec.tls = [{ ...(host !== '' ? { hosts: [host] } : {}), secretName: tlsSecret }];
  else if (acme) ingressSpec.tls = [{ ...(host !== '' ? { hosts: [host] } : {}), secretName: `${name}-tls` }];
  const route: KubeObject = { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: meta(name, { annotations }), spec: ingressSpec };
  return { route, extras, createOnly, apis, secret, url };
}

function planHttpRoute(
  t: HTTPTrigger,
  backend: Backend,
  host: string,
  path: string,
  gateway: Gateway,
  middlewares: string[],
  plugins: string[],
  metadata: KubeObject['metadata'],
): KubeObject {
  const spec = t.spec;
  const parent = spec.gatewayParent ?? { name: '' };
  if (spec.tls === true || (spec['tls-secret'] ?? '') !== '') {
    throw new PlanError('UnsupportedWithHTTPRoute', 'with gatewayParent, TLS is configured on the Gateway listener: drop tls and tls-secret from the trigger');
  }
  if (gateway === 'nginx' && ((spec['basic-auth-secret'] ?? '') !== '' || spec['cors-enable'] === true)) {
    throw new PlanError('UnsupportedWithHTTPRoute', 'basic auth and CORS on an HTTPRoute need gateway traefik or kong (filters by extensionRef)');
  }
  const filters: Record<string, unknown>[] = [];
  for (const m of middlewares) filters.push({ type: 'ExtensionRef', extensionRef: { group: 'traefik.io', kind: 'Middleware', name: m } });
  for (const p of plugins) filters.push({ type: 'ExtensionRef', extensionRef: { group: 'configuration.konghq.com', kind: 'KongPlugin', name: p } });
  if (path !== '/') filters.push({ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } });
  const parentRef: Record<string, unknown> = { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: parent.name };
  if (parent.namespace) parentRef.namespace = parent.namespace;
  if (parent.sectionName) parentRef.sectionName = parent.sectionName;
  const rule: Record<string, unknown> = {
    matches: [{ path: { type: 'PathPrefix', value: path } }],
    backendRefs: [{ group: '', kind: 'Service', name: backend.service, port: backend.port, weight: 1 }],
  };
  if (filters.length > 0) rule.filters = filters;
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata,
    spec: { parentRefs: [parentRef], ...(host !== '' ? { hostnames: [host] } : {}), rules: [rule] },
  };
}
