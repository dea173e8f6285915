import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { apiGet, type ComponentContext } from '../components.js';
import { STACK_ROOT } from '../paths.js';
import { NODE_USER, certFileOf, writeKubeconfig } from '../pki.js';
import { isAlive, startDaemon, stopDaemon, type DaemonRecord } from '../procs.js';
import { waitFor } from '../wait.js';
import { NODE, STACK_IMAGES, cniConfig, containerdConfig, kubeletConfig, type KubeletPaths } from './config.js';

const run = promisify(execFile);

/** The node's cgroup: one per stack (its network namespace's name), so two stacks never share one. */
export function nodeCgroup(netns: string): string {
  return `/kubeless-${netns === '' ? 'host' : netns}`;
}

export interface NodeHandle {
  rec: DaemonRecord;
  cgroup: string;
}

/**
 * Starts the stack's node: containerd and the kubelet, in their own mount namespace, in the
 * stack's network namespace (test/stack/node/launch.sh). Imports the images built here into
 * containerd's k8s.io namespace, then waits for the Node to be Ready.
 */
export async function startNode(ctx: ComponentContext, opts: { server: string; netns: string }): Promise<NodeHandle> {
  const dir = path.join(ctx.runDir, 'node');
  await mkdir(path.join(dir, 'cni'), { recursive: true });
  const pki = (f: string): string => path.join(ctx.pkiDir, f);
  const cgroup = nodeCgroup(opts.netns);
  const paths: KubeletPaths = {
    dir,
    runc: ctx.bin.runc,
    cniBinDir: ctx.bin.cniBinDir,
    socket: path.join(dir, 'containerd.sock'),
    caFile: pki('ca.crt'),
    tlsCertFile: pki('node-kubelet-server.crt'),
    tlsKeyFile: pki('node-kubelet-server.key'),
    resolvConf: path.join(dir, 'resolv.conf'),
    cgroupRoot: cgroup,
  };
  await writeFile(path.join(dir, 'containerd.toml'), containerdConfig(paths));
  await writeFile(path.join(dir, 'cni', '10-kubeless.conflist'), cniConfig(paths));
  await writeFile(path.join(dir, 'kubelet.json'), kubeletConfig(paths));
  // Pods with dnsPolicy Default get this: the stack has no upstream resolver.
  await writeFile(paths.resolvConf, '# the stack has no upstream DNS server\n');
  const kubeconfig = path.join(dir, 'kubelet.kubeconfig');
  const base = pki(certFileOf(NODE_USER));
  await writeKubeconfig(kubeconfig, opts.server, paths.caFile, [{ name: NODE_USER.name, certFile: `${base}.crt`, keyFile: `${base}.key` }]);

  const rec = startDaemon(
    'node',
    'bash',
    [
      path.join(STACK_ROOT, 'node', 'launch.sh'),
      dir,
      cgroup,
      ctx.bin.containerd,
      ctx.bin.kubelet,
      `--config=${path.join(dir, 'kubelet.json')}`,
      `--kubeconfig=${kubeconfig}`,
      `--hostname-override=${NODE.name}`,
      `--node-ip=${NODE.ip}`,
      `--root-dir=${path.join(dir, 'kubelet')}`,
      `--cert-dir=${path.join(dir, 'kubelet', 'pki')}`,
      '--v=1',
    ],
    { log: path.join(ctx.logDir, 'kubelet.log') },
  );
  const alive = (): string | undefined => (isAlive(rec) ? undefined : `the node exited; see ${rec.log} and ${path.join(dir, 'containerd.log')}`);
  try {
    await waitFor('containerd', () => Promise.resolve(existsSync(paths.socket)), { timeoutMs: 30_000, alive });
    await importImages(ctx, paths.socket);
    await waitFor(
    `node ${NODE.name} Ready`,
    async () => {
      const res = await apiGet(ctx, `/api/v1/nodes/${NODE.name}`);
      if (res.status !== 200) return false;
      const node = JSON.parse(res.body) as { status?: { conditions?: { type: string; status: string }[] } };
      return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
    },
      { timeoutMs: 60_000, intervalMs: 250, alive },
    );
  } catch (err) {
    // Not yet in the stack's records: stop it here, so nothing of it is left behind.
    await stopNode(rec, cgroup);
    throw err;
  }
  return { rec, cgroup };
}

/** Imports the image archives built here (build.sh images) into containerd's k8s.io namespace. */
async function importImages(ctx: ComponentContext, socket: string): Promise<void> {
  await Promise.all(
    Object.keys(STACK_IMAGES).map(async (name) => {
      const archive = path.join(ctx.bin.imagesDir, `${name}.oci.tar`);
      await run(ctx.bin.ctr, ['--address', socket, '--namespace', 'k8s.io', 'images', 'import', archive], { timeout: 120_000 });
    }),
  );
}

const CGROUPS_SH = path.join(STACK_ROOT, 'node', 'cgroups.sh');

/** The node's cgroup folders still present on the host, deepest first (none after a clean stop). */
export async function remainingCgroups(cgroup: string): Promise<string[]> {
  const { stdout } = await run('bash', [CGROUPS_SH, 'list', cgroup]);
  return stdout.split('\n').filter((l) => l !== '');
}

/** The processes in the node's cgroup. */
export async function cgroupPids(cgroup: string): Promise<number[]> {
  const { stdout } = await run('bash', [CGROUPS_SH, 'pids', cgroup]);
  return stdout.split('\n').filter((l) => l !== '').map(Number);
}

/**
 * Stops the node: SIGTERM to the kubelet and containerd (through the launcher), then SIGKILL to
 * whatever still runs in the node's cgroup (shims, pods), then removes the cgroup folders. With
 * the last process of its mount namespace gone, the node's mounts are gone too.
 */
export async function stopNode(rec: DaemonRecord, cgroup: string): Promise<void> {
  await stopDaemon(rec, 15_000);
  await run('bash', [CGROUPS_SH, 'clean', cgroup], { timeout: 60_000 });
}
