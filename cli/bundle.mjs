/**
 * Bundles the `kubeless` command into one file, dist/kubeless.mjs: the tsc build of src/main.ts
 * (`tsc -b` first; `npm run bundle` does both, and `npm pack` runs it as prepack) with everything it
 * imports (commander, yaml, kafkajs, @kubernetes/client-node, the @kubeless/* libraries), so the
 * packed package has no dependencies and needs only Node.js (package.json `engines`). The
 * version is written in (`KUBELESS_CLI_VERSION`), so the file runs on its own, from anywhere. The
 * repository's LICENSE is copied beside it for the package.
 *   node bundle.mjs
 */
import { chmodSync, copyFileSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const outfile = fileURLToPath(new URL('./dist/kubeless.mjs', import.meta.url));

await build({
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
});
chmodSync(outfile, 0o755);
// The project's licence travels with the packed CLI (npm packs a package's LICENSE whatever `files` says).
copyFileSync(new URL('../LICENSE', import.meta.url), new URL('./LICENSE', import.meta.url));
