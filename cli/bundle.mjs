/**
 * Bundles the `kubeless` command into one file, dist/kubeless.mjs: the tsc build of src/main.ts
 * (`tsc -b` first; `npm run bundle` does both, and `npm pack` runs it as prepack) with everything it
 * imports (commander, yaml, kafkajs, @kubernetes/client-node, the @kubeless/* libraries), so the
 * packed package has no dependencies and needs only Node.js (package.json `engines`). The
 * version is written in (`KUBELESS_CLI_VERSION`), so the file runs on its own, from anywhere. The
 * repository's LICENSE is copied beside it for the package, and the licences of the bundled npm
 * packages are written to dist/THIRD-PARTY-LICENSES.txt.
 *   node bundle.mjs
 */
import { chmodSync, copyFileSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = fileURLToPath(new URL('.', import.meta.url));
const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const outfile = fileURLToPath(new URL('./dist/kubeless.mjs', import.meta.url));
const noticesFile = fileURLToPath(new URL('./dist/THIRD-PARTY-LICENSES.txt', import.meta.url));

const { metafile } = await build({
  entryPoints: [fileURLToPath(new URL('./dist/main.js', import.meta.url))],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  // 2.6 MB instead of 5.5; class names kept: commander names its errors after their class.
  minify: true,
  keepNames: true,
  // The licence comments of the bundled packages, at the end of the file.
  legalComments: 'eof',
  define: { KUBELESS_CLI_VERSION: JSON.stringify(pkg.version) },
  banner: {
    js: [
      '#!/usr/bin/env node',
      // CommonJS packages inside an ES module bundle still call require() for Node's builtins.
      "import { createRequire as __kubelessCreateRequire } from 'node:module';",
      'const require = __kubelessCreateRequire(import.meta.url);',
    ].join('\n'),
  },
  logLevel: 'warning',
  // Its inputs, relative to this folder: the bundled packages' licences are collected from them.
  metafile: true,
  absWorkingDir: here,
});
chmodSync(outfile, 0o755);
// The project's licence travels with the packed CLI (npm packs a package's LICENSE whatever `files` says).
copyFileSync(new URL('../LICENSE', import.meta.url), new URL('./LICENSE', import.meta.url));
writeFileSync(noticesFile, thirdPartyLicenses(Object.keys(metafile.inputs)));

/**
 * The licences of the npm packages bundled into the file (each package whose code esbuild read
 * from node_modules): name, version, declared licence and the package's own licence text. The
 * project's own libraries (@kubeless/*, from the workspace) are under its LICENSE.
 */
function thirdPartyLicenses(inputs) {
  const roots = new Set();
  for (const input of inputs) {
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//u.exec(input.replaceAll('\\', '/'));
    if (m?.[1]) roots.add(m[1]);
  }
  const sections = [...roots]
    .map((root) => {
      const dir = path.resolve(here, root);
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
      const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.(md|txt))?$/iu.test(f));
      const text = file ? readFileSync(path.join(dir, file), 'utf8').trim() : `(the package has no licence file; its package.json declares ${String(pkg.license ?? 'no licence')})`;
      return { id: `${pkg.name}@${pkg.version}`, license: String(pkg.license ?? 'unknown'), text };
    })
    .sort((a, b) => a.id.localeCompare(b.id));
  const head = `The kubeless CLI bundle (dist/kubeless.mjs) contains these npm packages, under their own licences:\n\n${sections.map((x) => `  ${x.id} (${x.license})`).join('\n')}\n`;
  return [head, ...sections.map((x) => `${'='.repeat(78)}\n${x.id} (${x.license})\n${'='.repeat(78)}\n\n${x.text}\n`)].join('\n');
}
