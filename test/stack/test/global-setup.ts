/**
 * Vitest global setup of the integration project: reuse a stack that `npm run stack -- up`
 * started (same run folder), or else start one here and stop it afterwards. Either way this
 * process must run inside the stack's network namespace (the README's test command does that).
 */
import { currentNetns, defaultRunDir, down, status, up } from '../src/index.js';

export default async function setup(): Promise<() => Promise<void>> {
  const runDir = defaultRunDir();
  const s = await status(runDir);
  if (s.up) {
    process.stdout.write(`[stack] reusing the stack in ${runDir}\n`);
    return () => Promise.resolve();
  }
  if (currentNetns() === '') {
    throw new Error(
      'integration tests run inside the stack network namespace: use `npm test`, or `npm run stack -- up` then `npm run stack -- exec npx vitest run`',
    );
  }
  await up(runDir, { report: (l) => process.stdout.write(`[stack] ${l}\n`) });
  return async () => {
    await down(runDir, { report: (l) => process.stdout.write(`[stack] ${l}\n`) });
  };
}
