/**
 * Entry point of the code preparation tool: `node dist/prepare.js`, the command of the function
 * pod's `prepare` init container (environment: config.ts `prepareShape`). Exits 0 when the code is
 * in the install volume, 1 with the reason on stderr otherwise.
 */
import { loadPrepareConfig } from './config.js';
import { prepareCode } from './prepare-code.js';

async function main(): Promise<void> {
  const config = loadPrepareConfig();
  await prepareCode(config, (line) => {
    process.stdout.write(`prepare: ${line}\n`);
  });
}

main().then(
  () => {
    process.exitCode = 0;
  },
  (err: unknown) => {
    const code = typeof err === 'object' && err !== null && 'code' in err ? ` [${String(err.code)}]` : '';
    process.stderr.write(`prepare failed${code}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
