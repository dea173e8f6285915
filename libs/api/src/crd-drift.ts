/**
 * The CRD drift check as a library: where the chart's CRDs live and how they differ from the
 * generator's output. Apart from generate.ts (the command), so importing @kubeless/api never runs it.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderCrdFiles } from './render.js';

/** helm/kubeless/crds of this checkout (resolved from the built module). */
export const DEFAULT_CRD_DIR = fileURLToPath(new URL('../../../helm/kubeless/crds', import.meta.url));

/** Lists the differences between `dir` and the generated files; empty when in step. */
export async function crdDrift(dir: string = DEFAULT_CRD_DIR): Promise<string[]> {
  const want = renderCrdFiles();
  const problems: string[] = [];
  const have = new Set((await readdir(dir).catch(() => [])).filter((f) => f.endsWith('.yaml')));
  for (const [name, text] of want) {
    if (!have.has(name)) problems.push(`${name}: missing`);
    else if ((await readFile(path.join(dir, name), 'utf8')) !== text) problems.push(`${name}: differs from the generator`);
    have.delete(name);
  }
  for (const extra of have) problems.push(`${extra}: not produced by the generator`);
  return problems;
}
