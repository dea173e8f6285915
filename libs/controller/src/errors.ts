/**
 * Error classes of the controller kit. Reconcile code throws `TerminalError` to stop retrying and
 * mark the object not ready; anything else is retried with backoff.
 *
 * Every error class of the project has the same shape (docs/architecture.md#conventions, after undici and
 * fastify): `name`, its class name, which says its area (`ApiError`, `KubeconfigError`,
 * `DeliveryError`, `SqsTriggerError`, `KafkaTriggerError`, `ConfigError`, `CliError`); `code`,
 * stable and greppable, `KUBELESS_<AREA>_<WHAT>`; `retriable`; `cause` (the standard option) for the
 * error it wraps; and, when it ends up in a status condition or an Event, `reason`, the CamelCase
 * reason written there.
 * Bad user input (a spec, a Secret, a flag) is one of these, never a `TypeError` or `RangeError`:
 * those mean the code is wrong (`isBug`) and are not retried.
 */
export class TerminalError extends Error {
  override readonly name = 'TerminalError';
  readonly retriable = false;
  /**
   * @param reason CamelCase reason written to the Ready condition and the Event.
   */
  constructor(
    readonly reason: string,
    message: string,
    readonly code = 'KUBELESS_TERMINAL',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A kubeconfig the client cannot use: no current cluster (`KUBELESS_KUBECONFIG_NO_CLUSTER`), an
 * unknown context (`KUBELESS_KUBECONFIG_NO_CONTEXT`), a `proxy-url` it cannot tunnel through
 * (`KUBELESS_KUBECONFIG_PROXY`). Retrying does not help: the file has to change.
 */
export class KubeconfigError extends Error {
  override readonly name = 'KubeconfigError';
  readonly retriable = false;
  constructor(
    readonly code: 'KUBELESS_KUBECONFIG_NO_CLUSTER' | 'KUBELESS_KUBECONFIG_NO_CONTEXT' | 'KUBELESS_KUBECONFIG_PROXY',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A non-2xx answer of the API server, with the Status object it returned. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly code = 'KUBELESS_API_ERROR';
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly body: unknown,
    readonly method: string,
    readonly path: string,
  ) {
    super(`${method} ${path}: ${String(status)} ${reason}: ${message}`);
  }

  /** 4xx other than 408, 409 and 429 do not heal by retrying the same request. */
  get retriable(): boolean {
    return this.status >= 500 || this.status === 408 || this.status === 409 || this.status === 429 || this.status === 0;
  }
}

export const isNotFound = (err: unknown): boolean => err instanceof ApiError && err.status === 404;
export const isConflict = (err: unknown): boolean => err instanceof ApiError && err.status === 409;
export const isInvalid = (err: unknown): boolean => err instanceof ApiError && (err.status === 422 || err.status === 400);
export const isForbidden = (err: unknown): boolean => err instanceof ApiError && err.status === 403;

/** Bugs, never retried: a TypeError or RangeError means the code is wrong, not the world. */
export const isBug = (err: unknown): boolean => err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError;
