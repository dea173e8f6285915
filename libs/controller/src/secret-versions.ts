import { createHash } from 'node:crypto';
import type { Logger } from '@kubeless/observability';
import { isForbidden, isNotFound } from './errors.js';
import type { KubeClient, KubeObject } from './kube-client.js';
import { objectPath, resourceByKind } from './resources.js';

type Handler = () => void;

interface Entry {
  version: string | undefined;
  /** When a caller last asked for it; Secrets nobody asks about for two intervals are dropped. */
  askedAt: number;
}

/**
 * The versions (a digest of the data) of the Secrets that triggers name, so a rotated Secret
 * changes the runner specs that use it and the runners reconnect with the new data. Triggers may
 * `get` only the Secrets the operator granted by name (no list, no watch), so this re-reads each
 * Secret in use every `intervalMs` (10 s by default) rather than watching. The digest is a
 * SHA-256 of the data, never the data: it may go into specs and logs.
 *
 * `version()` is undefined until the first read of a Secret (which it schedules at once);
 * `missing` / `forbidden` stand for a Secret that does not exist or may not be read, so its
 * appearance or a new grant changes the version too. A transient error keeps the last version.
 * Listeners of `update` (a Supervisor's source) hear of every change.
 */
export class SecretVersions {
  readonly #client: KubeClient;
  readonly #logger: Logger;
  readonly #intervalMs: number;
  readonly #entries = new Map<string, Entry>();
  readonly #handlers: Handler[] = [];
  #timer: NodeJS.Timeout | undefined;
  #reading: Promise<void> | undefined;
  #pending = false;

  constructor(o: { client: KubeClient; logger: Logger; intervalMs?: number }) {
    this.#client = o.client;
    this.#logger = o.logger;
    this.#intervalMs = o.intervalMs ?? 10_000;
  }

  /** The version of `namespace/name` as last read; undefined before the first read (scheduled now). */
  version(namespace: string, name: string): string | undefined {
    const key = `${namespace}/${name}`;
    const e = this.#entries.get(key);
    if (e) {
      e.askedAt = Date.now();
      return e.version;
    }
    this.#entries.set(key, { version: undefined, askedAt: Date.now() });
    this.#readSoon();
    return undefined;
  }

  /** Only `update` is ever emitted; the other events exist for the Supervisor's source shape. */
  on(event: 'add' | 'update' | 'delete', handler: Handler): void {
    if (event === 'update') this.#handlers.push(handler);
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      this.#readSoon();
    }, this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Resolves once no read is running or due (tests). */
  async settled(): Promise<void> {
    while (this.#reading) await this.#reading;
  }

  #readSoon(): void {
    if (this.#reading) {
      this.#pending = true;
      return;
    }
    this.#reading = this.#readAll().finally(() => {
      this.#reading = undefined;
      if (this.#pending) {
        this.#pending = false;
        this.#readSoon();
      }
    });
  }

  async #readAll(): Promise<void> {
    const now = Date.now();
    const changed: string[] = [];
    await Promise.all(
      [...this.#entries].map(async ([key, e]) => {
        if (now - e.askedAt > 2 * this.#intervalMs && e.version !== undefined) {
          this.#entries.delete(key);
          return;
        }
        const version = await this.#read(key);
        if (version === e.version) return;
        e.version = version;
        changed.push(key);
      }),
    );
    if (changed.length > 0) for (const h of this.#handlers) h();
  }

  async #read(key: string): Promise<string> {
    const [namespace = '', name = ''] = key.split('/');
    try {
      const secret = await this.#client.get<KubeObject & { data?: Record<string, string> }>(objectPath(resourceByKind('Secret'), namespace, name));
      const data = Object.entries(secret.data ?? {}).sort(([a], [b]) => a.localeCompare(b));
      return createHash('sha256').update(JSON.stringify(data)).digest('hex').slice(0, 16);
    } catch (err) {
      if (isNotFound(err)) return 'missing';
      if (isForbidden(err)) return 'forbidden';
      this.#logger.warn({ err, namespace, secret: name }, 'could not re-read a Secret; keeping its last version');
      return this.#entries.get(key)?.version ?? 'error';
    }
  }
}

/** Why a trigger's Secret could not be read: it does not exist, or the controller was not granted it. */
export type TriggerSecretProblem = 'SecretNotFound' | 'SecretForbidden';

/**
 * Reads the data of a Secret a trigger names in its own namespace, the only way trigger
 * controllers read Secrets (a `get` by name the operator granted: no list, no watch). A missing or
 * ungranted Secret becomes the caller's error (`fail`), with a message that says which chart value
 * grants it; any other failure is thrown as it came.
 */
export async function readTriggerSecret(
  client: KubeClient,
  o: { namespace: string; name: string; controller: string; grantValue: string; /** What the Secret is to the trigger, in the not-found message. Default `Secret`. */ label?: string },
  fail: (reason: TriggerSecretProblem, message: string, cause: unknown) => Error,
): Promise<Record<string, string> | undefined> {
  try {
    return (await client.get<KubeObject & { data?: Record<string, string> }>(objectPath(resourceByKind('Secret'), o.namespace, o.name))).data;
  } catch (err) {
    if (isNotFound(err)) throw fail('SecretNotFound', `${o.label ?? 'Secret'} ${o.name} does not exist in namespace ${o.namespace}`, err);
    if (isForbidden(err)) throw fail('SecretForbidden', `the ${o.controller} may not read Secret ${o.name} in namespace ${o.namespace}: grant it by name in the chart value ${o.grantValue}`, err);
    throw err;
  }
}
