/**
 * The stack command itself: a second stack, in its own network namespace and run folder, starts
 * within 60 s on warm caches, and `down` leaves nothing behind. "Nothing" is checked from the
 * outside, by command lines, network-namespace membership and listening ports of every process
 * on the machine, not by the PIDs the stack recorded.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, findProcesses, listeningPorts, netnsOf, readStackEnv, type StackState } from '../../src/index.js';

const run = promisify(execFile);
const STACK_SH = path.join(REPO_ROOT, 'test', 'stack', 'stack.sh');
const netnsName = `kubeless-lc-${String(process.pid)}`;
let runDir = '';

function stackSh(cmd: string): Promise<{ stdout: string; stderr: string }> {
  return run('bash', [STACK_SH, cmd], {
    // Its own name for the outside namespace too: the suite's stack exports one, and this stack's
    // `down` removes the name it uses, which would cut the suite's deps installs off the registries.
    env: { ...process.env, KUBELESS_NETNS: netnsName, KUBELESS_OUTSIDE_NETNS: `${netnsName}-outside`, KUBELESS_STACK_DIR: runDir },
    timeout: 180_000,
  });
}

async function netnsList(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n !== '');
}

/** PIDs of every process whose network namespace is `inode`. */
function processesInNetns(inode: string): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((pid) => netnsOf(pid) === inode);
}

afterAll(async () => {
  // Best effort if an assertion failed half-way.
  if (runDir) {
    await stackSh('down').catch(() => undefined);
    await rm(runDir, { recursive: true, force: true });
  }
});

describe('npm run stack -- up/down', () => {
  it('starts a whole stack in its own namespace within 60 s and stops it without leftovers', async () => {
    runDir = await mkdtemp(path.join(os.tmpdir(), 'kubeless-lifecycle-'));
    const started = Date.now();
    const upOut = await stackSh('up');
    const elapsed = Date.now() - started;
    expect(upOut.stdout).toContain('stack up in');
    expect(elapsed).toBeLessThan(60_000);

    expect(await netnsList()).toContain(netnsName);
    const state = JSON.parse(await readFile(path.join(runDir, 'stack.json'), 'utf8')) as StackState;
    const env = readStackEnv(runDir);
    expect(env.KUBELESS_NETNS).toBe(netnsName);
    expect(state.daemons.map((d) => d.name).sort()).toEqual(['elasticmq', 'etcd', 'kafka', 'kube-apiserver', 'kube-controller-manager', 'node-agent', 'traefik']);

    // Seen from outside: processes carrying the run folder, all inside the new namespace, listening on the stack's ports.
    const procs = findProcesses(runDir);
    expect(procs.length).toBeGreaterThanOrEqual(5);
    const inode = netnsOf(procs[0]?.pid ?? 0) ?? '';
    expect(inode).not.toBe(netnsOf('self'));
    for (const p of procs) expect(netnsOf(p.pid)).toBe(inode);
    const listening = listeningPorts(procs[0]?.pid ?? 0);
    for (const port of Object.values(state.ports) as number[]) expect(listening.has(port), `port ${String(port)} listening`).toBe(true);

    const downOut = await stackSh('down');
    expect(downOut.stdout).toContain('stopped');

    expect(findProcesses(runDir)).toEqual([]);
    expect(processesInNetns(inode)).toEqual([]);
    expect(await netnsList()).not.toContain(netnsName);
    // The namespace's ports listened before `down`; with no process left in it, no socket can.
  });
});
