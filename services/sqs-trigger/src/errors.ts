/**
 * Why an SQS connection or queue could not be used. `code` is stable (status reasons, greps);
 * `retriable` says whether trying again later may help (a missing Secret may be created, a queue
 * may appear, an endpoint may come back: all are).
 */
export type SqsTriggerErrorCode =
  | 'SecretNotFound'
  | 'SecretForbidden'
  | 'SecretKeyMissing'
  | 'QueueNotFound'
  | 'Unreachable'
  | 'AccessDenied'
  | 'SqsError'
  /** Tenancy: the controller's identity is not granted to the namespace for this queue (or dead letter). */
  | 'SharedIdentityNotGranted'
  | 'QueueNotGranted'
  | 'DeadLetterQueueNotGranted';

/** The codes of a tenancy refusal (status condition Authorized). */
export const NOT_GRANTED_CODES: ReadonlySet<string> = new Set(['SharedIdentityNotGranted', 'QueueNotGranted', 'DeadLetterQueueNotGranted']);

export class SqsTriggerError extends Error {
  override readonly name = 'SqsTriggerError';
  readonly code: SqsTriggerErrorCode;
  readonly retriable: boolean;

  constructor(code: SqsTriggerErrorCode, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    this.retriable = options.retriable ?? true;
  }
}

const MISSING = new Set(['QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue', 'NonExistentQueue']);
const DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'InvalidClientTokenId', 'SignatureDoesNotMatch', 'UnrecognizedClientException', 'ExpiredToken', 'CredentialsProviderError']);

/**
 * Classifies an error of an SQS call (or of reading credentials) into an SqsTriggerError:
 * the queue does not exist, credentials were refused or are missing, the endpoint did not answer
 * (no HTTP status: connection refused, DNS, timeout), or anything else SQS said.
 */
export function classifySqsError(err: unknown, what: string): SqsTriggerError {
  if (err instanceof SqsTriggerError) return err;
  const e = err as { name?: unknown; message?: unknown; $metadata?: { httpStatusCode?: number } };
  const name = typeof e.name === 'string' ? e.name : '';
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (MISSING.has(name)) return new SqsTriggerError('QueueNotFound', `${what} does not exist`, { cause: err });
  if (DENIED.has(name)) return new SqsTriggerError('AccessDenied', `${what}: credentials refused or missing (${name}: ${message})`, { cause: err });
  if (e.$metadata?.httpStatusCode === undefined) return new SqsTriggerError('Unreachable', `${what}: endpoint unreachable (${message})`, { cause: err });
  return new SqsTriggerError('SqsError', `${what}: ${name}: ${message}`, { cause: err });
}
