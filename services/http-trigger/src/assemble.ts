/**
 * Assembles the HTTP trigger controller from the kit: informers (HTTPTriggers, Functions, the
 * functions' Services, the EndpointSlices the endpointslice controller does not manage, the
 * Ingresses kubeless made), the reconciler, and the mapping of every secondary event back to the
 * trigger keys it concerns, for a Manager (`manager.addAll`). Used by main.ts and the
 * integration tests.
 */
import { ENDPOINTSLICE_CONTROLLER, MANAGED_BY_LABEL } from '@kubeless/api';
import { ServiceKit, ownerWatches, resourceByKind, type Controller, type Informer, type KubeObject, type Parts, type ServiceOptions } from '@kubeless/controller';
import type { PlanSettings } from './plan.js';
import { HttpTriggerReconciler, type HttpTriggerObject } from './reconcile.js';

export interface HttpTriggerControllerOptions extends ServiceOptions {
  settings?: PlanSettings;
  concurrency?: number;
  resyncPeriodMs?: number;
  /** EndpointSlice managers trusted beside the endpointslice controller (a mesh's); default none. */
  trustedEndpointSliceManagers?: readonly string[];
}

export interface HttpTriggerControllerParts extends Parts {
  informers: Informer[];
  /** Run by the leader only. */
  controllers: [Controller<HttpTriggerObject>];
}

export function buildHttpTriggerController(o: HttpTriggerControllerOptions): HttpTriggerControllerParts {
  const kit = new ServiceKit(o, 'kubeless-http-trigger');
  const owned = { labelSelector: 'created-by=kubeless' };
  const triggers = kit.informer<HttpTriggerObject>(resourceByKind('HTTPTrigger', 'kubeless.io'));
  const functions = kit.informer(resourceByKind('Function', 'kubeless.io'));
  const services = kit.informer(resourceByKind('Service'), owned);
  const ingresses = kit.informer(resourceByKind('Ingress', 'networking.k8s.io'), owned);
  // Only the slices that can be foreign: `!=` also selects slices without the label. The
  // controller's own slices list the Service's selected pods, which the Service check covers.
  const endpointSlices = kit.informer(resourceByKind('EndpointSlice', 'discovery.k8s.io'), { labelSelector: `${MANAGED_BY_LABEL}!=${ENDPOINTSLICE_CONTROLLER}` });
  const reconciler = new HttpTriggerReconciler({
    client: o.client,
    functions,
    services,
    ingresses,
    endpointSlices,
    settings: o.settings ?? {},
    ...(o.trustedEndpointSliceManagers ? { trustedEndpointSliceManagers: o.trustedEndpointSliceManagers } : {}),
  });
  /** The triggers of namespace `ns` naming function `fn`. */
  const naming = (ns: string | undefined, fn: string | undefined): string[] =>
    triggers
      .list(ns)
      .filter((t) => t.spec['function-name'] === fn)
      .map((t) => `${t.metadata.namespace ?? ''}/${t.metadata.name ?? ''}`);
  /** A Function or its Service concerns every trigger naming that function. */
  const byFunction = (obj: KubeObject): string[] => naming(obj.metadata?.namespace, obj.metadata?.name);
  /** A slice concerns the triggers of the function whose Service it is labelled for (Services are named like their function). */
  const bySlice = (obj: KubeObject): string[] => {
    const service = obj.metadata?.labels?.['kubernetes.io/service-name'];
    return service ? naming(obj.metadata?.namespace, service) : [];
  };
  const controller = kit.controller<HttpTriggerObject>({
    name: 'http-trigger',
    informer: triggers,
    watches: [
      { informer: functions, map: byFunction },
      { informer: services, map: byFunction },
      { informer: endpointSlices, map: bySlice },
      // Status (the load-balancer address) and drift of the Ingress itself.
      ...ownerWatches('HTTPTrigger', [ingresses]),
    ],
    reconcile: reconciler.reconcile,
    concurrency: o.concurrency ?? 4,
    resyncPeriodMs: o.resyncPeriodMs,
  });
  return { informers: [triggers, functions, services, endpointSlices, ingresses], controllers: [controller] };
}
