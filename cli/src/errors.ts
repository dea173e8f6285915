/**
 * Errors of the command line. A `CliError` is a user-facing failure (bad flag, missing object,
 * unsupported runtime); `errorLine` turns any error into the one line printed on stderr, keeping the
 * API server's own message (e.g. `functions.kubeless.io is forbidden: User "bob" cannot list ...`).
 */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly retriable = false;
  constructor(
    message: string,
    readonly code = 'KUBELESS_CLI_USAGE',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The single line (no trailing newline) that describes `err`, without the `Error: ` prefix. */
export function errorMessage(err: unknown): string {
  let message: string;
  if (isApiError(err)) {
    const body = err.body as { message?: unknown } | undefined;
    if (typeof body === 'object' && typeof body.message === 'string' && body.message !== '') message = body.message;
    else if (err.status === 0) message = `unable to reach the API server: ${stripApiPrefix(err.message)}`;
    else message = stripApiPrefix(err.message);
  } else if (err instanceof Error) {
    message = err.message;
  } else {
    message = String(err);
  }
  return message.replace(/\s*\n\s*/g, ' ').trim();
}

// ApiError messages read "<METHOD> <path>: <status> <reason>: <message>"; users want the message.
function stripApiPrefix(message: string): string {
  return message.replace(/^[A-Z]+ \S+: \d+ [^:]*: /, '');
}

/** An `ApiError` of @kubeless/controller, recognised without loading that package (it is heavy). */
export function isApiError(err: unknown): err is Error & { status: number; reason: string; body: unknown } {
  return err instanceof Error && err.name === 'ApiError' && typeof (err as { status?: unknown }).status === 'number';
}

export const apiStatus = (err: unknown): number | undefined => (isApiError(err) ? err.status : undefined);
