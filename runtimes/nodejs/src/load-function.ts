/**
 * Loads the function from the install volume: `<dir>/<module>.js` as CommonJS (the original's
 * `module.exports = {handler}`), falling back to an ES module import when that file is ESM
 * (a `"type": "module"` package.json in the volume), then `<dir>/<module>.mjs` and `<dir>/<module>.cjs`.
 * `require` inside the function resolves from the function's directory, so `<dir>/node_modules`
 * (where the install step puts the deps) is found as usual.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FunctionHandler } from './function-types.js';

/** The function cannot be found or does not export the handler; the runtime exits at start. */
export class FunctionLoadError extends Error {
  override readonly name = 'FunctionLoadError';
  readonly code = 'KUBELESS_FUNCTION_LOAD_FAILED';
  readonly retriable = false;
}

function isRequireEsmError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ERR_REQUIRE_ESM';
}

function isContainer(value: unknown): value is Record<string, unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null;
}

/** The exported function bound to the object that exports it (so `this.helper()` works in it). */
function pickHandler(mod: unknown, name: string): FunctionHandler | undefined {
  if (!isContainer(mod)) return undefined;
  // An ES module with `export default {handler}`, or CommonJS seen through import(), nests it.
  for (const owner of [mod, mod.default]) {
    if (!isContainer(owner)) continue;
    const fn = owner[name];
    if (typeof fn === 'function') return (fn as FunctionHandler).bind(owner);
  }
  return undefined;
}

/** Resolves and loads the handler; throws `FunctionLoadError` with what was tried. */
export async function loadFunction(installDir: string, moduleName: string, handlerName: string): Promise<FunctionHandler> {
  const candidates = ['.js', '.mjs', '.cjs'].map((ext) => path.resolve(installDir, moduleName + ext));
  const file = candidates.find((f) => existsSync(f));
  if (file === undefined) {
    throw new FunctionLoadError(`function module ${moduleName} not found: tried ${candidates.join(', ')}`);
  }
  let mod: unknown;
  try {
    if (file.endsWith('.mjs')) {
      mod = await import(pathToFileURL(file).href);
    } else {
      try {
        mod = createRequire(file)(file);
      } catch (err) {
        if (!isRequireEsmError(err)) throw err;
        mod = await import(pathToFileURL(file).href);
      }
    }
  } catch (err) {
    throw new FunctionLoadError(`function module ${file} failed to load: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, {
      cause: err,
    });
  }
  const handler = pickHandler(mod, handlerName);
  if (handler === undefined) {
    throw new FunctionLoadError(`function module ${file} does not export a function named ${handlerName}`);
  }
  return handler;
}
