import { Informer, resourceByKind, type KubeClient } from '@kubeless/controller';
import type { Logger } from '@kubeless/observability';
import { EndpointSliceResolver, ServiceDnsResolver, type EndpointResolver } from './resolver.js';

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
}

/**
 * What a trigger delivers through (SPEC §4): caches of the functions' Services (labelled
 * `created-by=kubeless`) and, in `endpointslice` mode, of their EndpointSlices, and the resolver
 * over them. The caller adds the informers to its Manager.
 */
export function functionEndpoints(o: FunctionEndpointsOptions): { informers: Informer[]; resolver: EndpointResolver } {
  const owned = { namespace: o.watchNamespace, logger: o.logger, labelSelector: 'created-by=kubeless' };
  const services = new Informer(o.client, resourceByKind('Service'), owned);
  const scheme = o.tls ? 'https' : 'http';
  if (o.endpointMode === 'endpointslice') {
    const slices = new Informer(o.client, resourceByKind('EndpointSlice', 'discovery.k8s.io'), owned);
    return { informers: [services, slices], resolver: new EndpointSliceResolver(services, slices, { scheme }) };
  }
  return { informers: [services], resolver: new ServiceDnsResolver(services, { scheme, clusterDomain: o.clusterDomain }) };
}
