/**
 * The wiring every service's assembly (services/<name>/src/assemble.ts) shares, so the assembly
 * states only what is its own: which informers, which controller with which watches and
 * reconcile, which runners.
 */
import type { Logger, Registry } from '@kubeless/observability';
import { Controller, type ControllerOptions, type Reconcilable } from './controller.js';
import { EventRecorder } from './events.js';
import { Informer, type InformerOptions } from './informer.js';
import type { KubeClient, KubeObject } from './kube-client.js';
import type { ResourceType } from './resources.js';

/** What every service's assembly is given; its options carry these besides its own settings. */
export interface ServiceOptions {
  client: KubeClient;
  logger: Logger;
  /** The process's metrics registry; without one, nothing is measured. */
  registry?: Registry | undefined;
  /** Watch one namespace; undefined watches all. */
  watchNamespace?: string | undefined;
  /** This replica (POD_NAME), as the Events it records report it; default the component. */
  instance?: string | undefined;
}

/** What a controller of the service says itself; the service adds its client, recorder, logger and registry. */
export type ServiceControllerOptions<T extends Reconcilable> = Omit<ControllerOptions<T>, 'resource' | 'client' | 'recorder' | 'logger' | 'registry'>;

/**
 * One service's informers and controllers, on its client: informers on the watched namespace
 * with the service's logger; one EventRecorder that reports as `component` (`kubeless-<service>`)
 * and this replica; controllers of the kind their informer caches, recording through it, logging
 * under `{controller: <name>}` and measured in the process registry. Builds objects only: the
 * Manager starts them.
 */
export class ServiceKit {
  readonly recorder: EventRecorder;
  readonly #o: ServiceOptions;

  constructor(o: ServiceOptions, component: string) {
    this.#o = o;
    this.recorder = new EventRecorder(o.client, { component, instance: o.instance, logger: o.logger });
  }

  /** An informer of `resource` on the watched namespace; `options` narrows it (selectors) or names another namespace. */
  informer<T extends KubeObject = KubeObject>(resource: ResourceType, options: InformerOptions = {}): Informer<T> {
    return new Informer<T>(this.#o.client, resource, { namespace: this.#o.watchNamespace, logger: this.#o.logger, ...options });
  }

  /** A controller of the kind `o.informer` caches. */
  controller<T extends Reconcilable>(o: ServiceControllerOptions<T>): Controller<T> {
    return new Controller<T>({
      ...o,
      resource: o.informer.resource,
      client: this.#o.client,
      recorder: this.recorder.record,
      logger: this.#o.logger.child({ controller: o.name }),
      registry: this.#o.registry,
    });
  }
}
