/** Pieces shared by the command modules: option collectors, namespace and wait flags, reads. */
import { KUBELESS_CONFIG_NAME } from '@kubeless/api';
import type { KubeObject } from '@kubeless/controller';
import type { Command } from 'commander';
import type { App } from '../app.js';
import { apiStatus, CliError } from '../errors.js';

const isNotFound = (err: unknown): boolean => apiStatus(err) === 404;
const isForbidden = (err: unknown): boolean => apiStatus(err) === 403;
import { parseWaitTimeout } from '../parse.js';
import { CONFIG_NAMESPACE, runtimeList, type RuntimeList } from '../runtimes.js';
import { corePath } from '../paths.js';
import { waitReady } from '../wait.js';

/** Commander collector for repeatable options. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function addNamespace(cmd: Command, what = 'the object'): Command {
  return cmd.option('-n, --namespace <namespace>', `namespace of ${what} (default: the current context's)`);
}

export function addWait(cmd: Command): Command {
  return cmd
    .option('--wait', 'wait until the object is Ready; on failure print the status reason and exit non-zero')
    .option('--wait-timeout <duration>', 'give up waiting after this long (e.g. 90s, 5m; 0: never)', '5m');
}

export const DRY_RUN_STRATEGIES = ['client', 'server', 'none'] as const;

/**
 * `--dryrun` (the original's spelling) and kubectl's `--dry-run[=client|server|none]`, with
 * `-o, --output` for what a dry run prints. Read them with `isDryRun`.
 */
export function addDryRun(cmd: Command): Command {
  return cmd
    .option('--dryrun', 'print the object instead of sending it (the same as --dry-run=client)')
    .option('--dry-run [strategy]', 'client: print the object instead of sending it (alone: client; server is not supported; none: send it)')
    .option('-o, --output <format>', 'dry-run output: yaml or json', 'yaml');
}

export interface DryRunFlags {
  /** `--dryrun`. */
  dryrun?: boolean;
  /** `--dry-run`: `true` when given without a value. */
  dryRun?: string | boolean;
  /** `-o`/`--output` (or `--out`) was typed, not defaulted. */
  outputGiven: boolean;
}

/**
 * Whether the command only prints its object. `--dry-run` alone or `=client` is `--dryrun`;
 * `=none` (or neither flag) sends the object; `=server` and other values are usage errors, and so
 * is `-o` without a dry run: the command would print its progress lines, not the format asked for,
 * so it refuses before anything is sent rather than ignore the flag. Pure.
 */
export function parseDryRun(f: DryRunFlags): boolean {
  let dry = f.dryrun === true;
  if (f.dryRun !== undefined) {
    const strategy = f.dryRun === true ? 'client' : String(f.dryRun);
    if (strategy === 'server') throw new CliError('--dry-run=server is not supported; use --dry-run=client to print the object without sending it');
    if (!(DRY_RUN_STRATEGIES as readonly string[]).includes(strategy)) throw new CliError(`--dry-run: "${strategy}" is not one of ${DRY_RUN_STRATEGIES.join(', ')} (write --dry-run=client)`);
    if (strategy === 'client') dry = true;
    else if (f.dryrun === true) throw new CliError('--dryrun and --dry-run=none contradict each other');
  }
  if (!dry && f.outputGiven) throw new CliError('-o/--output prints the object of a dry run only: add --dry-run=client (nothing was sent)');
  return dry;
}

/** `parseDryRun` on the options of `cmd` (one made with `addDryRun`). */
export function isDryRun(cmd: Command): boolean {
  const o = cmd.opts<{ dryrun?: boolean; dryRun?: string | boolean; out?: string }>();
  return parseDryRun({ dryrun: o.dryrun, dryRun: o.dryRun, outputGiven: cmd.getOptionValueSource('output') === 'cli' || o.out !== undefined });
}

/** Waits for `path` to be Ready when `--wait` was given; progress goes to stderr. */
export async function maybeWait(app: App, cmd: Command, what: string, path: string, opts: { wait?: boolean; waitTimeout?: string }): Promise<void> {
  if (!opts.wait) return;
  const client = (await app.cluster(cmd)).client;
  await waitReady({ what, get: () => client.get(path), progress: app.err, timeoutMs: parseWaitTimeout('wait-timeout', opts.waitTimeout ?? '5m') });
}

/** GET that turns a 404 into a clear "not found" error naming the namespace. */
export async function getOrExplain<T extends KubeObject>(app: App, cmd: Command, path: string, what: string, namespace: string): Promise<T> {
  try {
    return await (await app.cluster(cmd)).client.get<T>(path);
  } catch (err) {
    if (isNotFound(err)) throw new CliError(`${what} not found in namespace "${namespace}"`, 'KUBELESS_CLI_NOT_FOUND', { cause: err });
    throw err;
  }
}

/** Full update with a retry when someone else changed the object in between. */
export async function replaceWithRetry<T extends KubeObject>(app: App, cmd: Command, path: string, change: (current: T) => T): Promise<T> {
  const client = (await app.cluster(cmd)).client;
  for (let attempt = 0; ; attempt++) {
    const next = change(await client.get<T>(path));
    try {
      return await client.replace<T>(path, next);
    } catch (err) {
      if (apiStatus(err) !== 409 || attempt >= 4) throw err;
    }
  }
}

/**
 * Supported runtimes from kubeless-config; an absent ConfigMap means the built-in list.
 * `check` (deploy, update): a ConfigMap the user may not read also means the built-in list (the
 * controller validates again), and with `lenient` (dry runs) so does any other failure, with a
 * warning. `show` (get-server-config): only absence falls back.
 */
export async function readRuntimes(app: App, cmd: Command, configNamespace = app.env.configNamespace ?? CONFIG_NAMESPACE, mode: 'check' | 'show' = 'check', lenient = false): Promise<RuntimeList> {
  try {
    const cm = await (await app.cluster(cmd)).client.get<KubeObject & { data?: Record<string, string> }>(corePath('configmaps', configNamespace, KUBELESS_CONFIG_NAME));
    return runtimeList(cm.data);
  } catch (err) {
    if (isNotFound(err) || (mode === 'check' && isForbidden(err))) return runtimeList(undefined);
    if (mode === 'show') throw err;
    if (!lenient) throw err;
    app.err.write(`Warning: cannot read ${configNamespace}/${KUBELESS_CONFIG_NAME}, checking the runtime against the built-in list\n`);
    return runtimeList(undefined);
  }
}
