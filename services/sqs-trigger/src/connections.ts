import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import { queueArn, sqsSharedIdentityProblem, type IdentityGrants } from '@kubeless/api';
import { readTriggerSecret, type KubeClient } from '@kubeless/controller';
import type { Logger } from '@kubeless/observability';
import { SqsTriggerError, classifySqsError, safeEndpoint } from './errors.js';
import { queueNameOf, type QueueRef } from './plan.js';

/** Static credentials. Values are secrets: never log them. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** The keys a `credentialsSecret` holds (the AWS shared-credentials file's names). */
export const SECRET_KEYS = { accessKeyId: 'aws_access_key_id', secretAccessKey: 'aws_secret_access_key', sessionToken: 'aws_session_token' } as const;

/**
 * Reads the credentials of a `credentialsSecret`'s data (base64 values): `aws_access_key_id` and
 * `aws_secret_access_key` are required, `aws_session_token` optional. Throws a `SecretKeyMissing`
 * error naming the key, never a value.
 */
export function credentialsFromSecret(name: string, data: Record<string, string> | undefined): AwsCredentials {
  const get = (k: string): string | undefined => {
    const v = data?.[k];
    return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8').trim();
  };
  const accessKeyId = get(SECRET_KEYS.accessKeyId);
  const secretAccessKey = get(SECRET_KEYS.secretAccessKey);
  for (const [k, v] of [[SECRET_KEYS.accessKeyId, accessKeyId], [SECRET_KEYS.secretAccessKey, secretAccessKey]] as const) {
    if (!v) throw new SqsTriggerError('SecretKeyMissing', `Secret ${name} has no key ${k}`);
  }
  const sessionToken = get(SECRET_KEYS.sessionToken);
  return { accessKeyId: accessKeyId ?? '', secretAccessKey: secretAccessKey ?? '', ...(sessionToken ? { sessionToken } : {}) };
}

export interface ConnectionsOptions {
  client: KubeClient;
  logger: Logger;
  /** Sockets per SQS client: long polls hold one each, plus deletes and visibility changes. */
  maxSockets?: number;
  /** Credentials when a trigger names no Secret; undefined = the SDK's default provider chain (IRSA, Pod Identity, env). */
  defaultCredentials?: AwsCredentials | undefined;
  /** Which namespaces may use the default credentials, for which queues (checked on every resolved queue URL). */
  grants: IdentityGrants;
}

/**
 * SQS clients shared by every receiver with the same region, endpoint and credentials. A trigger's
 * `credentialsSecret` is read from the API server when a receiver starts or status is observed
 * (only the Secrets triggers name: least privilege). Status uses separate clients that try once
 * with short timeouts, so an outage shows fast.
 */
export class Connections {
  readonly #client: KubeClient;
  readonly #logger: Logger;
  readonly #maxSockets: number;
  readonly #defaultCredentials: AwsCredentials | undefined;
  readonly #grants: IdentityGrants;
  readonly #clients = new Map<string, SQSClient>();

  constructor(o: ConnectionsOptions) {
    this.#client = o.client;
    this.#logger = o.logger;
    this.#maxSockets = o.maxSockets ?? 256;
    this.#defaultCredentials = o.defaultCredentials;
    this.#grants = o.grants;
  }

  /** The credentials of a queue: its Secret's, or the controller's (undefined: the default chain). Throws SecretNotFound / SecretKeyMissing. */
  async credentials(namespace: string, q: QueueRef): Promise<AwsCredentials | undefined> {
    if (q.credentials === 'shared' || !q.credentialsSecret) return this.#defaultCredentials;
    const data = await readTriggerSecret(
      this.#client,
      { namespace, name: q.credentialsSecret, controller: 'sqs-trigger', grantValue: 'sqsTrigger.rbac.secrets' },
      (reason, message, cause) => new SqsTriggerError(reason, message, { cause }),
    );
    return credentialsFromSecret(q.credentialsSecret, data);
  }

  /** A client for the queue (`status`: one attempt, short timeouts). */
  async get(namespace: string, q: QueueRef, kind: 'receive' | 'status' = 'receive'): Promise<SQSClient> {
    const creds = await this.credentials(namespace, q);
    const key = createHash('sha256').update(JSON.stringify([kind, q.region, q.endpoint ?? '', creds ?? null])).digest('hex');
    let c = this.#clients.get(key);
    if (!c) {
      const agentOptions = { keepAlive: true, maxSockets: kind === 'status' ? 8 : this.#maxSockets };
      c = new SQSClient({
        region: q.region,
        ...(q.endpoint ? { endpoint: q.endpoint } : {}),
        ...(creds ? { credentials: creds } : {}),
        maxAttempts: kind === 'status' ? 1 : 3,
        // A long poll waits up to 20 s: the request timeout must be longer.
        requestHandler: {
          connectionTimeout: kind === 'status' ? 2000 : 5000,
          requestTimeout: kind === 'status' ? 5000 : 30_000,
          httpAgent: new http.Agent(agentOptions),
          httpsAgent: new https.Agent(agentOptions),
        },
      });
      this.#clients.set(key, c);
      // Never the endpoint's userinfo or query string (they may hold credentials).
      this.#logger.debug({ region: q.region, endpoint: safeEndpoint(q.endpoint), kind }, 'sqs client created');
    }
    return c;
  }

  /** The URL of `nameOrUrl` (a URL is returned as is). Throws a classified SqsTriggerError. */
  async queueUrl(client: SQSClient, nameOrUrl: string, signal?: AbortSignal): Promise<string> {
    if (/^https?:\/\//u.test(nameOrUrl)) return nameOrUrl;
    try {
      const out = await client.send(new GetQueueUrlCommand({ QueueName: queueNameOf(nameOrUrl) }), { abortSignal: signal });
      if (!out.QueueUrl) throw new SqsTriggerError('QueueNotFound', `queue ${nameOrUrl} does not exist`);
      return out.QueueUrl;
    } catch (err) {
      throw classifySqsError(err, `queue ${nameOrUrl}`);
    }
  }

  /**
   * The URL of the trigger's queue (`role: 'queue'`) or dead-letter queue, resolved as queueUrl
   * does, and, with the controller's identity, checked against the namespace's grants before it
   * is used for anything: throws a non-retriable SqsTriggerError (SharedIdentityNotGranted,
   * QueueNotGranted, DeadLetterQueueNotGranted) when it is not granted.
   */
  async resolve(client: SQSClient, namespace: string, q: QueueRef, role: 'queue' | 'deadLetter', nameOrUrl: string, signal?: AbortSignal): Promise<string> {
    const url = await this.queueUrl(client, nameOrUrl, signal);
    if (q.credentials !== 'shared') return url;
    const id = { url, arn: queueArn(url, q.region) };
    const problem = role === 'queue' ? sqsSharedIdentityProblem(this.#grants, namespace, id, undefined) : sqsSharedIdentityProblem(this.#grants, namespace, undefined, id);
    if (problem) throw new SqsTriggerError(problem.reason as 'QueueNotGranted', problem.message, { retriable: false });
    return url;
  }

  close(): void {
    for (const c of this.#clients.values()) c.destroy();
    this.#clients.clear();
  }
}
