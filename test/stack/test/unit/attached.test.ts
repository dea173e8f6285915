/**
 * Processes attached to a stack (the demo's controllers under --keep): recorded in the run folder,
 * listed by `status`, stopped by `stopAttached` and by `down` (here without a stack: real `sleep`
 * processes in a temporary run folder).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { attachProcesses, down, isAlive, readAttached, status, stopAttached } from '../../src/index.js';
import { startDaemon, stopDaemon } from '../../src/procs.js';

const dirs: string[] = [];
function runDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'kubeless-attached-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('attached processes', () => {
  it('are listed by status, stopped by name, and forgotten once stopped', async () => {
    const dir = runDir();
    const a = startDaemon('a', 'sleep', ['60'], { log: path.join(dir, 'a.log') });
    const b = startDaemon('b', 'sleep', ['61'], { log: path.join(dir, 'b.log') });
    await attachProcesses(dir, [a, b]);
    expect((await status(dir)).attached).toEqual([
      { name: 'a', pid: a.pid, alive: true },
      { name: 'b', pid: b.pid, alive: true },
    ]);

    expect(await stopAttached(dir, { names: ['a'], graceMs: 2000 })).toEqual(['a']);
    expect(isAlive(a)).toBe(false);
    expect(isAlive(b)).toBe(true);
    expect((await readAttached(dir)).map((r) => r.name)).toEqual(['b']);

    // A new record of the same name replaces the old one (whose process is then the caller's to stop).
    await stopDaemon(b, 2000);
    const b2 = startDaemon('b', 'sleep', ['62'], { log: path.join(dir, 'b.log') });
    await attachProcesses(dir, [b2]);
    expect((await readAttached(dir)).map((r) => r.pid)).toEqual([b2.pid]);
    expect(await stopAttached(dir, { graceMs: 2000 })).toEqual(['b']);
    expect(isAlive(b2)).toBe(false);
    expect(existsSync(path.join(dir, 'attached.json'))).toBe(false);
  });

  it('are stopped by down, even without a stack', async () => {
    const dir = runDir();
    const c = startDaemon('c', 'sleep', ['60'], { log: path.join(dir, 'c.log') });
    await attachProcesses(dir, [c]);
    const lines: string[] = [];
    const res = await down(dir, { report: (l) => lines.push(l) });
    expect(res.stopped).toEqual(['c']);
    expect(isAlive(c)).toBe(false);
    expect(lines[0]).toBe('stopped c (attached to the stack)');
  });
});
