import { hostname } from 'node:os';
import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Field paths pino replaces with "[Redacted]"; a secret must never reach a log line. */
export const REDACT_PATHS = [
  'password',
  'token',
  'secret',
  'authorization',
  '*.password',
  '*.token',
  '*.secret',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
  '*.secretAccessKey',
  '*.sessionToken',
  'credentials',
  '*.credentials',
];

export interface LoggerSettings {
  /**
   * The process or component name, bound as `component` (not pino's `name`: the objects a line is
   * about bind `namespace` and `name`, and JSON with a key twice loses one of them).
   */
  name: string;
  level?: string;
  /** A destination stream; default stdout. Tests pass their own to read lines back. */
  destination?: NodeJS.WritableStream;
}

/**
 * The one root logger of a process. JSON lines, errors under `err`, ISO times, secrets redacted.
 */
export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    base: { pid: process.pid, hostname: hostname(), component: settings.name },
    level: settings.level ?? 'info',
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[Redacted]' },
    serializers: { err: pino.stdSerializers.err },
    formatters: { level: (label) => ({ level: label }) },
  };
  return settings.destination ? pino(options, settings.destination) : pino(options);
}
