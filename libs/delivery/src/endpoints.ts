import { ENDPOINTSLICE_CONTROLLER, MANAGED_BY_LABEL, functionServiceProblem, type EndpointSliceLike, type ServiceLike, type TenancyProblem } from '@kubeless/api';
import { Informer, resourceByKind, type KubeClient, type KubeObject } from '@kubeless/controller';
import type { Logger } from '@kubeless/observability';
import { EndpointSliceResolver, ServiceDnsResolver, type EndpointResolver, type FunctionTarget } from './resolver.js';

export interface FunctionEndpointsOptions {
  client: KubeClient;
  logger: Logger;
  /** Watch only this namespace; undefined watches all. */
  watchNamespace?: string | undefined;
  /** `service`: the Service's DNS name and port; `endpointslice`: its ready endpoints, round robin. */
  endpointMode: 'service' | 'endpointslice';
  /** https to the functions (mTLS from the trigger's side) instead of http. */
  tls: boolean;
  clusterDomain?: string | undefined;
  /**
   * EndpointSlice managers (`endpointslice.kubernetes.io/managed-by`) besides the endpointslice
   * controller whose slices are trusted as the function's own (a service mesh's). Default none.
   */
  trustedEndpointManagers?: readonly string[] | undefined;
}

export interface FunctionEndpoints {
  informers: Informer[];
  resolver: EndpointResolver;
  /** Why a function's Service must not be delivered to (it routes out of its namespace); undefined when it may, or has no Service yet. */
  serviceProblem: (namespace: string, name: string) => TenancyProblem | undefined;
  /** Informers whose changes can change `serviceProblem` (for the caller's sync sources). */
  sources: Informer[];
}

/**
 * What a trigger delivers through (docs/delivery.md#endpoints): caches of the functions' Services (labelled
 * `created-by=kubeless`) and, in `endpointslice` mode, of their EndpointSlices, and the resolver
 * over them. In both modes it also caches the EndpointSlices the endpointslice controller does not
 * manage (hand-made ones: few in a cluster), so a function whose Service routes out of its
 * namespace (ExternalName, externalIPs, a hand-made slice) is refused: `serviceProblem` for the
 * trigger's plan, and the resolver throws a retriable `ForeignEndpoints` for it. The caller adds
 * the informers to its Manager.
 */
export function functionEndpoints(o: FunctionEndpointsOptions): FunctionEndpoints {
  const owned = { namespace: o.watchNamespace, logger: o.logger, labelSelector: 'created-by=kubeless' };
  const services = new Informer<KubeObject & ServiceLike & { spec?: { ports?: { name?: string; port: number }[] } }>(o.client, resourceByKind('Service'), owned);
  const foreign = new Informer<KubeObject & EndpointSliceLike>(o.client, resourceByKind('EndpointSlice', 'discovery.k8s.io'), {
    namespace: o.watchNamespace,
    logger: o.logger,
    labelSelector: `${MANAGED_BY_LABEL}!=${ENDPOINTSLICE_CONTROLLER}`,
  });
  const trusted = [ENDPOINTSLICE_CONTROLLER, ...(o.trustedEndpointManagers ?? [])];
  // Computed on demand, per function, and forgotten when its Service or a foreign slice changes.
  const problems = new Map<string, TenancyProblem | undefined>();
  /** Bumped by every change forgotten: the guard's answer per target (no key string per request) is kept until then. */
  let generation = 0;
  const forget = (namespace: string | undefined, name: string | undefined): void => {
    if (!name) return;
    problems.delete(`${namespace ?? ''}/${name}`);
    generation++;
  };
  for (const event of ['add', 'update', 'delete'] as const) {
    services.on(event, (s) => {
      forget(s.metadata?.namespace, s.metadata?.name);
    });
    foreign.on(event, (s) => {
      forget(s.metadata?.namespace, s.metadata?.labels?.['kubernetes.io/service-name']);
    });
  }
  const serviceProblem = (namespace: string, name: string): TenancyProblem | undefined => {
    const key = `${namespace}/${name}`;
    if (problems.has(key)) return problems.get(key);
    const svc = services.get(namespace, name);
    const problem = svc ? functionServiceProblem(name, svc, foreign.list(namespace), trusted) : undefined;
    problems.set(key, problem);
    return problem;
  };
  const checked = new WeakMap<FunctionTarget, { generation: number; problem: TenancyProblem | undefined }>();
  const guard = (t: FunctionTarget): TenancyProblem | undefined => {
    const c = checked.get(t);
    if (c?.generation === generation) return c.problem;
    const problem = serviceProblem(t.namespace, t.name);
    checked.set(t, { generation, problem });
    return problem;
  };
  const scheme = o.tls ? 'https' : 'http';
  if (o.endpointMode === 'endpointslice') {
    const slices = new Informer(o.client, resourceByKind('EndpointSlice', 'discovery.k8s.io'), owned);
    return { informers: [services, slices, foreign], sources: [services, foreign], serviceProblem, resolver: new EndpointSliceResolver(services, slices, { scheme, guard }) };
  }
  return { informers: [services, foreign], sources: [services, foreign], serviceProblem, resolver: new ServiceDnsResolver(services, { scheme, clusterDomain: o.clusterDomain, guard }) };
}
