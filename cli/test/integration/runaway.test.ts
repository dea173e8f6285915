/**
 * Runaway code ends in the timeout answer (issue 19), as a user sees it: a function stuck in
 * synchronous code, deployed with `--timeout 4`, makes `kubeless function call` print a timeout
 * error within 7 s (the 4 s timeout, the CLI's own start and the API server's proxy: 6.3 s once on a
 * busy CI node), and the next normal call succeeds within 5 s after that: Node.js `while (true)
 * {}`, and Python code that swallows the runtime's timeout exception (a bare `except`).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { withNamespace } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeless, kubelessOk, startFunctionController } from './helpers.js';

let ns: { name: string; cleanup: () => Promise<void> };
let ctrl: ReturnType<typeof startFunctionController>;
const dir = mkdtempSync(path.join(tmpdir(), 'kubeless-runaway-'));

beforeAll(async () => {
  ns = await withNamespace('cli-runaway');
  ctrl = startFunctionController(ns.name);
});
afterAll(async () => {
  await ctrl.stop();
  await ns.cleanup();
});

const cases = [
  {
    runtime: 'nodejs22',
    file: 'spin.js',
    handler: 'spin.foo',
    code: "module.exports = { foo: (event) => { if (event.data === 'loop') { while (true) {} } return 'served' } }\n",
  },
  {
    runtime: 'python3.11',
    file: 'spin.py',
    handler: 'spin.foo',
    // The runtime's timeout exception is raised inside the inner loop and swallowed there.
    code: "def foo(event, context):\n    if event['data'] == 'loop':\n        while True:\n            try:\n                while True:\n                    pass\n            except BaseException:\n                pass\n    return 'served'\n",
  },
];

// The two runtimes side by side: the serial project leaves the machine to this file (22 s -> 15 s).
describe('runaway code with --timeout 4', () => {
  for (const c of cases) {
    it.concurrent(`${c.runtime}: the call gets a timeout error within 7 s, and the next call is served within 5 s`, async () => {
      const file = path.join(dir, c.file);
      writeFileSync(file, c.code);
      const name = `spin-${c.runtime.replace(/[^a-z0-9]/gu, '')}`;
      await kubelessOk(['function', 'deploy', name, '--from-file', file, '--handler', c.handler, '--runtime', c.runtime, '--timeout', '4', '-n', ns.name, '--wait', '--wait-timeout', '90s']);
      expect(await kubelessOk(['function', 'call', name, '--data', 'warm', '-n', ns.name])).toContain('served');

      const started = Date.now();
      const stuck = await kubeless(['function', 'call', name, '--data', 'loop', '-n', ns.name]);
      const took = Date.now() - started;
      expect(stuck.code).not.toBe(0);
      expect(`${stuck.stdout}${stuck.stderr}`).toMatch(/time ?out|timed out|408/iu);
      expect(took).toBeLessThan(7000);

      const next = Date.now();
      let served = '';
      while (Date.now() - next < 5000) {
        const r = await kubeless(['function', 'call', name, '--data', 'again', '-n', ns.name]);
        if (r.code === 0) {
          served = r.stdout;
          break;
        }
        await new Promise((r2) => setTimeout(r2, 200));
      }
      expect(served).toContain('served');
      expect(Date.now() - next).toBeLessThan(5000);
    }, 150_000);
  }
});
