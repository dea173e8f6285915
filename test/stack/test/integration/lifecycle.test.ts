/**
 * The stack command itself: a second stack, in its own network namespace and run folder, starts
 * within 60 s on warm caches, with its own node running a pod, and `down` leaves nothing behind.
 * "Nothing" is checked from the outside, by command lines, network-namespace membership and
 * listening ports of every process on the machine (not by the PIDs the stack recorded), by the
 * node's cgroup tree, by the mount table and by the network interfaces outside the stack.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { NODE, REPO_ROOT, STACK_COMPONENTS, STACK_IMAGES, findProcesses, listeningPorts, netnsOf, nodeCgroup, readStackEnv, remainingCgroups, type StackState } from '../../src/index.js';

const run = promisify(execFile);
const STACK_SH = path.join(REPO_ROOT, 'test', 'stack', 'stack.sh');
const netnsName = `kubeless-lc-${String(process.pid)}`;
let runDir = '';

function stackSh(cmd: string): Promise<{ stdout: string; stderr: string }> {
  return run('bash', [STACK_SH, cmd], {
    // Its own name for the outside namespace too: the suite's stack exports one, and this stack's
    // `down` removes the name it uses, which the suite's stack would need to start its mirror again.
    env: { ...process.env, KUBELESS_NETNS: netnsName, KUBELESS_OUTSIDE_NETNS: `${netnsName}-outside`, KUBELESS_STACK_DIR: runDir },
    timeout: 180_000,
  });
}

async function netnsList(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n !== '');
}

/** Interface names in the namespace outside the stacks (where the host's links are). */
async function outsideLinks(): Promise<string[]> {
  const outside = process.env.KUBELESS_OUTSIDE_NETNS ?? '';
  const { stdout } = await run('ip', [...(outside ? ['-n', outside] : []), '-o', 'link', 'show']);
  return stdout.split('\n').map((l) => l.split(':')[1]?.trim() ?? '').filter((n) => n !== '').sort();
}

/** The machine-wide sysctls a kubelet sets when it starts. */
const kernelTunables = async (): Promise<string[]> =>
  Promise.all(['vm/overcommit_memory', 'kernel/panic', 'kernel/panic_on_oops'].map(async (t) => (await readFile(`/proc/sys/${t}`, 'utf8')).trim()));

const mountsOf = async (needle: string): Promise<string[]> => (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(needle));

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
    const linksBefore = await outsideLinks();
    const tunablesBefore = await kernelTunables();
    const started = Date.now();
    const upOut = await stackSh('up');
    const elapsed = Date.now() - started;
    expect(upOut.stdout).toContain('stack up in');
    expect(elapsed).toBeLessThan(60_000);

    expect(await netnsList()).toContain(netnsName);
    const state = JSON.parse(await readFile(path.join(runDir, 'stack.json'), 'utf8')) as StackState;
    const env = readStackEnv(runDir);
    expect(env.KUBELESS_NETNS).toBe(netnsName);
    expect(state.daemons.map((d) => d.name).sort()).toEqual([...STACK_COMPONENTS].sort());

    // Its node runs a pod (a process of its own, marked by a unique command line).
    const marker = `sleep ${String(3_000_000 + process.pid)}`;
    const inStack = (args: string[], input?: string) => {
      const child = run('ip', ['netns', 'exec', netnsName, 'kubectl', '--kubeconfig', env.KUBECONFIG, ...args], { timeout: 90_000 });
      if (input !== undefined) child.child.stdin?.end(input);
      return child;
    };
    // No nodeName: the stack's scheduler places it.
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'lc', namespace: 'default' }, spec: { containers: [{ name: 'c', image: STACK_IMAGES.busybox, imagePullPolicy: 'Never', command: marker.split(' ') }] } };
    await inStack(['apply', '-f', '-'], JSON.stringify(pod));
    await inStack(['wait', '--for=condition=Ready', 'pod/lc', '--timeout=60s']);
    expect(findProcesses(marker).length).toBe(1);
    const cgroup = nodeCgroup(netnsName);
    expect((await remainingCgroups(cgroup)).some((d) => d.includes('/kubepods'))).toBe(true);
    // The node's mounts (container roots, volumes, its tmpfs /run) stay in its own mount namespace.
    expect(await mountsOf(runDir)).toEqual([]);

    expect(JSON.parse((await inStack(['get', 'pod', 'lc', '-o', 'json'])).stdout).spec.nodeName).toBe(NODE.name);

    // Seen from outside: processes carrying the run folder, all inside the new namespace, listening
    // on the stack's ports; but the registry mirror's server, which runs outside (where the registries are).
    const all = findProcesses(runDir);
    const mirror = all.filter((p) => p.cmdline.includes('mirror/main.js serve'));
    const procs = all.filter((p) => !mirror.includes(p));
    expect(procs.length).toBeGreaterThanOrEqual(10);
    expect(mirror.length).toBe(1);
    const inode = netnsOf(procs[0]?.pid ?? 0) ?? '';
    expect(inode).not.toBe(netnsOf('self'));
    for (const p of procs) expect(netnsOf(p.pid)).toBe(inode);
    expect(netnsOf(mirror[0]?.pid ?? 0)).not.toBe(inode);
    const listening = listeningPorts(procs[0]?.pid ?? 0);
    for (const port of Object.values(state.ports) as number[]) expect(listening.has(port), `port ${String(port)} listening`).toBe(true);

    const downOut = await stackSh('down');
    expect(downOut.stdout).toContain('stopped');

    expect(findProcesses(runDir)).toEqual([]);
    expect(findProcesses(marker)).toEqual([]);
    expect(processesInNetns(inode)).toEqual([]);
    expect(await remainingCgroups(cgroup)).toEqual([]);
    expect(await mountsOf(runDir)).toEqual([]);
    expect(await outsideLinks()).toEqual(linksBefore);
    expect(await kernelTunables()).toEqual(tunablesBefore); // the kubelet's machine-wide sysctls, put back
    expect(await netnsList()).not.toContain(netnsName);
    expect(existsSync(`/etc/netns/${netnsName}`)).toBe(false); // its resolv.conf for `ip netns exec`
    // The namespace's ports listened before `down`; with no process left in it, no socket can.
  }, 180_000);
});
