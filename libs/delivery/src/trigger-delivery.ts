/**
 * What an event trigger controller (kafka-trigger, sqs-trigger, cronjob-trigger) delivers with:
 * the Functions' cache, the endpoints of their Services, one HTTP client, the delivery metrics,
 * and a Deliverer per (trigger, function).
 */
import type { Function as KubelessFunction, TargetDelivery } from '@kubeless/api';
import { Informer, resourceByKind, type KubeObject, type ServiceOptions } from '@kubeless/controller';
import { DEFAULT_ACTIVATION_TIMEOUT_MS, functionReady } from './activation.js';
import { DeliveryClient } from './client.js';
import { Deliverer } from './deliverer.js';
import { functionEndpoints, type FunctionEndpoints } from './endpoints.js';
import { deliveryMetrics, type DeliveryMetrics } from './metrics.js';
import type { TlsFiles } from './tls.js';

/** How a trigger controller reaches and calls functions; its options carry these (see `deliveryFrom` in @kubeless/config). */
export interface DeliverySettings {
  /** `service` (DNS name and port, the default) or `endpointslice` (ready endpoints directly). */
  endpointMode: 'service' | 'endpointslice';
  clusterDomain?: string | undefined;
  /** EndpointSlice managers trusted beside the endpointslice controller (a mesh's). */
  trustedEndpointManagers?: readonly string[] | undefined;
  /** mTLS to functions: https with these files. */
  deliveryTls?: TlsFiles | undefined;
  /** The largest request body sent to a function, as encoded; a larger event is not sent (EventTooLarge). */
  maxEventBytes: number;
}

export interface TriggerDeliveryOptions extends ServiceOptions, DeliverySettings {
  /** The trigger kind, as the delivery metrics label it: `kafka`, `sqs`, `cronjob`. */
  kind: string;
  /** The User-Agent of the requests to functions (`kubeless-kafka-trigger/<client id>`). */
  userAgent: string;
}

/**
 * The delivery side of an event trigger controller: caches of the Functions and of their
 * endpoints (`functionEndpoints`: a Service that routes out of its namespace is refused), one
 * DeliveryClient (mTLS with `deliveryTls`), and the delivery metrics when there is a registry.
 * Builds objects only: the caller adds `informers` to its Manager and closes the client on stop.
 */
export class TriggerDelivery {
  readonly functions: Informer<KubelessFunction & KubeObject>;
  readonly endpoints: FunctionEndpoints;
  readonly http: DeliveryClient;
  readonly metrics: DeliveryMetrics | undefined;
  readonly #o: TriggerDeliveryOptions;

  constructor(o: TriggerDeliveryOptions) {
    this.#o = o;
    this.functions = new Informer<KubelessFunction & KubeObject>(o.client, resourceByKind('Function', 'kubeless.io'), { namespace: o.watchNamespace, logger: o.logger });
    this.endpoints = functionEndpoints({
      client: o.client,
      logger: o.logger,
      watchNamespace: o.watchNamespace,
      endpointMode: o.endpointMode,
      tls: o.deliveryTls !== undefined,
      clusterDomain: o.clusterDomain,
      trustedEndpointManagers: o.trustedEndpointManagers,
    });
    this.http = new DeliveryClient({ userAgent: o.userAgent, tls: o.deliveryTls, logger: o.logger });
    this.metrics = o.registry ? deliveryMetrics(o.registry) : undefined;
  }

  /** For the Manager: the Functions' cache, then the endpoints'. */
  get informers(): Informer[] {
    return [this.functions, ...this.endpoints.informers];
  }

  /**
   * The caches whose every change concerns the triggers of the changed object's namespace: the
   * Functions (selectors are evaluated in the plan), their Services and hand-made EndpointSlices.
   */
  get sources(): Informer[] {
    return [this.functions, ...this.endpoints.sources];
  }

  /**
   * The Deliverer of trigger `trigger` (in `namespace`) to one of its targets; before each attempt
   * to a target that `activates`, it waits (up to 5 minutes) for the function to be ready.
   */
  deliverer(namespace: string, trigger: string, to: TargetDelivery): Deliverer {
    const target = { namespace, name: to.function };
    return new Deliverer({
      client: this.http,
      resolver: this.endpoints.resolver,
      target,
      delivery: to.delivery,
      maxEventBytes: this.#o.maxEventBytes,
      metrics: this.metrics,
      labels: { kind: this.#o.kind, namespace, trigger },
      activation: to.activates ? { ready: functionReady(this.functions, this.endpoints.resolver, target), timeoutMs: DEFAULT_ACTIVATION_TIMEOUT_MS } : undefined,
    });
  }

  /** A trigger deleted from `triggers` takes its delivery series off the scrape (a failure to drop them is logged). */
  forgetDeleted(triggers: Informer): void {
    const metrics = this.metrics;
    if (!metrics) return;
    triggers.on('delete', (t) => {
      const ref = { kind: this.#o.kind, namespace: t.metadata?.namespace ?? '', trigger: t.metadata?.name ?? '' };
      metrics.forget(ref).catch((err: unknown) => {
        this.#o.logger.warn({ err, ...ref }, 'could not drop the delivery metrics of a deleted trigger');
      });
    });
  }

  /** Closes the HTTP client (after the runners drained). */
  close(): Promise<void> {
    return this.http.close();
  }
}
