/**
 * What every command gets: the environment read once by main.ts, the output streams, and a lazily
 * opened connection to the API server (commands such as `version` never need one).
 */
import type { Command } from 'commander';
import { Cluster } from './cluster.js';
import { renderDocument, renderList } from './output.js';
import { CliError } from './errors.js';

export interface CliEnv {
  /** `KUBECONFIG`. */
  kubeconfig?: string;
  /** `KAFKA_BROKERS`, comma-separated. */
  kafkaBrokers?: string;
  /** `KUBELESS_NAMESPACE`: where kubeless-config lives (default `kubeless`). */
  configNamespace?: string;
}

export interface Stream {
  write: (s: string) => unknown;
  isTTY?: boolean;
}

export interface App {
  readonly env: CliEnv;
  readonly out: Stream;
  readonly err: Stream;
  readonly version: string;
  /** Connects with the global `--kubeconfig` / `--context` of `cmd`'s program. */
  cluster: (cmd: Command) => Promise<Cluster>;
  /** Closes what `cluster` opened. */
  close: () => void;
}

export function createApp(env: CliEnv, out: Stream, err: Stream, version: string): App {
  let opened: Promise<Cluster> | undefined;
  let connected: Cluster | undefined;
  return {
    env,
    out,
    err,
    version,
    cluster(cmd) {
      if (opened) return opened;
      const g = cmd.optsWithGlobals<{ kubeconfig?: string; context?: string }>();
      opened = Cluster.connect({ kubeconfig: g.kubeconfig ?? env.kubeconfig, context: g.context, userAgent: `kubeless-cli/${version}` }).then((c) => (connected = c));
      return opened;
    },
    close() {
      connected?.close();
    },
  };
}

export type DocFormat = 'json' | 'yaml';

/** Checks `-o` against what the command accepts. */
export function outputFormat<T extends string>(value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined || value === '') return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new CliError(`--output: "${value}" is not one of ${allowed.join(', ')}`);
  return value as T;
}

export function printDoc(app: App, format: DocFormat, data: unknown): void {
  app.out.write(renderDocument(format, data));
}

export function printList(app: App, format: DocFormat, items: unknown[]): void {
  app.out.write(renderList(format, items));
}
