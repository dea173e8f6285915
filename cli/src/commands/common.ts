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

export function addDryRun(cmd: Command): Command {
  return cmd.option('--dryrun', 'print the object instead of sending it').option('-o, --output <format>', 'dry-run output: yaml or json', 'yaml');
}

/** Waits for `path` to be Ready when `--wait` was given. */
export async function maybeWait(app: App, cmd: Command, what: string, path: string, opts: { wait?: boolean; waitTimeout?: string }): Promise<void> {
  if (!opts.wait) return;
  const client = (await app.cluster(cmd)).client;
  await waitReady({ what, get: () => client.get(path), out: app.out, timeoutMs: parseWaitTimeout('wait-timeout', opts.waitTimeout ?? '5m') });
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
