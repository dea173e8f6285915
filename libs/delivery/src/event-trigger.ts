/**
 * The wiring an event trigger controller with runners on every replica (kafka-trigger,
 * sqs-trigger) shares, so its assembly states only its own transport: how a trigger plans into
 * runner specs, how a runner is made, and its status reconcile.
 */
import type { Function as KubelessFunction } from '@kubeless/api';
import {
  FunctionScaler,
  ServiceKit,
  autoscalesIn,
  namespaceWatches,
  replicaRunners,
  type Controller,
  type Informer,
  type Reconcilable,
  type ReplicaRunnersOptions,
  type ResourceType,
  type Runnable,
  type Runner,
  type ServiceControllerOptions,
  type Supervisor,
} from '@kubeless/controller';
import { TriggerDelivery, type TriggerDeliveryOptions } from './trigger-delivery.js';

export interface EventTriggerOptions extends TriggerDeliveryOptions {
  /** The trigger kind's resource (KafkaTrigger, SQSTrigger). */
  resource: ResourceType;
  /** How often the credentials Secrets in use are re-read, so a rotated one restarts its runners. Default 10 s. */
  secretResyncMs?: number | undefined;
  /** How often the runners are synced without a change (retries failed starts). Default 5 s. */
  syncIntervalMs?: number | undefined;
}

/** What a trigger kind says about its runners; the rest of replicaRunners' options come from the EventTrigger. */
export type EventTriggerRunners<T, S extends { key: string; namespace: string }, State, R extends Runner<State, S>> = Omit<
  ReplicaRunnersOptions<S, State, R>,
  'client' | 'logger' | 'planned' | 'sources' | 'secretResyncMs' | 'syncIntervalMs'
> & {
  /** The runner specs of one trigger, given the cached functions (pure). */
  plan: (trigger: T, functions: KubelessFunction[]) => S[];
};

/**
 * One event trigger kind's controller: the cache of its triggers, the delivery to functions
 * (TriggerDelivery; the delivery series of a deleted trigger are dropped with it), the runners
 * on every replica, the leader-only status controller, and the scaler of the functions its
 * triggers autoscale. Its controller, scaler field manager and logs are named after the kind in
 * lower case (`kafkatrigger`); its Events report as `kubeless-<kind>-trigger`. Builds objects
 * only: the Manager starts what `informers`, the status controller and the runners' Runnable
 * hold.
 */
export class EventTrigger<T extends Reconcilable> {
  readonly triggers: Informer<T>;
  readonly delivery: TriggerDelivery;
  readonly scaler: FunctionScaler;
  readonly #o: EventTriggerOptions;
  readonly #kit: ServiceKit;
  readonly #name: string;

  constructor(o: EventTriggerOptions) {
    this.#o = o;
    this.#name = o.resource.kind.toLowerCase();
    this.#kit = new ServiceKit(o, `kubeless-${o.kind}-trigger`);
    this.triggers = this.#kit.informer<T>(o.resource);
    this.delivery = new TriggerDelivery(o);
    this.delivery.forgetDeleted(this.triggers);
    this.scaler = new FunctionScaler({ client: o.client, kind: this.#name, autoscales: autoscalesIn(this.triggers) });
  }

  /** The functions of the watched namespaces, as cached. */
  readonly functions = (): KubelessFunction[] => this.delivery.functions.list();

  /** For the Manager: the triggers' cache, then the delivery's. */
  get informers(): Informer[] {
    return [this.triggers, ...this.delivery.informers];
  }

  /**
   * The runners on every replica (replicaRunners): `plan` of every cached trigger, planned again
   * on a change of a trigger, a Function, its Service or a hand-made EndpointSlice. On stop, once
   * every runner stopped: the kind's `close`, then the delivery client.
   */
  runners<S extends { key: string; namespace: string }, State, R extends Runner<State, S>>(
    o: EventTriggerRunners<T, S, State, R>,
  ): { runnable: Runnable; supervisor: Supervisor<S, State, R> } {
    const { plan, close, ...own } = o;
    return replicaRunners<S, State, R>({
      ...own,
      client: this.#o.client,
      logger: this.#o.logger,
      planned: () => {
        const fns = this.functions();
        return this.triggers.list().flatMap((t) => plan(t, fns));
      },
      sources: [this.triggers, ...this.delivery.sources],
      secretResyncMs: this.#o.secretResyncMs,
      syncIntervalMs: this.#o.syncIntervalMs,
      close: async () => {
        await close();
        await this.delivery.close();
      },
    });
  }

  /**
   * The status controller, run by the leader only: `reconcile` runs on a change of the trigger, and
   * for every trigger of a namespace on a change of a Function, its Service or a hand-made
   * EndpointSlice there (selectors are evaluated in the plan).
   */
  statusController(o: Omit<ServiceControllerOptions<T>, 'name' | 'informer' | 'watches'>): Controller<T> {
    return this.#kit.controller<T>({ ...o, name: this.#name, informer: this.triggers, watches: namespaceWatches(this.triggers, this.delivery.sources) });
  }
}
