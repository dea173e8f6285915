import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  SQS_REGION,
  apiGet,
  startApiserver,
  startControllerManager,
  startElasticmq,
  startEtcd,
  startKafka,
  mirrorUrl,
  startMirror,
  startRegistry,
  startScheduler,
  tail,
  type ComponentContext,
  type StackPorts,
} from './components.js';
import { installCrds } from './crds.js';
import { installControllerIdentities } from './identities.js';
import { renderEnvFile, type StackEnv } from './env.js';
import { KCM_USER, SCHEDULER_USER, USERS, certFileOf, generatePki, writeKubeconfig } from './pki.js';
import { binaries, CRD_DIR, type Binaries } from './paths.js';
import { freePorts, isListening } from './ports.js';
import { isAlive, listeningPorts, startDaemon, stopDaemon, type DaemonRecord } from './procs.js';
import { installTraefik, waitForTraefik } from './traefik.js';
import { nodeCgroup, startClusterDns, startKubeProxy, startNetworkPolicies, startNode, stopNode } from './node/node.js';
import { NODE } from './node/config.js';

/** Everything `down` and `status` need, persisted as `<run>/stack.json`. */
export interface StackState {
  version: 1;
  runDir: string;
  netns: string;
  /** The network namespace inode the stack runs in, e.g. net:[4026532291]. */
  netnsInode: string;
  startedAt: string;
  ports: StackPorts;
  daemons: DaemonRecord[];
  env: StackEnv;
  timings: Record<string, number>;
}

export type Reporter = (line: string) => void;

/** The processes of a stack that is up. */
export const STACK_COMPONENTS = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kafka',
  'elasticmq',
  'node',
  'kube-proxy',
  'registry-mirror',
  'registry-bridge',
  'registry',
] as const;

const stateFile = (runDir: string): string => path.join(runDir, 'stack.json');
const attachedFile = (runDir: string): string => path.join(runDir, 'attached.json');

export async function readState(runDir: string): Promise<StackState | undefined> {
  try {
    return JSON.parse(await readFile(stateFile(runDir), 'utf8')) as StackState;
  } catch {
    return undefined;
  }
}

/**
 * Processes a tool started against a running stack and left running (the demo's controllers
 * under `--keep`), recorded in `<run>/attached.json`: `down` stops them before the stack, and
 * `status` lists them. Records replace earlier ones of the same name.
 */
export async function attachProcesses(runDir: string, recs: DaemonRecord[]): Promise<void> {
  const names = new Set(recs.map((r) => r.name));
  const kept = (await readAttached(runDir)).filter((r) => !names.has(r.name));
  await writeFile(attachedFile(runDir), JSON.stringify([...kept, ...recs], null, 2));
}

/** The processes recorded by `attachProcesses` (alive or not). */
export async function readAttached(runDir: string): Promise<DaemonRecord[]> {
  try {
    return JSON.parse(await readFile(attachedFile(runDir), 'utf8')) as DaemonRecord[];
  } catch {
    return [];
  }
}

/**
 * Stops the attached processes (all, or those named), SIGTERM then SIGKILL after `graceMs`, and
 * forgets them; a recorded PID whose command line changed is left alone. Returns the names stopped.
 */
export async function stopAttached(runDir: string, options: { names?: string[]; graceMs?: number } = {}): Promise<string[]> {
  const all = await readAttached(runDir);
  const chosen = all.filter((r) => options.names === undefined || options.names.includes(r.name));
  const stopped = chosen.filter(isAlive).map((r) => r.name);
  await Promise.all(chosen.map((r) => stopDaemon(r, options.graceMs ?? 30_000)));
  const rest = all.filter((r) => !chosen.includes(r));
  if (rest.length > 0) await writeFile(attachedFile(runDir), JSON.stringify(rest, null, 2));
  else await rm(attachedFile(runDir), { force: true });
  return stopped;
}

/** The name of the network namespace this process runs in, or '' outside any named one. */
export function currentNetns(): string {
  try {
    return execFileSync('ip', ['netns', 'identify', String(process.pid)], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

function missingBinaries(bin: Binaries): string[] {
  return (Object.entries(bin) as [string, string][])
    .filter(([, p]) => !existsSync(p))
    .map(([k, p]) => `${k}: ${p}`);
}

/**
 * Starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler, Kafka and ElasticMQ on
 * free 127.0.0.1 ports, the registry, kube-proxy and the node, and the node's pods (CoreDNS, the
 * NetworkPolicy engine, Traefik); writes PKI, kubeconfigs, `env` and `stack.json` into `runDir`,
 * installs the CRDs and waits for every component. Refuses to run outside a named network
 * namespace unless `allowHostNetns` is set. If a start fails, whatever was started is stopped again.
 */
export async function up(runDir: string, options: { report?: Reporter; allowHostNetns?: boolean } = {}): Promise<StackState> {
  const report = options.report ?? (() => undefined);
  const netns = currentNetns();
  if (netns === '' && !options.allowHostNetns) {
    throw new Error('the stack runs inside its own network namespace: start it with `npm run stack -- up` (test/stack/stack.sh)');
  }
  const existing = await readState(runDir);
  if (existing?.daemons.every(isAlive)) {
    report(`stack already up in ${runDir}`);
    return existing;
  }
  if (existing) await down(runDir, { report });

  const bin = binaries();
  const missing = missingBinaries(bin);
  if (missing.length > 0) throw new Error(`components not built (run test/stack/build/build.sh):\n  ${missing.join('\n  ')}`);

  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const mark = (name: string, since: number): void => {
    timings[name] = Date.now() - since;
  };
  await rm(runDir, { recursive: true, force: true });
  const pkiDir = path.join(runDir, 'pki');
  const logDir = path.join(runDir, 'logs');
  const kubeconfigDir = path.join(runDir, 'kubeconfig');
  await mkdir(logDir, { recursive: true });
  await mkdir(kubeconfigDir, { recursive: true });

  const [etcd, etcdPeer, apiserver, kafka, kafkaController, sqs, scheduler, kafkaSasl, mirror, registry, kafkaNode] = await freePorts(11);
  const ports: StackPorts = {
    scheduler: scheduler ?? 0,
    mirror: mirror ?? 0,
    registry: registry ?? 0,
    etcd: etcd ?? 0,
    etcdPeer: etcdPeer ?? 0,
    // Inside the stack's own namespace the API server takes the usual 6443, below the ephemeral
    // range: a port picked from that range could be taken by an outgoing connection of a
    // component starting meanwhile before the API server binds every address of the namespace.
    apiserver: netns === '' ? (apiserver ?? 0) : 6443,
    kafka: kafka ?? 0,
    kafkaController: kafkaController ?? 0,
    kafkaSasl: kafkaSasl ?? 0,
    kafkaNode: kafkaNode ?? 0,
    sqs: sqs ?? 0,
  };
  const ctx: ComponentContext = { runDir, pkiDir, logDir, ports, bin };
  const server = `https://127.0.0.1:${String(ports.apiserver)}`;
  const env: StackEnv = {
    KUBELESS_STACK_DIR: runDir,
    KUBELESS_NETNS: netns,
    KUBECONFIG: path.join(kubeconfigDir, 'admin.kubeconfig'),
    KUBELESS_USERS_KUBECONFIG: path.join(kubeconfigDir, 'users.kubeconfig'),
    KUBE_API_SERVER: server,
    ETCD_ENDPOINT: `http://127.0.0.1:${String(ports.etcd)}`,
    KAFKA_BROKERS: `127.0.0.1:${String(ports.kafka)}`,
    KAFKA_SASL_BROKERS: `127.0.0.1:${String(ports.kafkaSasl)}`,
    KAFKA_NODE_BROKERS: `${NODE.ip}:${String(ports.kafkaNode)}`,
    SQS_ENDPOINT: `http://${NODE.ip}:${String(ports.sqs)}`,
    SQS_REGION,
    AUDIT_LOG: path.join(logDir, 'audit.log'),
    TRAEFIK_WEB: '',
    TRAEFIK_WEBSECURE: '',
    TRAEFIK_API: '',
    REGISTRY_MIRROR: mirrorUrl(ports),
  };
  const daemons: DaemonRecord[] = [];
  const state: StackState = {
    version: 1,
    runDir,
    netns,
    netnsInode: readNetnsInode(),
    startedAt: new Date().toISOString(),
    ports,
    daemons,
    env,
    timings,
  };
  // Persist after every start, so `down` can stop a half-started stack.
  const save = async (): Promise<void> => {
    await writeFile(stateFile(runDir), JSON.stringify(state, null, 2));
  };
  const started = async <T>(rec: Promise<T>, name: string, since: number): Promise<T> => {
    const r = await rec;
    mark(name, since);
    report(`${name} ready (${String(timings[name])} ms)`);
    return r;
  };

  let brokers: Promise<unknown> | undefined;
  try {
    let t = Date.now();
    report('generating PKI and kubeconfigs');
    await generatePki(pkiDir);
    const ca = path.join(pkiDir, 'ca.crt');
    const userFiles = (names: string[]) =>
      names.map((name) => {
        const u = [...USERS, KCM_USER, SCHEDULER_USER].find((x) => x.name === name);
        const base = path.join(pkiDir, certFileOf(u ?? { name, groups: [] }));
        return { name, certFile: `${base}.crt`, keyFile: `${base}.key` };
      });
    for (const u of USERS) await writeKubeconfig(path.join(kubeconfigDir, `${u.name}.kubeconfig`), server, ca, userFiles([u.name]));
    await writeKubeconfig(env.KUBELESS_USERS_KUBECONFIG, server, ca, userFiles(USERS.map((u) => u.name)));
    const kcmKubeconfig = path.join(kubeconfigDir, 'kube-controller-manager.kubeconfig');
    await writeKubeconfig(kcmKubeconfig, server, ca, userFiles([KCM_USER.name]));
    const schedulerKubeconfig = path.join(kubeconfigDir, 'kube-scheduler.kubeconfig');
    await writeKubeconfig(schedulerKubeconfig, server, ca, userFiles([SCHEDULER_USER.name]));
    mark('pki', t);
    await writeFile(path.join(runDir, 'env'), renderEnvFile(env));
    await save();

    // Kafka and ElasticMQ start beside the control plane; each pushes its record when it is up.
    const track = async (p: Promise<DaemonRecord>): Promise<void> => {
      daemons.push(await p);
      await save();
    };
    t = Date.now();
    report('starting Kafka (KRaft) and ElasticMQ');
    brokers = Promise.allSettled([track(started(startKafka(ctx), 'kafka', t)), track(started(startElasticmq(ctx), 'elasticmq', t))]);

    report('starting etcd and kube-apiserver');
    await track(started(startEtcd(ctx), 'etcd', t));
    t = Date.now();
    await track(started(startApiserver(ctx), 'kube-apiserver', t));
    t = Date.now();
    report('starting kube-controller-manager and kube-scheduler; installing CRDs');
    const [, , crds] = await Promise.all([
      track(started(startControllerManager(ctx, kcmKubeconfig), 'kube-controller-manager', t)),
      track(started(startScheduler(ctx, schedulerKubeconfig), 'kube-scheduler', t)),
      installCrds(ctx, CRD_DIR).then((names) => {
        mark('crds', t);
        return names;
      }),
    ]);
    report(`CRDs established: ${crds.join(', ')}`);
    t = Date.now();
    const identities = await installControllerIdentities(ctx, runDir, server, ca);
    mark('identities', t);
    report(`controller ServiceAccounts and RBAC from the chart in namespace kubeless; kubeconfigs for ${identities.join(', ')}`);
    t = Date.now();
    // Traefik's CRDs, IngressClasses, RBAC, Service and Deployment now (its pod starts with the
    // node); waited for once the node is Ready.
    const traefik = installTraefik(ctx).then(async (addresses) => {
      Object.assign(env, addresses);
      await writeFile(path.join(runDir, 'env'), renderEnvFile(env));
      mark('traefikObjects', t);
      return addresses;
    });
    // The registry before the node: containerd pulls from it.
    const node = track(started(startRegistry(ctx), 'registry', t)).then(async () => (await startNode(ctx, { server, netns })).rec);
    // All settled before a failure is thrown, so each started process is recorded for `down`.
    const nodeStarts = await Promise.allSettled([
      started(startMirror(ctx), 'registry-mirror', t).then(async (recs) => {
        for (const r of recs) await track(Promise.resolve(r));
      }),
      track(started(node, 'node', t)),
      track(started(startKubeProxy(ctx, { server }), 'kube-proxy', t)),
      traefik,
    ]);
    const nodeFailed = nodeStarts.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (nodeFailed) throw nodeFailed.reason;
    t = Date.now();
    // Pods on the node, each waited for: CoreDNS, the NetworkPolicy engine and Traefik.
    await Promise.all([
      startClusterDns(ctx).then(() => {
        mark('coredns', t);
      }),
      startNetworkPolicies(ctx).then(() => {
        mark('networkPolicies', t);
      }),
      traefik.then((addresses) => waitForTraefik(ctx, addresses)).then(() => {
        mark('traefik', t);
      }),
    ]);
    report(
      `CoreDNS ready (${String(timings.coredns)} ms), NetworkPolicy engine ready (${String(timings.networkPolicies)} ms), ` +
        `Traefik ready at ${env.TRAEFIK_WEB} (${String(timings.traefik)} ms)`,
    );
    const settled = (await brokers) as PromiseSettledResult<void>[];
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    mark('total', t0);
    await save();
    report(`stack up in ${String(timings.total)} ms; env: ${path.join(runDir, 'env')}`);
    return state;
  } catch (err) {
    report(`start failed: ${err instanceof Error ? err.message : String(err)}`);
    // Components still starting record themselves when they finish: wait, so none is left behind.
    await brokers;
    for (const rec of daemons) report(`--- ${rec.name} log (last lines)\n${await tail(rec.log)}`);
    // Give the still-starting components their records before stopping everything.
    await save();
    await down(runDir, { report });
    throw err;
  }
}

/**
 * Applies the controllers' identities again and writes their kubeconfigs anew (fresh tokens): for
 * a stack whose identities a Helm release took over (`--take-ownership`, as the demo's release
 * `kubeless` does) and then removed with `helm uninstall`.
 */
export async function reinstallControllerIdentities(runDir: string): Promise<void> {
  const state = await readState(runDir);
  if (!state) throw new Error(`no stack state in ${runDir}`);
  const pkiDir = path.join(runDir, 'pki');
  await installControllerIdentities({ pkiDir, ports: state.ports }, runDir, `https://127.0.0.1:${String(state.ports.apiserver)}`, path.join(pkiDir, 'ca.crt'));
}

function readNetnsInode(): string {
  try {
    return execFileSync('readlink', ['/proc/self/ns/net'], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

/**
 * Stops every process recorded in `<run>/stack.json` (SIGTERM, then SIGKILL), in reverse start
 * order, then checks that none of the stack's ports still listens. Processes of other stacks are
 * never touched: a recorded PID whose command line changed is left alone.
 */
export async function down(runDir: string, options: { report?: Reporter } = {}): Promise<{ stopped: string[]; stillListening: number[] }> {
  const report = options.report ?? (() => undefined);
  // Processes attached to the stack first, while the API server and brokers still answer them.
  const attached = await stopAttached(runDir);
  if (attached.length > 0) report(`stopped ${attached.join(', ')} (attached to the stack)`);
  const state = await readState(runDir);
  if (!state) {
    report(`no stack state in ${runDir}`);
    return { stopped: attached, stillListening: [] };
  }
  const stopped: string[] = [];
  // The brokers first (they need no API server), then the control plane in reverse order.
  const first = ['node', 'kube-proxy', 'registry', 'registry-bridge', 'registry-mirror', 'kafka', 'elasticmq'];
  const order = [...first, 'kube-scheduler', 'kube-controller-manager', 'kube-apiserver', 'etcd'];
  const byOrder = [...state.daemons].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  await Promise.all(
    byOrder
      .filter((r) => first.includes(r.name))
      .map(async (r) => {
        // The node's pods and cgroups go too, also when its launcher died first.
        await (r.name === 'node' ? stopNode(r, nodeCgroup(state.netns), path.join(state.runDir, 'node')) : stopDaemon(r));
        stopped.push(r.name);
      }),
  );
  for (const r of byOrder.filter((x) => !first.includes(x.name))) {
    await stopDaemon(r);
    stopped.push(r.name);
  }
  const ports: number[] = Object.values(state.ports) as number[];
  const stillListening = state.netnsInode === readNetnsInode() ? ports.filter((p) => listeningPorts().has(p)) : [];
  await rm(stateFile(runDir), { force: true });
  report(`stopped ${stopped.join(', ') || 'nothing'}`);
  if (stillListening.length > 0) report(`ports still listening: ${stillListening.join(', ')}`);
  return { stopped: [...attached, ...stopped], stillListening };
}

export interface ComponentStatus {
  name: string;
  pid: number;
  alive: boolean;
}

/** Which recorded processes are alive, and whether the API server and brokers answer. */
export async function status(runDir: string): Promise<{ up: boolean; components: ComponentStatus[]; attached: ComponentStatus[]; apiserverReady: boolean; env?: StackEnv }> {
  const attached = (await readAttached(runDir)).map((d) => ({ name: d.name, pid: d.pid, alive: isAlive(d) }));
  const state = await readState(runDir);
  if (!state) return { up: false, components: [], attached, apiserverReady: false };
  const components = state.daemons.map((d) => ({ name: d.name, pid: d.pid, alive: isAlive(d) }));
  let apiserverReady = false;
  try {
    apiserverReady = (await apiGet({ pkiDir: path.join(runDir, 'pki'), ports: state.ports }, '/readyz')).status === 200;
  } catch {
    apiserverReady = false;
  }
  // ElasticMQ listens on the node's address (SQS_ENDPOINT), not on 127.0.0.1.
  const sqsHost = state.env.SQS_ENDPOINT ? new URL(state.env.SQS_ENDPOINT).hostname : '127.0.0.1';
  const brokersUp = (await Promise.all([isListening(state.ports.kafka), isListening(state.ports.sqs, sqsHost)])).every(Boolean);
  const up = components.length === STACK_COMPONENTS.length && components.every((c) => c.alive) && apiserverReady && brokersUp;
  return { up, components, attached, apiserverReady, env: state.env };
}

/**
 * Fault injection for tests: stops one component of a running stack (SIGTERM, or SIGKILL with
 * `kill`), keeps it down for `downMs`, then starts it again with the same command line and waits
 * until its port listens again. The state file records the new pid, so `down` still stops it.
 */
export async function restartComponent(runDir: string, name: string, options: { downMs?: number; kill?: boolean; onDown?: () => void } = {}): Promise<void> {
  const state = await readState(runDir);
  const rec = state?.daemons.find((d) => d.name === name);
  if (!state || !rec) throw new Error(`no running component ${name} in ${runDir}`);
  const [command, ...args] = rec.cmdline;
  if (command === undefined) throw new Error(`component ${name} has no command line`);
  await stopDaemon(rec, options.kill ? 0 : 10_000);
  options.onDown?.();
  await new Promise((r) => setTimeout(r, options.downMs ?? 0));
  const next = startDaemon(name, command, args, { log: rec.log });
  state.daemons = state.daemons.map((d) => (d.name === name ? next : d));
  await writeFile(stateFile(runDir), JSON.stringify(state, null, 2));
  const port = { kafka: state.ports.kafka, 'kube-apiserver': state.ports.apiserver, apiserver: state.ports.apiserver, etcd: state.ports.etcd, elasticmq: state.ports.sqs }[name];
  if (port !== undefined) {
    const deadline = Date.now() + 60_000;
    while (!(await isListening(port))) {
      if (Date.now() > deadline) throw new Error(`${name} did not listen on ${String(port)} within 60 s after a restart`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * Fault injection for tests: freezes one component of a running stack (SIGSTOP) for `pausedMs`,
 * then lets it go on (SIGCONT). Its sockets stay open, so clients see requests that hang rather
 * than refused connections: what a network partition or a stuck process looks like.
 */
export async function pauseComponent(runDir: string, name: string, pausedMs: number, options: { onPaused?: () => void } = {}): Promise<void> {
  const state = await readState(runDir);
  const rec = state?.daemons.find((d) => d.name === name);
  if (!rec) throw new Error(`no running component ${name} in ${runDir}`);
  process.kill(rec.pid, 'SIGSTOP');
  try {
    options.onPaused?.();
    await new Promise((r) => setTimeout(r, pausedMs));
  } finally {
    process.kill(rec.pid, 'SIGCONT');
  }
}
