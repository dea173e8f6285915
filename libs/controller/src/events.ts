import type { Logger } from '@kubeless/observability';
import type { KubeClient, KubeObject } from './kube-client.js';

export type EventType = 'Normal' | 'Warning';

/** Records an Event about an object; never throws (an Event is best effort). */
export type Recorder = (obj: KubeObject, type: EventType, reason: string, message: string) => void;

interface Seen {
  name: string;
  count: number;
  at: number;
}

/**
 * Records core/v1 Events (what `kubectl describe` and `kubectl get events` show). Repeats of the
 * same object, type, reason and message within `windowMs` bump the count of the existing Event
 * instead of creating another, as client-go's correlator does.
 */
export class EventRecorder {
  readonly #client: KubeClient;
  readonly #component: string;
  readonly #instance: string;
  readonly #logger: Logger | undefined;
  readonly #seen = new Map<string, Seen>();
  /** The last recording of each key: repeats wait for it, so they find its Event in `#seen`. */
  readonly #pending = new Map<string, Promise<void>>();
  readonly #windowMs: number;

  constructor(client: KubeClient, options: { component: string; instance?: string; logger?: Logger; windowMs?: number }) {
    this.#client = client;
    this.#component = options.component;
    this.#instance = options.instance ?? options.component;
    this.#logger = options.logger;
    this.#windowMs = options.windowMs ?? 10 * 60_000;
  }

  readonly record: Recorder = (obj, type, reason, message) => {
    // One at a time per key: a repeat sent while the first Event is being created (a retry 5 ms
    // later) created a second Event, and concurrent count patches could land out of order.
    const key = `${obj.metadata?.uid ?? ''}/${type}/${reason}/${message}`;
    const next = (this.#pending.get(key) ?? Promise.resolve())
      .then(() => this.#record(key, obj, type, reason, message))
      .catch((err: unknown) => {
        this.#logger?.warn({ err, reason }, 'event not recorded');
      });
    this.#pending.set(key, next);
    void next.then(() => {
      if (this.#pending.get(key) === next) this.#pending.delete(key);
    });
  };

  async #record(key: string, obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const m = obj.metadata ?? {};
    const namespace = m.namespace ?? 'default';
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const seen = this.#seen.get(key);
    if (seen && Date.now() - seen.at < this.#windowMs) {
      seen.count += 1;
      seen.at = Date.now();
      await this.#client.mergePatch(`/api/v1/namespaces/${namespace}/events/${seen.name}`, { count: seen.count, lastTimestamp: now });
      return;
    }
    if (this.#seen.size > 5000) this.#seen.clear();
    const created = await this.#client.create<KubeObject>(`/api/v1/namespaces/${namespace}/events`, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${m.name ?? 'object'}.`, namespace } as KubeObject['metadata'],
      involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, name: m.name, namespace, uid: m.uid, resourceVersion: m.resourceVersion },
      reason,
      message: message.slice(0, 1024),
      type,
      source: { component: this.#component },
      reportingComponent: this.#component,
      reportingInstance: this.#instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
    this.#seen.set(key, { name: created.metadata?.name ?? '', count: 1, at: Date.now() });
  }
}
