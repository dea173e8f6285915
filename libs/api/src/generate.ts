/**
 * Writes helm/kubeless/crds/*.yaml from the kind definitions, or with --check exits 1 when the
 * committed files differ from what would be written (the CRD drift check). A command only: it
 * runs when it is the process's entry script, and the package index does not export it (the
 * library half is crd-drift.ts).
 *   node libs/api/dist/generate.js [--check] [--out <dir>]
 */
import { readdir, writeFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CRD_DIR, crdDrift } from './crd-drift.js';
import { renderCrdFiles } from './render.js';

async function main(argv: string[]): Promise<number> {
  const outIdx = argv.indexOf('--out');
  const dir = outIdx >= 0 && argv[outIdx + 1] ? path.resolve(argv[outIdx + 1] ?? '') : DEFAULT_CRD_DIR;
  if (argv.includes('--check')) {
    const drift = await crdDrift(dir);
    if (drift.length > 0) {
      process.stderr.write(`CRD drift in ${dir} (run npm run crds):\n  ${drift.join('\n  ')}\n`);
      return 1;
    }
    process.stdout.write(`CRDs in ${dir} match the generator\n`);
    return 0;
  }
  await mkdir(dir, { recursive: true });
  for (const f of await readdir(dir)) if (f.endsWith('.yaml')) await rm(path.join(dir, f));
  for (const [name, text] of renderCrdFiles()) await writeFile(path.join(dir, name), text);
  process.stdout.write(`wrote ${String(renderCrdFiles().size)} CRDs to ${dir}\n`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
