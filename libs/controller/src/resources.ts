/**
 * Where each kind lives in the API. A static table of the kinds kubeless touches: no discovery
 * round-trip, and a typo is a TypeError at once rather than a 404 later.
 */
export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

const table: ResourceType[] = [
  { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true },
  { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true },
  { group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true },
  { group: '', version: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true },
  { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true },
  { group: '', version: 'v1', kind: 'Event', plural: 'events', namespaced: true },
  { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false },
  { group: '', version: 'v1', kind: 'Node', plural: 'nodes', namespaced: false },
  { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', namespaced: true },
  { group: 'apps', version: 'v1', kind: 'ReplicaSet', plural: 'replicasets', namespaced: true },
  { group: 'autoscaling', version: 'v2', kind: 'HorizontalPodAutoscaler', plural: 'horizontalpodautoscalers', namespaced: true },
  { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', namespaced: true },
  { group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', plural: 'endpointslices', namespaced: true },
  { group: 'networking.k8s.io', version: 'v1', kind: 'Ingress', plural: 'ingresses', namespaced: true },
  { group: 'networking.k8s.io', version: 'v1', kind: 'NetworkPolicy', plural: 'networkpolicies', namespaced: true },
  { group: 'networking.k8s.io', version: 'v1', kind: 'IngressClass', plural: 'ingressclasses', namespaced: false },
  // Gateway kinds the HTTP trigger emits; their CRDs may be absent from a cluster.
  { group: 'traefik.io', version: 'v1alpha1', kind: 'Middleware', plural: 'middlewares', namespaced: true },
  { group: 'configuration.konghq.com', version: 'v1', kind: 'KongPlugin', plural: 'kongplugins', namespaced: true },
  { group: 'configuration.konghq.com', version: 'v1', kind: 'KongConsumer', plural: 'kongconsumers', namespaced: true },
  { group: 'gateway.networking.k8s.io', version: 'v1', kind: 'HTTPRoute', plural: 'httproutes', namespaced: true },
  { group: 'gateway.networking.k8s.io', version: 'v1', kind: 'Gateway', plural: 'gateways', namespaced: true },
  { group: 'kubeless.io', version: 'v1beta1', kind: 'Function', plural: 'functions', namespaced: true },
  { group: 'kubeless.io', version: 'v1beta1', kind: 'HTTPTrigger', plural: 'httptriggers', namespaced: true },
  { group: 'kubeless.io', version: 'v1beta1', kind: 'KafkaTrigger', plural: 'kafkatriggers', namespaced: true },
  { group: 'kubeless.io', version: 'v1beta1', kind: 'SQSTrigger', plural: 'sqstriggers', namespaced: true },
];

const byKind = new Map(table.map((r) => [`${r.group}/${r.kind}`, r]));

export const apiVersionOf = (r: ResourceType): string => (r.group === '' ? r.version : `${r.group}/${r.version}`);

/** The resource type of `apiVersion` + `kind`; throws a TypeError for a kind the table lacks. */
export function resourceFor(apiVersion: string, kind: string): ResourceType {
  const group = apiVersion.includes('/') ? (apiVersion.split('/')[0] ?? '') : '';
  const r = byKind.get(`${group}/${kind}`);
  if (!r) throw new TypeError(`unknown kind ${apiVersion}/${kind}: add it to libs/controller/src/resources.ts`);
  return r;
}

export function resourceByKind(kind: string, group = ''): ResourceType {
  const r = byKind.get(`${group}/${kind}`);
  if (!r) throw new TypeError(`unknown kind ${group}/${kind}`);
  return r;
}

/** The collection path, in a namespace or across all namespaces (`namespace` undefined). */
export function collectionPath(r: ResourceType, namespace?: string): string {
  const base = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  return r.namespaced && namespace ? `${base}/namespaces/${namespace}/${r.plural}` : `${base}/${r.plural}`;
}

export function objectPath(r: ResourceType, namespace: string | undefined, name: string, subresource?: string): string {
  return `${collectionPath(r, namespace)}/${encodeURIComponent(name)}${subresource ? `/${subresource}` : ''}`;
}
