/**
 * Why an SQS connection or queue could not be used: the reason of the status condition it shows
 * in. `retriable` says whether trying again later may help (a missing Secret may be created, a
 * queue may appear, an endpoint may come back: all are).
 */
export type SqsTriggerReason =
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

/** The reasons of a tenancy refusal (status condition Authorized). */
export const NOT_GRANTED_REASONS: ReadonlySet<string> = new Set(['SharedIdentityNotGranted', 'QueueNotGranted', 'DeadLetterQueueNotGranted']);

/**
 * An SQS trigger failure. Its `message` (and its `cause`, as far as it comes from SQS) is safe for
 * status conditions, which every `view` user reads, and for logs at any level: AWS ARNs and
 * account ids are redacted, and an answer that is not SQS's is never quoted (a trigger's own
 * endpoint could point anywhere). The error as SQS or the SDK gave it is `raw`, for debug logs
 * only; it is not enumerable, so a logged SqsTriggerError never carries it.
 */
export class SqsTriggerError extends Error {
  override readonly name = 'SqsTriggerError';
  readonly reason: SqsTriggerReason;
  /** `KUBELESS_SQS_` and the reason in upper snake case: `KUBELESS_SQS_QUEUE_NOT_FOUND`, `KUBELESS_SQS_ERROR`, ... */
  readonly code: string;
  readonly retriable: boolean;
  declare readonly raw: unknown;

  constructor(reason: SqsTriggerReason, message: string, options: { retriable?: boolean; cause?: unknown; raw?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.code = `KUBELESS_SQS_${reason.replace(/^Sqs/u, '').replace(/(?<=.)[A-Z]/gu, (c) => `_${c}`).toUpperCase()}`;
    this.retriable = options.retriable ?? true;
    Object.defineProperty(this, 'raw', { value: options.raw ?? options.cause, enumerable: false });
  }
}

const MISSING = new Set(['QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue', 'NonExistentQueue']);
const DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'InvalidClientTokenId', 'SignatureDoesNotMatch', 'UnrecognizedClientException', 'ExpiredToken', 'CredentialsProviderError']);

/**
 * Pure: `text` without AWS ARNs (`arn:aws:…`, any partition: a role or user ARN names the
 * controller's identity) and without 12-digit AWS account ids, for text that leaves the
 * controller's logs (status conditions, dead-letter attributes). A 12-digit run inside an
 * identifier (a message id's last UUID group) is not an account id.
 */
export function redactAws(text: string): string {
  return text.replace(/arn:aws[a-z-]*:[^\s"'`,;()<>[\]{}]*/gu, 'arn:aws:<redacted>').replace(/(?<![0-9A-Za-z-])[0-9]{12}(?![0-9A-Za-z-])/gu, '<account>');
}

/** Pure: an endpoint URL as it may be logged: no userinfo, no query string or fragment. */
export function safeEndpoint(endpoint: string | undefined): string | undefined {
  if (endpoint === undefined) return undefined;
  try {
    const u = new URL(endpoint);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '<invalid URL>';
  }
}

/** Error names the SQS service itself answers with (AWS error codes): their text is SQS's. */
function isServiceError(e: { name?: unknown; $fault?: unknown }, name: string): boolean {
  return (e.$fault === 'client' || e.$fault === 'server') && /^[A-Z][A-Za-z0-9.]+$/u.test(name) && name !== 'SyntaxError';
}

/**
 * Classifies an error of an SQS call (or of reading credentials) into an SqsTriggerError:
 * the queue does not exist, credentials were refused or are missing, the endpoint did not answer
 * (no HTTP status: connection refused, DNS, timeout), or anything else SQS said. The message is
 * redacted (redactAws); an answer that did not come from SQS (an HTML page, a proxy's JSON) is
 * described by its HTTP status only. The original error is `raw`.
 */
export function classifySqsError(err: unknown, what: string): SqsTriggerError {
  if (err instanceof SqsTriggerError) return err;
  const e = err as { name?: unknown; message?: unknown; $fault?: unknown; $metadata?: { httpStatusCode?: number } };
  const name = typeof e.name === 'string' ? e.name : '';
  const message = redactAws(typeof e.message === 'string' ? e.message : String(err)).slice(0, 500);
  const safeWhat = redactAws(what);
  const status = e.$metadata?.httpStatusCode;
  // A redacted copy as the cause: a logged error serialises its causes' messages.
  const cause = Object.assign(new Error(message), { name });
  if (MISSING.has(name)) return new SqsTriggerError('QueueNotFound', `${safeWhat} does not exist`, { raw: err });
  if (DENIED.has(name)) return new SqsTriggerError('AccessDenied', `${safeWhat}: credentials refused or missing (${name}: ${message})`, { cause, raw: err });
  if (status === undefined) return new SqsTriggerError('Unreachable', `${safeWhat}: endpoint unreachable (${message})`, { cause, raw: err });
  if (!isServiceError(e, name)) return new SqsTriggerError('SqsError', `${safeWhat}: the endpoint answered HTTP ${String(status)} with something that is not an SQS answer`, { raw: err });
  return new SqsTriggerError('SqsError', `${safeWhat}: ${name}: ${message}`, { cause, raw: err });
}
