import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { apiGet, apiRequest, tail, type ComponentContext } from '../components.js';
import { STACK_ROOT } from '../paths.js';
import { KUBE_PROXY_USER, NODE_USER, certFileOf, writeKubeconfig } from '../pki.js';
import { isAlive, readCmdline, startDaemon, stopDaemon, type DaemonRecord } from '../procs.js';
import { waitFor } from '../wait.js';
import { NODE, cniConfig, containerdConfig, coreDnsManifests, kubeProxyConfig, kubeletConfig, networkPolicyManifests, registryHosts, type KubeletPaths } from './config.js';

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
  for (const [registry, hosts] of Object.entries(registryHosts(`127.0.0.1:${String(ctx.ports.registry)}`))) {
    await mkdir(path.join(dir, 'certs.d', registry), { recursive: true });
    await writeFile(path.join(dir, 'certs.d', registry, 'hosts.toml'), hosts);
  }
  await writeFile(path.join(dir, 'cni', '10-kubeless.conflist'), cniConfig(paths));
  await writeFile(path.join(dir, 'kubelet.json'), kubeletConfig(paths));
  // Pods with dnsPolicy Default get this: the stack has no upstream resolver.
  await writeFile(paths.resolvConf, '# the stack has no upstream DNS server\n');
  const kubeconfig = path.join(dir, 'kubelet.kubeconfig');
  const base = pki(certFileOf(NODE_USER));
  await writeKubeconfig(kubeconfig, opts.server, paths.caFile, [{ name: NODE_USER.name, certFile: `${base}.crt`, keyFile: `${base}.key` }]);

  await saveKernelTunables(dir);
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
  // By PID, not command line: the launcher re-executes itself under unshare, and for a moment
  // its command line is unshare's.
  const alive = (): string | undefined => (readCmdline(rec.pid) !== undefined ? undefined : `the node exited; see ${rec.log} and ${path.join(dir, 'containerd.log')}`);
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
    const lines = `--- ${rec.log} (last lines)\n${await tail(rec.log)}\n--- containerd.log\n${await tail(path.join(dir, 'containerd.log'))}`;
    await stopNode(rec, cgroup, dir);
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${lines}`, { cause: err });
  }
  return { rec, cgroup };
}

/** Starts kube-proxy in the stack's network namespace; ready when its health endpoint answers. */
export async function startKubeProxy(ctx: ComponentContext, opts: { server: string }): Promise<DaemonRecord> {
  const dir = path.join(ctx.runDir, 'node');
  await mkdir(dir, { recursive: true });
  const kubeconfig = path.join(dir, 'kube-proxy.kubeconfig');
  const base = path.join(ctx.pkiDir, certFileOf(KUBE_PROXY_USER));
  await writeKubeconfig(kubeconfig, opts.server, path.join(ctx.pkiDir, 'ca.crt'), [{ name: KUBE_PROXY_USER.name, certFile: `${base}.crt`, keyFile: `${base}.key` }]);
  const config = path.join(dir, 'kube-proxy.json');
  await writeFile(config, kubeProxyConfig(kubeconfig));
  const rec = startDaemon('kube-proxy', ctx.bin.kubeProxy, [`--config=${config}`, '--v=1'], { log: path.join(ctx.logDir, 'kube-proxy.log') });
  try {
    await waitFor('kube-proxy', async () => (await fetch(`http://127.0.0.1:${String(NODE.kubeProxyHealthzPort)}/healthz`)).status === 200, {
      timeoutMs: 30_000,
      alive: () => (isAlive(rec) ? undefined : `kube-proxy exited; see ${rec.log}`),
    });
  } catch (err) {
    await stopDaemon(rec);
    throw err;
  }
  return rec;
}

const RESOURCE_PATHS: Record<string, string> = {
  Namespace: 'namespaces',
  ServiceAccount: 'serviceaccounts',
  ConfigMap: 'configmaps',
  Service: 'services',
  Deployment: 'deployments',
  DaemonSet: 'daemonsets',
  ClusterRole: 'clusterroles',
  ClusterRoleBinding: 'clusterrolebindings',
};

/** Server-side apply of one object as the admin (field manager kubeless-stack); resolves with the object the API server returned. */
async function applyObject(ctx: Pick<ComponentContext, 'pkiDir' | 'ports'>, obj: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }): Promise<unknown> {
  const group = obj.apiVersion.includes('/') ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
  const ns = obj.metadata.namespace ? `/namespaces/${obj.metadata.namespace}` : '';
  const plural = RESOURCE_PATHS[obj.kind];
  if (!plural) throw new Error(`no resource path for ${obj.kind}`);
  const res = await apiRequest(ctx, 'PATCH', `${group}${ns}/${plural}/${obj.metadata.name}?fieldManager=kubeless-stack&force=true`, {
    contentType: 'application/apply-patch+yaml',
    data: JSON.stringify(obj),
  });
  if (res.status >= 300) throw new Error(`applying ${obj.kind} ${obj.metadata.name}: ${String(res.status)} ${res.body}`);
  return JSON.parse(res.body) as unknown;
}

/**
 * Applies the objects in order (server-side apply as the admin, field manager kubeless-stack;
 * kinds: Namespace, ServiceAccount, ConfigMap, Service, Deployment, DaemonSet, ClusterRole,
 * ClusterRoleBinding), each retried for up to 60 s: on a loaded machine one request can take
 * longer than the client's 5 s. Resolves with the objects as the API server returned them.
 */
export async function applyAll(ctx: Pick<ComponentContext, 'pkiDir' | 'ports'>, objects: object[]): Promise<unknown[]> {
  const applied: unknown[] = [];
  for (const obj of objects) {
    const o = obj as Parameters<typeof applyObject>[1];
    applied.push(await waitFor(`applying ${o.kind} ${o.metadata.name}`, () => applyObject(ctx, o), { timeoutMs: 60_000, intervalMs: 500 }));
  }
  return applied;
}

/**
 * Waits (60 s) until a Deployment has an available replica, or a DaemonSet a ready pod: the node
 * runs what was applied.
 */
export async function workloadReady(ctx: Pick<ComponentContext, 'pkiDir' | 'ports'>, namespace: string, kind: 'Deployment' | 'DaemonSet', name: string): Promise<void> {
  const resource = kind === 'Deployment' ? 'deployments' : 'daemonsets';
  await waitFor(
    `${kind} ${namespace}/${name} ready`,
    async () => {
      const res = await apiGet(ctx, `/apis/apps/v1/namespaces/${namespace}/${resource}/${name}`);
      const st = (JSON.parse(res.body) as { status?: { availableReplicas?: number; numberReady?: number } }).status;
      return ((kind === 'Deployment' ? st?.availableReplicas : st?.numberReady) ?? 0) >= 1;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
}

/** Deploys CoreDNS on the node and waits until it answers (its Deployment available). */
export async function startClusterDns(ctx: ComponentContext): Promise<void> {
  await applyAll(ctx, coreDnsManifests());
  await workloadReady(ctx, 'kube-system', 'Deployment', 'coredns');
}

/** Deploys the NetworkPolicy engine (kube-network-policies) on the node and waits until its pod is Ready. */
export async function startNetworkPolicies(ctx: ComponentContext): Promise<void> {
  await applyAll(ctx, networkPolicyManifests());
  await workloadReady(ctx, 'kube-system', 'DaemonSet', 'kube-network-policies');
}

/**
 * Imports the image archives built here (build.sh images: pause, busybox, CoreDNS, the NetworkPolicy
 * engine, Traefik, the runtimes and the four controllers; not the bases under images/bases) into
 * containerd's k8s.io namespace, without unpacking: containerd unpacks an image's layers when a
 * container first uses it, so images no test runs cost only the copy (the controllers add 1.5-2 s
 * to `up`, measured on 2 cores).
 */
async function importImages(ctx: ComponentContext, socket: string): Promise<void> {
  const archives = (await readdir(ctx.bin.imagesDir)).filter((f) => f.endsWith('.oci.tar'));
  await Promise.all(
    archives.map(async (file) => {
      await run(ctx.bin.ctr, ['--address', socket, '--namespace', 'k8s.io', 'images', 'import', '--no-unpack', path.join(ctx.bin.imagesDir, file)], { timeout: 120_000 });
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
export async function stopNode(rec: DaemonRecord, cgroup: string, nodeDir: string): Promise<void> {
  await stopDaemon(rec, 15_000);
  await run('bash', [CGROUPS_SH, 'clean', cgroup], { timeout: 60_000 });
  await restoreKernelTunables(nodeDir);
}

/**
 * The machine-wide sysctls the kubelet sets on every node it starts (protectKernelDefaults off):
 * saved before the node starts, put back when it stops, so the machine is left as it was.
 */
const KERNEL_TUNABLES = ['vm/overcommit_memory', 'kernel/panic', 'kernel/panic_on_oops'];
const tunablesFile = (nodeDir: string): string => path.join(nodeDir, 'kernel-tunables.json');

async function saveKernelTunables(nodeDir: string): Promise<void> {
  const values: Record<string, string> = {};
  for (const t of KERNEL_TUNABLES) values[t] = (await readFile(`/proc/sys/${t}`, 'utf8')).trim();
  await writeFile(tunablesFile(nodeDir), JSON.stringify(values));
}

async function restoreKernelTunables(nodeDir: string): Promise<void> {
  let values: Record<string, string>;
  try {
    values = JSON.parse(await readFile(tunablesFile(nodeDir), 'utf8')) as Record<string, string>;
  } catch {
    return;
  }
  for (const [t, v] of Object.entries(values)) await writeFile(`/proc/sys/${t}`, v).catch(() => undefined);
}
