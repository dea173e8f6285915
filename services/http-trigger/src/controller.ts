/**
 * Assembles the HTTP trigger controller from the kit: informers (HTTPTriggers, Functions, the
 * functions' Services, the Ingresses kubeless made), the reconciler, and the mapping of every
 * secondary event back to the trigger keys it concerns. Used by main.ts and the integration tests.
 */
import { Controller, EventRecorder, Informer, controllerOf, resourceByKind, type KubeClient, type KubeObject } from '@kubeless/controller';
import type { Logger, Registry } from '@kubeless/observability';
import type { PlanSettings } from './plan.js';
import { HttpTriggerReconciler, type HttpTriggerObject } from './reconcile.js';

export interface HttpTriggerControllerOptions {
  client: KubeClient;
  logger: Logger;
  registry?: Registry;
  /** Watch one namespace; undefined watches all. */
  watchNamespace?: string;
  settings?: PlanSettings;
  concurrency?: number;
  instance?: string;
  resyncPeriodMs?: number;
}

export interface HttpTriggerControllerParts {
  controller: Controller<HttpTriggerObject>;
  informers: Informer[];
}

export function buildHttpTriggerController(o: HttpTriggerControllerOptions): HttpTriggerControllerParts {
  const opts = { namespace: o.watchNamespace, logger: o.logger };
  const owned = { ...opts, labelSelector: 'created-by=kubeless' };
  const triggers = new Informer<HttpTriggerObject>(o.client, resourceByKind('HTTPTrigger', 'kubeless.io'), opts);
  const functions = new Informer(o.client, resourceByKind('Function', 'kubeless.io'), opts);
  const services = new Informer(o.client, resourceByKind('Service'), owned);
  const ingresses = new Informer(o.client, resourceByKind('Ingress', 'networking.k8s.io'), owned);
  const reconciler = new HttpTriggerReconciler({ client: o.client, functions, services, ingresses, settings: o.settings ?? {} });
  /** A Function or its Service concerns every trigger naming that function. */
  const byFunction = (obj: KubeObject): string[] =>
    triggers
      .list(obj.metadata?.namespace)
      .filter((t) => t.spec['function-name'] === obj.metadata?.name)
      .map((t) => `${t.metadata.namespace ?? ''}/${t.metadata.name ?? ''}`);
  const toOwner = (child: KubeObject): string[] => {
    const ref = controllerOf(child, 'HTTPTrigger');
    return ref ? [`${child.metadata?.namespace ?? ''}/${ref.name}`] : [];
  };
  const recorder = new EventRecorder(o.client, { component: 'kubeless-http-trigger', instance: o.instance, logger: o.logger });
  const controller = new Controller<HttpTriggerObject>({
    name: 'http-trigger',
    resource: resourceByKind('HTTPTrigger', 'kubeless.io'),
    client: o.client,
    informer: triggers,
    watches: [
      { informer: functions, map: byFunction },
      { informer: services, map: byFunction },
      // Status (the load-balancer address) and drift of the Ingress itself.
      { informer: ingresses, map: toOwner },
    ],
    reconcile: reconciler.reconcile,
    recorder: recorder.record,
    logger: o.logger.child({ controller: 'http-trigger' }),
    registry: o.registry,
    concurrency: o.concurrency ?? 4,
    resyncPeriodMs: o.resyncPeriodMs,
  });
  return { controller, informers: [triggers, functions, services, ingresses] };
}
