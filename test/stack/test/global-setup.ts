/**
 * Vitest global setup of the integration projects: reuse a stack that `npm run stack -- up`
 * started (same run folder), or else start one here and stop it after the last project that
 * uses it. Either way this process must run inside the stack's network namespace (the README's
 * test command does that). Both integration projects name this file; vitest loads it once, so
 * the module state below makes them share one stack.
 */
import { currentNetns, defaultRunDir, down, status, up } from '../src/index.js';

let users = 0;
let started: Promise<boolean> | undefined;

async function start(runDir: string): Promise<boolean> {
  const s = await status(runDir);
  if (s.up) {
    process.stdout.write(`[stack] reusing the stack in ${runDir}\n`);
    return false;
  }
  if (currentNetns() === '') {
    throw new Error(
      'integration tests run inside the stack network namespace: use `npm test`, or `npm run stack -- up` then `npm run stack -- exec npx vitest run`',
    );
  }
  // `status` can call a loaded stack down (a slow health check) that `up` then finds running:
  // only a stack this run started is stopped at the end.
  const asked = Date.now();
  const state = await up(runDir, { report: (l) => process.stdout.write(`[stack] ${l}\n`) });
  return Date.parse(state.startedAt) >= asked - 1000;
}

export default async function setup(): Promise<() => Promise<void>> {
  const runDir = defaultRunDir();
  users++;
  const ours = await (started ??= start(runDir));
  return async () => {
    users--;
    if (ours && users === 0) await down(runDir, { report: (l) => process.stdout.write(`[stack] ${l}\n`) });
  };
}
