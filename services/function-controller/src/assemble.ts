/**
 * Assembles the function controller from the kit: informers (Functions, the labelled children,
 * kubeless-config), the reconciler, and the mapping of every child and config event back to the
 * Function keys it concerns, for a Manager (`manager.addAll`). Used by main.ts and by the
 * integration tests.
 */
import {
  Controller,
  EventRecorder,
  Informer,
  controllerOf,
  resourceByKind,
  type KubeClient,
  type KubeObject,
  type Parts,
} from '@kubeless/controller';
import type { Logger, Registry } from '@kubeless/observability';
import { FunctionReconciler, type FunctionObject } from './reconcile.js';
import { CONFIG_NAME } from './runtime-config.js';

export interface FunctionControllerOptions {
  client: KubeClient;
  logger: Logger;
  registry?: Registry;
  /** Watch one namespace; undefined watches all. */
  watchNamespace?: string;
  /** Where kubeless-config lives. */
  configNamespace: string;
  concurrency?: number;
  instance?: string;
  resyncPeriodMs?: number;
}

export interface FunctionControllerParts extends Parts {
  informers: Informer[];
  /** Run by the leader only. */
  controllers: [Controller<FunctionObject>];
}

export function buildFunctionController(o: FunctionControllerOptions): FunctionControllerParts {
  const opts = { namespace: o.watchNamespace, logger: o.logger };
  const owned = { ...opts, labelSelector: 'created-by=kubeless' };
  const functions = new Informer<FunctionObject>(o.client, resourceByKind('Function', 'kubeless.io'), opts);
  const configMaps = new Informer(o.client, resourceByKind('ConfigMap'), owned);
  const services = new Informer(o.client, resourceByKind('Service'), owned);
  const deployments = new Informer(o.client, resourceByKind('Deployment', 'apps'), owned);
  const hpas = new Informer(o.client, resourceByKind('HorizontalPodAutoscaler', 'autoscaling'), owned);
  // Pods only to explain why replicas are not ready (a failing init container, a crash loop).
  const pods = new Informer(o.client, resourceByKind('Pod'), owned);
  const config = new Informer(o.client, resourceByKind('ConfigMap'), {
    namespace: o.configNamespace,
    fieldSelector: `metadata.name=${CONFIG_NAME}`,
    logger: o.logger,
  });
  const reconciler = new FunctionReconciler({ client: o.client, configMaps, services, deployments, hpas, pods, config, configNamespace: o.configNamespace });
  const toOwner = (child: KubeObject): string[] => {
    const ref = controllerOf(child, 'Function');
    return ref ? [`${child.metadata?.namespace ?? ''}/${ref.name}`] : [];
  };
  const allFunctions = (): string[] => functions.list().map((f) => `${f.metadata.namespace ?? ''}/${f.metadata.name ?? ''}`);
  const recorder = new EventRecorder(o.client, { component: 'kubeless-function-controller', instance: o.instance, logger: o.logger });
  const controller = new Controller<FunctionObject>({
    name: 'function',
    resource: resourceByKind('Function', 'kubeless.io'),
    client: o.client,
    informer: functions,
    watches: [
      { informer: configMaps, map: toOwner },
      { informer: services, map: toOwner },
      { informer: deployments, map: toOwner },
      { informer: hpas, map: toOwner },
      { informer: pods, map: (p) => (p.metadata?.labels?.function ? [`${p.metadata.namespace ?? ''}/${p.metadata.labels.function}`] : []) },
      // An edit of kubeless-config concerns every function.
      { informer: config, map: allFunctions },
    ],
    reconcile: reconciler.reconcile,
    recorder: recorder.record,
    logger: o.logger.child({ controller: 'function' }),
    registry: o.registry,
    concurrency: o.concurrency ?? 8,
    resyncPeriodMs: o.resyncPeriodMs,
  });
  return { informers: [functions, configMaps, services, deployments, hpas, pods, config], controllers: [controller] };
}
