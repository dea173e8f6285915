import { ListWatch, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '@kubeless/observability';
import { exponentialBackoff } from './backoff.js';
import { ApiError } from './errors.js';
import type { KubeClient, KubeObject } from './kube-client.js';
import { collectionPath, type ResourceType } from './resources.js';

export type InformerHandler<T> = (obj: T) => void;

export interface InformerOptions {
  /** Watch one namespace; undefined watches all. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  logger?: Logger;
  /** Restart backoff bounds after a watch or list error. Default 500 ms to 30 s. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Server-side watch timeout before a clean re-watch. Default 300 s. */
  watchTimeoutSeconds?: number;
}

/**
 * A supervised list+watch cache of one resource type, on @kubernetes/client-node's ListWatch.
 * It lists, then watches; a 410 Gone relists (ListWatch does that itself); any other error stops
 * ListWatch, so this supervisor restarts it with capped exponential backoff, forever, until
 * `stop()`. `synced` turns true after the first complete list and stays true, so readiness
 * does not flap on a reconnect. Objects are plain JSON as the API server sent them.
 */
export class Informer<T extends KubeObject = KubeObject> {
  readonly resource: ResourceType;
  readonly #options: InformerOptions;
  readonly #lw: ListWatch<KubernetesObject>;
  #synced = false;
  #stopped = true;
  #failures = 0;
  #lastErrorAt = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  readonly #syncWaiters: (() => void)[] = [];

  constructor(client: KubeClient, resource: ResourceType, options: InformerOptions = {}) {
    this.resource = resource;
    this.#options = options;
    const path = collectionPath(resource, options.namespace);
    const query = { labelSelector: options.labelSelector, fieldSelector: options.fieldSelector };
    const listFn = async (): Promise<{ items: KubernetesObject[]; metadata?: { resourceVersion?: string } }> => {
      const list = await client.list(path, query);
      return list as { items: KubernetesObject[]; metadata?: { resourceVersion?: string } };
    };
    // ListWatch needs a `watch(path, query, onEvent, onDone)` transport returning something with
    // abort(); ours is KubeClient.watch. Errors carry `statusCode` so ListWatch recognises 410.
    const transport = {
      watch: async (
        p: string,
        q: Record<string, string | number | boolean | undefined>,
        onEvent: (phase: string, obj: unknown, raw: unknown) => void,
        onDone: (err: unknown) => void,
      ): Promise<{ abort: () => void }> => {
        const stop = await client.watch(
          p,
          { ...q, ...query, timeoutSeconds: options.watchTimeoutSeconds ?? 300 },
          (e) => {
            onEvent(e.type, e.object, e);
          },
          (err) => {
            if (err instanceof ApiError) Object.assign(err, { statusCode: err.status });
            onDone(err ?? null);
          },
        );
        return { abort: stop };
      },
    };
    this.#lw = new ListWatch(path, transport as never, listFn, false, options.labelSelector, options.fieldSelector);
    this.#lw.on('error', (err: unknown) => {
      this.#onError(err);
    });
  }

  /** True once the first list has completed. */
  get synced(): boolean {
    return this.#synced;
  }

  on(event: 'add' | 'update' | 'delete', handler: InformerHandler<T>): void {
    this.#lw.on(event, handler as InformerHandler<KubernetesObject>);
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.#lw.get(name, namespace) as T | undefined;
  }

  list(namespace?: string): T[] {
    return this.#lw.list(namespace) as T[];
  }

  /** Starts listing and watching; returns at once. Idempotent. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    void this.#run();
  }

  async #run(): Promise<void> {
    if (this.#stopped) return;
    const attempt = { failed: false };
    const onErr = (): void => {
      attempt.failed = true;
    };
    this.#lw.on('error', onErr);
    try {
      await this.#lw.start();
    } finally {
      this.#lw.off('error', onErr);
    }
    // The failure count is not reset here: `start()` returns once the watch request is sent, so a
    // watch refused or reset right after would restart at the shortest backoff forever.
    // `stop()` may have run while we awaited.
    const stopped = this.#stopped as boolean;
    if (!attempt.failed && !stopped) {
      if (!this.#synced) {
        this.#synced = true;
        for (const w of this.#syncWaiters.splice(0)) w();
      }
    }
  }

  #onError(err: unknown): void {
    if (this.#stopped) return;
    // Backoff starts afresh after a quiet spell of twice the longest backoff (client-go's reflector
    // resets after 2 min without a failure).
    const now = Date.now();
    if (now - this.#lastErrorAt > 2 * (this.#options.maxBackoffMs ?? 30_000)) this.#failures = 0;
    this.#lastErrorAt = now;
    const delay = exponentialBackoff(this.#failures++, this.#options.minBackoffMs ?? 500, this.#options.maxBackoffMs ?? 30_000);
    this.#options.logger?.warn({ err, resource: this.resource.plural, retryInMs: delay }, 'informer stopped; restarting');
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => {
      void this.#run();
    }, delay);
  }

  /** Resolves when synced; rejects when `signal` aborts first. */
  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#syncWaiters.push(resolve);
      signal?.addEventListener('abort', () => {
        reject(new Error(`informer ${this.resource.plural} not synced before abort`));
      });
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    await this.#lw.stop();
  }
}
