import { createHash } from 'node:crypto';
import { readTriggerSecret, type KubeClient } from '@kubeless/controller';
import type { Logger } from '@kubeless/observability';
import type { Admin, Producer } from 'kafkajs';
import { KafkaTriggerError } from './errors.js';
import { authFromSecret, createKafka, type KafkaAuth, type KafkaClient } from './kafka.js';
import type { ConnectionSpec } from './plan.js';
import { kafkajsPort } from './runner/kafkajs.js';
import type { KafkaPort } from './runner/port.js';
import { StatusAdmin } from './status-admin.js';

interface Connection {
  kafka: KafkaClient;
  port: ReturnType<typeof kafkajsPort>;
  producer: Promise<Producer> | undefined;
}

/**
 * Kafka clients shared by every consumer with the same brokers and credentials: one kafkajs client,
 * one dead-letter producer and one status admin per connection. A trigger's `authSecret` is read
 * from the API server when a consumer starts (only the Secrets triggers name: least privilege).
 * The controller's own credentials go only to a `shared` connection, which the plan gives only to
 * the controller's brokers for a granted namespace; a `none` connection has no SASL and no TLS
 * client certificate.
 */
export class Connections {
  readonly #client: KubeClient;
  readonly #defaultAuth: KafkaAuth;
  readonly #logger: Logger;
  readonly #clientId: string;
  readonly #byKey = new Map<string, Connection>();
  readonly #statusByKey = new Map<string, KafkaClient>();
  readonly #admins = new Map<string, Promise<{ admin: Admin; status: StatusAdmin }>>();
  readonly #statusCacheMs: number;

  /** `statusCacheMs`: how long the status reads that every trigger of a connection shares are kept (see StatusAdmin). */
  constructor(o: { client: KubeClient; defaultAuth: KafkaAuth; logger: Logger; clientId: string; statusCacheMs?: number | undefined }) {
    this.#client = o.client;
    this.#defaultAuth = o.defaultAuth;
    this.#logger = o.logger;
    this.#clientId = o.clientId;
    this.#statusCacheMs = o.statusCacheMs ?? 2000;
  }

  /** The auth of a connection: the controller's (`shared`), the trigger's Secret (`secret`) or none. Throws a KafkaTriggerError when the Secret is missing, forbidden or invalid. */
  async auth(namespace: string, c: ConnectionSpec): Promise<KafkaAuth> {
    if (c.credentials === 'shared') return this.#defaultAuth;
    if (c.credentials === 'none' || !c.authSecret) return {};
    const data = await readTriggerSecret(
      this.#client,
      { namespace, name: c.authSecret, controller: 'kafka-trigger', grantValue: 'kafkaTrigger.rbac.secrets', label: 'auth Secret' },
      (reason, message, cause) => new KafkaTriggerError(reason, message, { cause }),
    );
    try {
      return authFromSecret(data);
    } catch (err) {
      throw new KafkaTriggerError('SecretInvalid', `auth Secret ${c.authSecret} in namespace ${namespace}: ${(err as Error).message}`, { cause: err });
    }
  }

  #key(c: ConnectionSpec, auth: KafkaAuth): string {
    return createHash('sha256').update(JSON.stringify([c.brokers, auth])).digest('hex');
  }

  async get(namespace: string, c: ConnectionSpec): Promise<{ kafka: KafkaClient; port: KafkaPort; producer: () => Promise<Producer> }> {
    const auth = await this.auth(namespace, c);
    const key = this.#key(c, auth);
    let conn = this.#byKey.get(key);
    if (!conn) {
      const kafka = createKafka({ clientId: this.#clientId, brokers: c.brokers, auth, logger: this.#logger });
      conn = { kafka, port: kafkajsPort(kafka), producer: undefined };
      this.#byKey.set(key, conn);
    }
    const entry = conn;
    return {
      kafka: entry.kafka,
      port: entry.port,
      producer: () => {
        if (!entry.producer) {
          // Few retries of its own: the runner retries a dead letter with the trigger's backoff and
          // reports a partition whose dead letter keeps failing as Stalled (DeadLetterFailed).
          const p = entry.kafka.producer({ allowAutoTopicCreation: false, idempotent: false, retry: { retries: 2, initialRetryTime: 300, maxRetryTime: 2000 } });
          entry.producer = p.connect().then(() => p);
          entry.producer.catch(() => {
            entry.producer = undefined;
          });
        }
        return entry.producer;
      },
    };
  }

  /** An admin for status queries, connected: a client with one retry and short timeouts, so an outage shows fast. */
  async admin(namespace: string, c: ConnectionSpec): Promise<StatusAdmin> {
    const auth = await this.auth(namespace, c);
    const key = this.#key(c, auth);
    let kafka = this.#statusByKey.get(key);
    if (!kafka) {
      kafka = createKafka({ clientId: `${this.#clientId}-status`, brokers: c.brokers, auth, logger: this.#logger, retries: 1, connectionTimeoutMs: 2000, requestTimeoutMs: 5000 });
      this.#statusByKey.set(key, kafka);
    }
    let admin = this.#admins.get(key);
    if (!admin) {
      const a = kafka.admin();
      admin = a.connect().then(() => ({ admin: a, status: new StatusAdmin(a, this.#statusCacheMs) }));
      this.#admins.set(key, admin);
      admin.catch(() => this.#admins.delete(key));
    }
    return (await admin).status;
  }

  async close(): Promise<void> {
    for (const c of this.#byKey.values()) {
      await (await c.producer?.catch(() => undefined))?.disconnect().catch(() => undefined);
      await c.port.close();
    }
    for (const a of this.#admins.values()) await (await a.catch(() => undefined))?.admin.disconnect().catch(() => undefined);
    this.#byKey.clear();
    this.#admins.clear();
  }
}
