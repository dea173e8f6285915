/**
 * Runtime ids the server supports: `ID + version` of every entry of kubeless-config's
 * `runtime-images` (as the original kubeless's), or the built-in list (docs/architecture.md#runtimes) when the ConfigMap
 * or the key is absent, read by the function controller's parser (@kubeless/api). Pure: the caller
 * reads the ConfigMap.
 */
import { DEFAULT_RUNTIME_IDS, RUNTIME_IMAGES_KEY, endOfLifeHint, parseRuntimeImages, runtimeIds } from '@kubeless/api';
import { CliError } from './errors.js';

export { DEFAULT_RUNTIME_IDS };

export const CONFIG_NAMESPACE = 'kubeless';

export interface RuntimeList {
  ids: string[];
  /** Where the list comes from, for `get-server-config`. */
  source: 'config' | 'default';
  /** A parse problem, when the ConfigMap's list could not be read. */
  problem?: string;
}

/** Runtime ids from the ConfigMap's data: those the function controller serves (a list it cannot read means the built-in one). */
export function runtimeList(data: Record<string, string> | undefined): RuntimeList {
  const text = data?.[RUNTIME_IMAGES_KEY];
  if (text === undefined || text.trim() === '') return { ids: [...DEFAULT_RUNTIME_IDS], source: 'default' };
  try {
    return { ids: runtimeIds({ runtimes: parseRuntimeImages(text) }), source: 'config' };
  } catch (err) {
    return { ids: [...DEFAULT_RUNTIME_IDS], source: 'default', problem: `${RUNTIME_IMAGES_KEY}: ${(err as Error).message}` };
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
