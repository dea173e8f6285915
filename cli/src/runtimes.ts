/**
 * Runtime ids the server supports: `ID + version` of every entry of kubeless-config's
 * `runtime-images` (reference/kubeless.md §3.6), or the built-in list (SPEC §5) when the ConfigMap
 * or the key is absent. Pure: the caller reads the ConfigMap.
 */
import { endOfLifeHint } from '@kubeless/api';
import { parse } from 'yaml';
import { CliError } from './errors.js';

/** The runtimes kubeless ships (SPEC §5: no Node.js 20, past its end of life); the chart writes the same into kubeless-config. */
export const DEFAULT_RUNTIME_IDS: readonly string[] = ['nodejs22', 'nodejs24', 'nodejs26', 'python3.11', 'python3.12', 'python3.13'];

export const CONFIG_MAP = 'kubeless-config';
export const CONFIG_NAMESPACE = 'kubeless';

export interface RuntimeList {
  ids: string[];
  /** Where the list comes from, for `get-server-config`. */
  source: 'config' | 'default';
  /** A parse problem, when the ConfigMap's list could not be read. */
  problem?: string;
}

/** Runtime ids from the ConfigMap's data; keys are matched case-insensitively, as Go did. */
export function runtimeList(data: Record<string, string> | undefined): RuntimeList {
  const text = data?.['runtime-images'];
  if (text === undefined || text.trim() === '') return { ids: [...DEFAULT_RUNTIME_IDS], source: 'default' };
  try {
    const parsed = parse(text) as unknown;
    if (!Array.isArray(parsed)) throw new Error('runtime-images is not a list');
    const ids = parsed.flatMap((family: unknown) => {
      const f = lowerKeys(family);
      const id = scalar(f.id);
      const versions = Array.isArray(f.versions) ? (f.versions as unknown[]) : [];
      return versions.map((v) => `${id}${scalar(lowerKeys(v).version)}`);
    });
    return { ids, source: 'config' };
  } catch (err) {
    return { ids: [...DEFAULT_RUNTIME_IDS], source: 'default', problem: (err as Error).message };
  }
}

/**
 * Throws a `CliError` listing the supported ids when `runtime` is not one of them; for an id past
 * its end of life (`nodejs20`, `python2.7`) the message also says so and names the id to use.
 */
export function checkRuntime(runtime: string, ids: readonly string[]): void {
  if (!ids.includes(runtime)) {
    throw new CliError(`runtime "${runtime}" is not supported${endOfLifeHint(runtime, ids)}; supported runtimes are: ${ids.join(', ')}`, 'KUBELESS_CLI_RUNTIME');
  }
}

function lowerKeys(o: unknown): Record<string, unknown> {
  if (typeof o !== 'object' || o === null) return {};
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k.toLowerCase(), v]));
}

function scalar(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' ? String(v) : '';
}
