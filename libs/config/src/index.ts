/**
 * Typed configuration from the environment, read and validated once at start. No other module reads
 * `process.env` (an eslint rule enforces it; docs/architecture.md#conventions). A bad configuration
 * fails fast with every bad key listed in one `ConfigError`, never one key at a time.
 */
import { parseDuration, parseIdentityGrants } from '@kubeless/api';
import { z } from 'zod';

export { z };

/** Thrown by `loadConfig` with one line per bad key; `code` is stable for grepping. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'KUBELESS_CONFIG_INVALID';
  readonly retriable = false;
  constructor(readonly issues: string[]) {
    super(`invalid configuration:\n  ${issues.join('\n  ')}`);
  }
}

/** Builders for environment values, which always arrive as strings. */
export const env = {
  string: () => z.string(),
  /** An integer within [min, max]. */
  int: (min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER) =>
    z.coerce.number().int().min(min).max(max),
  /** true/false, 1/0, yes/no, on/off (case-insensitive). */
  bool: () =>
    z
      .string()
      .toLowerCase()
      .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off']))
      .transform((v) => ['true', '1', 'yes', 'on'].includes(v)),
  /** A Go duration (`500ms`, `10s`) as milliseconds. */
  duration: () =>
    z.string().transform((v, ctx) => {
      try {
        return parseDuration(v);
      } catch {
        // The message must not echo the value: the key may hold a secret.
        ctx.addIssue({ code: 'custom', message: 'must be a Go duration such as 500ms, 10s or 2m' });
        return z.NEVER;
      }
    }),
  /** A comma-separated list; blanks dropped. */
  list: () =>
    z.string().transform((v) =>
      v
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== ''),
    ),
  enum: <const T extends readonly [string, ...string[]]>(values: T) => z.enum(values),
  /** Shared identity grants (`tenancy.sharedIdentity` in the chart) as JSON; see `parseIdentityGrants`. */
  identityGrants: () =>
    z.string().transform((v, ctx) => {
      try {
        return parseIdentityGrants(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: err instanceof SyntaxError ? 'must be a JSON array of {namespace, topics, deadLetterTopics, queues, deadLetterQueues}' : (err as Error).message });
        return z.NEVER;
      }
    }),
};

export type ConfigShape = Record<string, z.ZodType>;
export type Config<S extends ConfigShape> = z.infer<z.ZodObject<S>>;

/**
 * Validates `source` (default `process.env`) against `shape`, whose keys are environment variable
 * names. Values are never echoed in errors, since a key may hold a secret.
 */
export function loadConfig<S extends ConfigShape>(shape: S, source: Record<string, string | undefined> = process.env): Config<S> {
  const picked: Record<string, string | undefined> = {};
  // An empty variable counts as unset, so `FOO=` falls back to the default.
  for (const key of Object.keys(shape)) picked[key] = source[key] === '' ? undefined : source[key];
  const result = z.object(shape).safeParse(picked);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  throw new ConfigError(issues);
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Settings every controller process shares. */
export const commonShape = {
  LOG_LEVEL: env.enum(LOG_LEVELS).default('info'),
  /** Port of the /healthz /readyz /metrics server; 0 picks a free one. */
  HEALTH_PORT: env.int(0, 65535).default(8081),
  HEALTH_HOST: env.string().default('0.0.0.0'),
  /** Path to a kubeconfig; empty means in-cluster or the default loading rules. */
  KUBECONFIG: env.string().optional(),
  /** Watch only this namespace; empty watches all. */
  WATCH_NAMESPACE: env.string().optional(),
  /** The namespace the controller runs in (for its Lease and Events). */
  POD_NAMESPACE: env.string().default('kubeless'),
  POD_NAME: env.string().optional(),
  LEADER_ELECT: env.bool().default(true),
};

/** Leader election: the Lease (`defaultName` unless LEASE_NAME says otherwise) and client-go's timings. */
export const leaseShape = (defaultName: string) => ({
  LEASE_NAME: env.string().default(defaultName),
  LEASE_DURATION: env.duration().prefault('15s'),
  LEASE_RENEW_DEADLINE: env.duration().prefault('10s'),
  LEASE_RETRY_PERIOD: env.duration().prefault('2s'),
});

/** mTLS to functions (the event triggers): CA, client certificate and key files (reloaded when they change). */
export const deliveryTlsShape = {
  DELIVERY_TLS_CA: env.string().optional(),
  DELIVERY_TLS_CERT: env.string().optional(),
  DELIVERY_TLS_KEY: env.string().optional(),
};

/**
 * The delivery client's TLS files from `deliveryTlsShape`, or undefined when none is set (plain
 * HTTP). Throws a ConfigError when only one of DELIVERY_TLS_CERT and DELIVERY_TLS_KEY is set.
 */
export function deliveryTlsFrom(config: Config<typeof deliveryTlsShape>): { caFile?: string | undefined; certFile?: string | undefined; keyFile?: string | undefined } | undefined {
  const { DELIVERY_TLS_CA: caFile, DELIVERY_TLS_CERT: certFile, DELIVERY_TLS_KEY: keyFile } = config;
  if ((certFile === undefined) !== (keyFile === undefined)) throw new ConfigError(['DELIVERY_TLS_CERT, DELIVERY_TLS_KEY: TLS client certificate and key must be given together']);
  return caFile ?? certFile ?? keyFile ? { caFile, certFile, keyFile } : undefined;
}

/** How an event trigger (kafka-, sqs-, cronjob-trigger) reaches and calls functions. */
export const deliveryShape = {
  /** EndpointSlice managers trusted beside the endpointslice controller (comma-separated; a service mesh's). */
  TRUSTED_ENDPOINTSLICE_MANAGERS: env.list().default([]),
  /** `service`: the function Service's DNS name; `endpointslice`: its ready endpoints directly. */
  ENDPOINT_MODE: env.enum(['service', 'endpointslice']).default('service'),
  CLUSTER_DOMAIN: env.string().default('cluster.local'),
  ...deliveryTlsShape,
  /** The largest event a trigger sends to a function. */
  MAX_EVENT_BYTES: env.int(1, 1 << 30).default(1024 * 1024),
};

/**
 * A trigger assembly's delivery settings from `deliveryShape` (the fields of @kubeless/delivery's
 * DeliverySettings). Throws a ConfigError as `deliveryTlsFrom` does.
 */
export function deliveryFrom(config: Config<typeof deliveryShape>): {
  endpointMode: 'service' | 'endpointslice';
  clusterDomain: string;
  trustedEndpointManagers: string[];
  deliveryTls: ReturnType<typeof deliveryTlsFrom>;
  maxEventBytes: number;
} {
  return {
    endpointMode: config.ENDPOINT_MODE,
    clusterDomain: config.CLUSTER_DOMAIN,
    trustedEndpointManagers: config.TRUSTED_ENDPOINTSLICE_MANAGERS,
    deliveryTls: deliveryTlsFrom(config),
    maxEventBytes: config.MAX_EVENT_BYTES,
  };
}
