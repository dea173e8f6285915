/**
 * Errors of the command line and the exit codes they end with. A `CliError` is a user-facing failure
 * (bad flag, missing object, unsupported runtime); `errorMessage` turns any error into the one line
 * printed on stderr, keeping the API server's own message (e.g. `functions.kubeless.io is forbidden:
 * User "bob" cannot list ...`); `exitCodeOf` gives the exit code. This file is the only place that
 * maps errors to exit codes; README and `kubeless --help` show `EXIT_CODES`.
 */

/** The exit codes of `kubeless`; 2 for usage errors as in bash builtins, getopt tools and commander-style CLIs. */
export const EXIT = {
  ok: 0,
  /** Anything else: the API server refused (forbidden, conflict, invalid), a `--wait` saw the object fail, a call failed, a connection failed. */
  failed: 1,
  /** The command line is wrong whatever the cluster holds: unknown command or flag, missing argument, a bad flag value, an unreadable file given as a flag. */
  usage: 2,
  /** The object named on the command line does not exist (or its namespace does not). */
  notFound: 3,
  /** A time limit ran out: `--wait-timeout`, or no answer in time from the API server or the function. */
  timeout: 4,
} as const;

/** The exit-code table, in the words of `kubeless --help` and README. */
export const EXIT_CODES: readonly (readonly [code: number, meaning: string])[] = [
  [EXIT.ok, 'success'],
  [EXIT.failed, 'failed: the API server refused, the object failed while waiting, a call or connection failed'],
  [EXIT.usage, 'usage: unknown command or flag, missing argument, bad flag value'],
  [EXIT.notFound, 'not found: the named object (or its namespace) does not exist'],
  [EXIT.timeout, 'timed out: --wait-timeout ran out, or no answer in time'],
];

/** `Exit codes:` with one line per code, for the end of `kubeless --help`. */
export function exitCodesHelp(): string {
  return `\nExit codes:\n${EXIT_CODES.map(([code, meaning]) => `  ${String(code)}  ${meaning}`).join('\n')}\n`;
}

// The `code` of every CliError that does not end with `EXIT.failed`.
const EXIT_BY_CODE: Readonly<Record<string, number>> = {
  KUBELESS_CLI_USAGE: EXIT.usage,
  KUBELESS_CLI_RUNTIME: EXIT.usage,
  KUBELESS_CLI_NOT_FOUND: EXIT.notFound,
  KUBELESS_CLI_WAIT_TIMEOUT: EXIT.timeout,
  KUBELESS_CLI_TIMEOUT: EXIT.timeout,
  KUBELESS_CLI_CALL_TIMEOUT: EXIT.timeout,
};

/**
 * The exit code `err` ends the process with: a `CliError` by its `code` (usage by default), a
 * commander error as usage (0 for `--help` and `--version`), an API 404 as not found, anything else
 * as failed.
 */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CliError) return EXIT_BY_CODE[err.code] ?? EXIT.failed;
  if (isCommanderError(err)) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (isApiError(err)) return err.status === 404 ? EXIT.notFound : EXIT.failed;
  return EXIT.failed;
}

/** A commander `CommanderError` or `InvalidArgumentError` (thrown under `exitOverride`); its message is already on stderr. */
export function isCommanderError(err: unknown): err is Error & { code: string; exitCode: number } {
  const e = err as { code?: unknown; exitCode?: unknown };
  return err instanceof Error && typeof e.exitCode === 'number' && typeof e.code === 'string' && e.code.startsWith('commander.');
}

/** A user-facing failure; `code` (default `KUBELESS_CLI_USAGE`) decides the exit code (`exitCodeOf`). */
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
