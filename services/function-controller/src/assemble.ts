/**
 * Assembles the function controller from the kit: informers (Functions, the labelled children,
 * kubeless-config), the reconciler, and the mapping of every child and config event back to the
 * Function keys it concerns, for a Manager (`manager.addAll`). Used by main.ts and by the
 * integration tests.
 */
import { ServiceKit, ownerWatches, resourceByKind, type Controller, type Informer, type Parts, type ServiceOptions } from '@kubeless/controller';
import { FunctionReconciler, type FunctionObject } from './reconcile.js';
import { KUBELESS_CONFIG_NAME } from '@kubeless/api';

export interface FunctionControllerOptions extends ServiceOptions {
  /** Where kubeless-config lives. */
  configNamespace: string;
  concurrency?: number;
  resyncPeriodMs?: number;
}

export interface FunctionControllerParts extends Parts {
  informers: Informer[];
  /** Run by the leader only. */
  controllers: [Controller<FunctionObject>];
}

export function buildFunctionController(o: FunctionControllerOptions): FunctionControllerParts {
  const kit = new ServiceKit(o, 'kubeless-function-controller');
  const owned = { labelSelector: 'created-by=kubeless' };
  const functions = kit.informer<FunctionObject>(resourceByKind('Function', 'kubeless.io'));
  const configMaps = kit.informer(resourceByKind('ConfigMap'), owned);
  const services = kit.informer(resourceByKind('Service'), owned);
  const deployments = kit.informer(resourceByKind('Deployment', 'apps'), owned);
  const hpas = kit.informer(resourceByKind('HorizontalPodAutoscaler', 'autoscaling'), owned);
  // Pods only to explain why replicas are not ready (a failing init container, a crash loop).
  const pods = kit.informer(resourceByKind('Pod'), owned);
  const config = kit.informer(resourceByKind('ConfigMap'), { namespace: o.configNamespace, fieldSelector: `metadata.name=${KUBELESS_CONFIG_NAME}` });
  const reconciler = new FunctionReconciler({ client: o.client, configMaps, services, deployments, hpas, pods, config, configNamespace: o.configNamespace });
  const allFunctions = (): string[] => functions.list().map((f) => `${f.metadata.namespace ?? ''}/${f.metadata.name ?? ''}`);
  const controller = kit.controller<FunctionObject>({
    name: 'function',
    informer: functions,
    watches: [
      ...ownerWatches('Function', [configMaps, services, deployments, hpas]),
      { informer: pods, map: (p) => (p.metadata?.labels?.function ? [`${p.metadata.namespace ?? ''}/${p.metadata.labels.function}`] : []) },
      // An edit of kubeless-config concerns every function.
      { informer: config, map: allFunctions },
    ],
    reconcile: reconciler.reconcile,
    concurrency: o.concurrency ?? 8,
    resyncPeriodMs: o.resyncPeriodMs,
  });
  return { informers: [functions, configMaps, services, deployments, hpas, pods, config], controllers: [controller] };
}
