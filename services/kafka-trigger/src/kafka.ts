import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '@kubeless/observability';
import kafkajs, { type KafkaConfig, type SASLOptions } from 'kafkajs';
import { KafkaTriggerError } from './errors.js';
import { mendKafkajsIdleLoop } from './kafkajs-idle-fix.js';
import { mendKafkajsOffsetReset } from './kafkajs-offset-reset.js';
import { mendKafkajsPausedFetch } from './kafkajs-paused-fetch.js';

const { Kafka, logLevel: KafkaLogLevel } = kafkajs;
export type KafkaClient = InstanceType<typeof Kafka>;

/** TLS and SASL for one Kafka connection. Values are secrets: never log them. */
export interface KafkaAuth {
  tls?: { ca?: string; cert?: string; key?: string; rejectUnauthorized: boolean } | undefined;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string } | undefined;
}

const MECHANISMS = new Set(['plain', 'scram-sha-256', 'scram-sha-512']);

/**
 * Reads a per-trigger auth Secret (`KafkaTriggerSpec.authSecret`): keys `sasl.mechanism` (plain,
 * scram-sha-256, scram-sha-512), `username`, `password`, and for TLS `ca.crt`, `tls.crt`,
 * `tls.key`, `tls` ("true", any case, turns TLS on without a client certificate; anything but
 * true/false is refused rather than silently read as plaintext). Throws a KafkaTriggerError
 * (SecretInvalid) that names the bad key, never a value.
 */
export function authFromSecret(data: Record<string, string> | undefined): KafkaAuth {
  const get = (k: string): string | undefined => {
    const v = data?.[k];
    return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
  };
  const auth: KafkaAuth = {};
  const mechanism = get('sasl.mechanism')?.toLowerCase();
  if (mechanism !== undefined) {
    if (!MECHANISMS.has(mechanism)) throw new KafkaTriggerError('SecretInvalid', 'sasl.mechanism must be one of plain, scram-sha-256, scram-sha-512');
    const username = get('username');
    const password = get('password');
    if (username === undefined || password === undefined) throw new KafkaTriggerError('SecretInvalid', 'sasl needs the keys username and password');
    auth.sasl = { mechanism: mechanism as 'plain', username, password };
  }
  const ca = get('ca.crt');
  const cert = get('tls.crt');
  const key = get('tls.key');
  if ((cert === undefined) !== (key === undefined)) throw new KafkaTriggerError('SecretInvalid', 'tls.crt and tls.key must be given together');
  const tlsFlag = get('tls')?.trim().toLowerCase();
  if (tlsFlag !== undefined && !['true', 'false', ''].includes(tlsFlag)) throw new KafkaTriggerError('SecretInvalid', 'tls must be "true" or "false"');
  if (ca !== undefined || cert !== undefined || tlsFlag === 'true') {
    auth.tls = { rejectUnauthorized: true, ...(ca === undefined ? {} : { ca }), ...(cert === undefined ? {} : { cert }), ...(key === undefined ? {} : { key }) };
  }
  return auth;
}

/** The controller's own broker settings (the process's environment, see main.ts). */
export interface KafkaEnv {
  KAFKA_ENABLE_TLS: boolean;
  KAFKA_CACERTS?: string | undefined;
  KAFKA_CERT?: string | undefined;
  KAFKA_KEY?: string | undefined;
  KAFKA_INSECURE: boolean;
  KAFKA_ENABLE_SASL: boolean;
  KAFKA_SASL_MECHANISM: 'plain' | 'scram-sha-256' | 'scram-sha-512';
  KAFKA_USERNAME?: string | undefined;
  KAFKA_PASSWORD?: string | undefined;
  KAFKA_AUTH_DIR?: string | undefined;
}

/**
 * The controller's own Kafka auth, as the original's variables say: TLS from the files
 * KAFKA_CACERTS, KAFKA_CERT, KAFKA_KEY (KAFKA_ENABLE_TLS), SASL from KAFKA_USERNAME and
 * KAFKA_PASSWORD (KAFKA_ENABLE_SASL); a mounted Secret in KAFKA_AUTH_DIR (the keys of
 * `authSecret`) wins for what it holds. Reads the files synchronously, once at start; a bad
 * directory throws as `authFromSecret` does.
 */
export function authFromEnv(config: KafkaEnv): KafkaAuth {
  const auth: KafkaAuth = {};
  if (config.KAFKA_ENABLE_TLS) {
    const read = (p: string | undefined): string | undefined => (p === undefined ? undefined : readFileSync(p, 'utf8'));
    const ca = read(config.KAFKA_CACERTS);
    const cert = read(config.KAFKA_CERT);
    const key = read(config.KAFKA_KEY);
    auth.tls = { rejectUnauthorized: !config.KAFKA_INSECURE, ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
  }
  if (config.KAFKA_ENABLE_SASL) {
    auth.sasl = { mechanism: config.KAFKA_SASL_MECHANISM, username: config.KAFKA_USERNAME ?? '', password: config.KAFKA_PASSWORD ?? '' };
  }
  if (config.KAFKA_AUTH_DIR !== undefined) {
    const data: Record<string, string> = {};
    for (const key of ['sasl.mechanism', 'username', 'password', 'ca.crt', 'tls.crt', 'tls.key', 'tls']) {
      const file = path.join(config.KAFKA_AUTH_DIR, key);
      if (existsSync(file)) data[key] = readFileSync(file).toString('base64');
    }
    if (config.KAFKA_ENABLE_SASL && data['sasl.mechanism'] === undefined) data['sasl.mechanism'] = Buffer.from(config.KAFKA_SASL_MECHANISM).toString('base64');
    if (config.KAFKA_ENABLE_TLS) data.tls = Buffer.from('true').toString('base64');
    const fromDir = authFromSecret(data);
    if (fromDir.tls) auth.tls = { ...fromDir.tls, rejectUnauthorized: !config.KAFKA_INSECURE };
    if (fromDir.sasl) auth.sasl = fromDir.sasl;
  }
  return auth;
}

/** A kafkajs client; its log lines go to pino (kafkajs ERRORs during a broker restart are warnings for us). */
export function createKafka(options: { clientId: string; brokers: string[]; auth: KafkaAuth; logger: Logger; connectionTimeoutMs?: number; requestTimeoutMs?: number; retries?: number }): KafkaClient {
  mendKafkajsIdleLoop();
  mendKafkajsOffsetReset();
  mendKafkajsPausedFetch();
  // kafkajs's own module name (`Connection`, `Consumer`...) is not a Kubernetes namespace: its own key.
  const log = options.logger.child({ library: 'kafkajs' });
  const config: KafkaConfig = {
    clientId: options.clientId,
    brokers: options.brokers,
    connectionTimeout: options.connectionTimeoutMs ?? 3000,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    retry: { initialRetryTime: 300, retries: options.retries ?? 8, maxRetryTime: 10_000 },
    logLevel: KafkaLogLevel.WARN,
    logCreator: () => (entry) => {
      const { message, ...extra } = entry.log;
      const fields = { kafkajsModule: entry.namespace, ...pick(extra, ['groupId', 'broker', 'error', 'retryCount', 'retryTime']) };
      if (entry.level <= KafkaLogLevel.WARN) log.warn(fields, message);
      else log.debug(fields, message);
    },
  };
  if (options.auth.tls) config.ssl = { ...options.auth.tls };
  if (options.auth.sasl) config.sasl = { ...options.auth.sasl } as SASLOptions;
  return new Kafka(config);
}

function pick(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}
