/**
 * The local node agent: a stand-in kubelet for function pods, for development and tests only
 * (INFRA.md §F). It registers a Node, binds the Pods the ReplicaSets create for kubeless
 * functions, runs each Pod's containers as local processes on a real pod IP from the pod range
 * (which exists only inside the stack's network namespace), reports Running/Ready once the
 * readiness probe answers, restarts a crashed container with backoff, serves container logs to
 * the API server, and removes a Pod when it is deleted. Production code never depends on it:
 * the real endpointslice controller publishes the Pods' IPs, and everything reaches functions
 * through their Services as in a cluster.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { Informer, isNotFound, resourceByKind, type KubeClient, type KubeObject } from '@kubeless/controller';
import { parseConfig, type KubelessConfig } from '@kubeless/function-controller';
import type { Logger } from '@kubeless/observability';
import { expandEnv, familyOf, localCommand, rewritePaths, type Family } from './images.js';

export const NODE_NAME = 'kubeless-local-node';

type Json = Record<string, any>;

interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  ports?: { containerPort: number }[];
  readinessProbe?: { httpGet?: { path?: string; port?: number | string; scheme?: string }; tcpSocket?: { port?: number | string } };
}

interface RunningPod {
  uid: string;
  key: string;
  ip: string;
  dir: string;
  procs: Map<string, ChildProcess>;
  stopped: boolean;
  restarts: number;
}

export interface AgentOptions {
  client: KubeClient;
  runDir: string;
  logger: Logger;
  apiHost: string;
  apiPort: number;
  caFile: string;
  /** Port of the container-log endpoint (the Node's kubelet port). */
  kubeletPort: number;
  /** Where kubeless-config lives (for image -> runtime family). */
  configNamespace?: string;
}

export class NodeAgent {
  readonly #o: AgentOptions;
  readonly #pods: Informer;
  readonly #running = new Map<string, RunningPod>();
  readonly #usedIps = new Set<string>();
  #nextIp = 0;
  #config: KubelessConfig = parseConfig(undefined);

  constructor(options: AgentOptions) {
    this.#o = options;
    // Back at work within 2 s of an API server outage (chaos tests restart and pause it), where a
    // controller's informer may wait up to 30 s: the tests after them should not wait for pods.
    this.#pods = new Informer(options.client, resourceByKind('Pod'), { labelSelector: 'created-by=kubeless', logger: options.logger, maxBackoffMs: 2000 });
    const onChange = (p: KubeObject): void => {
      void this.#sync(p).catch((err: unknown) => {
        options.logger.warn({ err, pod: p.metadata?.name }, 'pod sync failed');
      });
    };
    this.#pods.on('add', onChange);
    this.#pods.on('update', onChange);
    this.#pods.on('delete', (p) => {
      void this.#stopPod(p.metadata?.uid ?? '');
    });
  }

  async start(): Promise<void> {
    // Pods live under the run folder, which may sit in this repository: a package.json here keeps
    // the repository's "type": "module" from applying to function code, as in a real container.
    mkdirSync(path.join(this.#o.runDir, 'pods'), { recursive: true });
    writeFileSync(path.join(this.#o.runDir, 'pods', 'package.json'), '{}\n');
    await this.#registerNode();
    this.#pods.start();
    await this.#pods.waitForSync();
  }

  async stop(): Promise<void> {
    await this.#pods.stop();
    await Promise.all([...this.#running.keys()].map((uid) => this.#stopPod(uid)));
  }

  async #registerNode(): Promise<void> {
    const c = this.#o.client;
    try {
      await c.create('/api/v1/nodes', {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: NODE_NAME, labels: { 'kubernetes.io/hostname': NODE_NAME, 'kubernetes.io/os': 'linux' } },
        spec: { podCIDR: '10.244.0.0/16', podCIDRs: ['10.244.0.0/16'] },
      });
    } catch (err) {
      if ((err as { status?: number }).status !== 409) throw err;
    }
    await c.mergePatch(`/api/v1/nodes/${NODE_NAME}/status`, {
      status: {
        addresses: [
          { type: 'InternalIP', address: '127.0.0.1' },
          { type: 'Hostname', address: NODE_NAME },
        ],
        daemonEndpoints: { kubeletEndpoint: { Port: this.#o.kubeletPort } },
        conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubeless local node agent', lastHeartbeatTime: new Date().toISOString().replace(/\.\d+Z/, 'Z') }],
        nodeInfo: { kubeletVersion: 'v1.35.4', operatingSystem: 'linux', architecture: 'amd64' },
      },
    });
  }

  async #loadConfig(): Promise<void> {
    const ns = this.#o.configNamespace ?? 'kubeless';
    try {
      const cm = await this.#o.client.get<KubeObject & { data?: Record<string, string> }>(`/api/v1/namespaces/${ns}/configmaps/kubeless-config`);
      this.#config = parseConfig(cm.data);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  #family(image: string | undefined): Family | undefined {
    const configured = this.#config.runtimes.flatMap((f) => f.versions.flatMap((v) => v.images.map((i) => ({ family: f.ID, image: i.image }))));
    return familyOf(image ?? '', configured);
  }

  async #sync(pod: KubeObject): Promise<void> {
    const uid = pod.metadata?.uid ?? '';
    const spec = pod.spec as Json;
    if (pod.metadata?.deletionTimestamp) {
      await this.#stopPod(uid);
      await this.#o.client.delete(`/api/v1/namespaces/${pod.metadata.namespace ?? ''}/pods/${pod.metadata.name ?? ''}?gracePeriodSeconds=0`).catch(() => undefined);
      return;
    }
    if (!spec.nodeName) {
      await this.#o.client
        .create(`/api/v1/namespaces/${pod.metadata?.namespace ?? ''}/pods/${pod.metadata?.name ?? ''}/binding`, {
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name: pod.metadata?.name },
          target: { apiVersion: 'v1', kind: 'Node', name: NODE_NAME },
        })
        .catch((err: unknown) => {
          if ((err as { status?: number }).status !== 409) throw err;
        });
      return;
    }
    if (spec.nodeName !== NODE_NAME || this.#running.has(uid)) return;
    await this.#startPod(pod);
  }

  #allocateIp(): string {
    for (;;) {
      this.#nextIp = (this.#nextIp % 65000) + 1;
      const n = this.#nextIp + 256; // from 10.244.1.1
      const ip = `10.244.${String(Math.floor(n / 256))}.${String(n % 256)}`;
      if (n % 256 !== 0 && n % 256 !== 255 && !this.#usedIps.has(ip)) {
        this.#usedIps.add(ip);
        return ip;
      }
    }
  }

  async #startPod(pod: KubeObject): Promise<void> {
    const m = pod.metadata ?? {};
    const ns = m.namespace ?? 'default';
    const uid = m.uid ?? '';
    const spec = pod.spec as Json;
    const ip = this.#allocateIp();
    const dir = path.join(this.#o.runDir, 'pods', `${ns}_${m.name ?? ''}_${uid.slice(0, 8)}`);
    const run: RunningPod = { uid, key: `${ns}/${m.name ?? ''}`, ip, dir, procs: new Map(), stopped: false, restarts: 0 };
    this.#running.set(uid, run);
    await this.#loadConfig();
    const log = this.#o.logger.child({ pod: run.key, ip });
    try {
      const volumes = await this.#prepareVolumes(pod, dir, run);
      for (const c of (spec.initContainers ?? []) as Container[]) {
        if (run.stopped) return;
        await this.#patchStatus(pod, { phase: 'Pending', podIP: ip, podIPs: [{ ip }], hostIP: '127.0.0.1', hostIPs: [{ ip: '127.0.0.1' }], conditions: [{ type: 'PodScheduled', status: 'True' }, { type: 'Initialized', status: 'False', reason: 'ContainersNotInitialized' }] });
        const code = await this.#runToCompletion(run, c, volumes, ns);
        if (code !== 0) {
          const message = `init container ${c.name} exited with ${String(code)}: ${await lastLines(path.join(dir, 'logs', `${c.name}.log`))}`;
          log.warn({ container: c.name, code }, 'init container failed');
          await this.#patchStatus(pod, {
            phase: 'Pending',
            conditions: [{ type: 'Initialized', status: 'False', reason: 'InitContainerFailed', message }, { type: 'Ready', status: 'False', reason: 'InitContainerFailed', message }],
            initContainerStatuses: [{ name: c.name, image: c.image ?? '', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: code, reason: 'Error', message } } }],
          });
          return;
        }
      }
      const main = ((spec.containers ?? []) as Container[])[0];
      if (!main) return;
      this.#startMain(pod, run, main, volumes, ns, log);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log.warn({ err }, 'pod failed to start');
      await this.#patchStatus(pod, { phase: 'Pending', conditions: [{ type: 'Ready', status: 'False', reason: 'AgentError', message }] }).catch(() => undefined);
    }
  }

  #startMain(pod: KubeObject, run: RunningPod, c: Container, volumes: Map<string, string>, ns: string, log: Logger): void {
    if (run.stopped) return;
    const proc = this.#spawn(run, c, volumes, ns);
    const started = new Date().toISOString().replace(/\.\d+Z/, 'Z');
    const tcpPort = c.readinessProbe?.tcpSocket?.port;
    const port = Number(c.readinessProbe?.httpGet?.port ?? tcpPort ?? c.ports?.[0]?.containerPort ?? 8080);
    const probePath = c.readinessProbe?.httpGet?.path ?? '/healthz';
    const probeHttps = c.readinessProbe?.httpGet?.scheme?.toUpperCase() === 'HTTPS';
    let ready = false;
    let marking = false;
    const poll = setInterval(() => {
      if (marking) return;
      // A tcpSocket probe (e.g. a function serving mTLS, which an HTTP probe cannot pass) only connects.
      void (tcpPort === undefined ? probe(run.ip, port, probePath, probeHttps) : probeTcp(run.ip, port)).then(async (ok) => {
        if (!ok || ready || marking || run.stopped) return;
        marking = true;
        // The API server may be down (chaos tests): keep probing and marking until it answers,
        // rather than leave the pod unready or let the rejection end the agent.
        try {
          await this.#markReady(pod, run, c, started);
          ready = true;
          clearInterval(poll);
          log.info({ container: c.name }, 'container ready');
        } catch (err) {
          log.warn({ err, container: c.name }, 'could not mark the pod ready; retrying');
        } finally {
          marking = false;
        }
      });
    }, 200);
    proc.on('exit', (code) => {
      clearInterval(poll);
      if (run.stopped) return;
      run.restarts += 1;
      const delay = Math.min(30_000, 1000 * 2 ** Math.min(run.restarts, 5));
      log.warn({ container: c.name, code, restartInMs: delay }, 'container exited; restarting');
      void lastLines(path.join(run.dir, 'logs', `${c.name}.log`)).then((tail) => {
        const message = `exited with ${String(code)}: ${tail}`;
        return this.#patchStatus(pod, {
          phase: 'Running',
          podIP: run.ip,
          podIPs: [{ ip: run.ip }],
          conditions: [{ type: 'Ready', status: 'False', reason: 'ContainerExited', message }, { type: 'ContainersReady', status: 'False', reason: 'ContainerExited' }],
          containerStatuses: [{ name: c.name, image: c.image ?? '', imageID: '', ready: false, restartCount: run.restarts, state: { waiting: { reason: 'CrashLoopBackOff', message } } }],
        });
      }).catch(() => undefined);
      setTimeout(() => {
        this.#startMain(pod, run, c, volumes, ns, log);
      }, delay).unref();
    });
  }

  /** Lays out the Pod's volumes as folders: emptyDir, ConfigMap, Secret, projected SA token. Returns volume -> folder. */
  async #prepareVolumes(pod: KubeObject, dir: string, run: RunningPod): Promise<Map<string, string>> {
    const ns = pod.metadata?.namespace ?? 'default';
    const spec = pod.spec as Json;
    const out = new Map<string, string>();
    mkdirSync(path.join(dir, 'logs'), { recursive: true });
    for (const v of (spec.volumes ?? []) as Json[]) {
      const vdir = path.join(dir, 'volumes', v.name as string);
      mkdirSync(vdir, { recursive: true });
      out.set(v.name as string, vdir);
      if (v.configMap) {
        const cm = await this.#getWhenPresent(`/api/v1/namespaces/${ns}/configmaps/${v.configMap.name as string}`, run);
        for (const [k, val] of Object.entries((cm.data ?? {}) as Record<string, string>)) writeFileSync(path.join(vdir, k), val);
      } else if (v.secret) {
        const s = await this.#getWhenPresent(`/api/v1/namespaces/${ns}/secrets/${v.secret.secretName as string}`, run);
        for (const [k, val] of Object.entries((s.data ?? {}) as Record<string, string>)) writeFileSync(path.join(vdir, k), Buffer.from(val, 'base64'), { mode: 0o400 });
      } else if (v.projected) {
        const sa = (spec.serviceAccountName as string | undefined) ?? 'default';
        const tr = await this.#o.client.create<Json>(`/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`, {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { expirationSeconds: 3600, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name, uid: pod.metadata?.uid } },
        });
        writeFileSync(path.join(vdir, 'token'), (tr.status?.token as string | undefined) ?? '', { mode: 0o400 });
        writeFileSync(path.join(vdir, 'namespace'), ns);
        writeFileSync(path.join(vdir, 'ca.crt'), await import('node:fs/promises').then((f) => f.readFile(this.#o.caFile)));
      }
    }
    return out;
  }

  /**
   * A ConfigMap or Secret a volume names. As a kubelet does, waits for one that does not exist yet
   * (a controller may create a pod's ConfigMap after its Deployment) instead of failing the pod.
   */
  async #getWhenPresent(p: string, run: RunningPod, timeoutMs = 120_000): Promise<Json> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await this.#o.client.get<Json>(p);
      } catch (err) {
        if (!isNotFound(err) || run.stopped || Date.now() > deadline) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  #envFor(run: RunningPod, c: Container, volumes: Map<string, string>): Record<string, string> {
    const mounts = (c.volumeMounts ?? []).map((m) => ({ mountPath: m.mountPath, hostPath: volumes.get(m.name) ?? m.mountPath }));
    const env = expandEnv((c.env ?? []).map((e) => ({ name: e.name, value: rewritePaths(e.value ?? '', mounts) })));
    const token = mounts.find((m) => m.mountPath === '/var/run/secrets/kubernetes.io/serviceaccount');
    return {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: volumes.get('tmp') ?? '/tmp',
      TMPDIR: volumes.get('tmp') ?? '/tmp',
      ...env,
      KUBERNETES_SERVICE_HOST: this.#o.apiHost,
      KUBERNETES_SERVICE_PORT: String(this.#o.apiPort),
      // Where a real kubelet would mount the token: containers here cannot see that path, so say where it is.
      ...(token ? { KUBERNETES_SERVICE_ACCOUNT_DIR: token.hostPath } : {}),
      FUNC_HOST: run.ip,
      POD_IP: run.ip,
    };
  }

  #spawn(run: RunningPod, c: Container, volumes: Map<string, string>, _ns: string): ChildProcess {
    const lc = localCommand(c, this.#family(c.image));
    const env = this.#envFor(run, c, volumes);
    if (lc.outsideNetns) {
      // A real install image carries the registries' trust and settings; here they are the machine's.
      for (const [k, v] of Object.entries(process.env)) {
        if (v !== undefined && /^(SSL_CERT_|NODE_EXTRA_CA_CERTS$|REQUESTS_CA_BUNDLE$|PIP_|npm_config_|NPM_CONFIG_|HTTPS?_PROXY$|NO_PROXY$)/i.test(k)) env[k] ??= v;
      }
    }
    // A deps install needs the registries: run it in the namespace outside the stack, which the
    // stack script names (KUBELESS_OUTSIDE_NETNS); without one we are outside already.
    const outside = process.env.KUBELESS_OUTSIDE_NETNS;
    const [cmd, args] = lc.outsideNetns && outside ? ['ip', ['netns', 'exec', outside, lc.command, ...lc.args]] : [lc.command, lc.args];
    const out = createWriteStream(path.join(run.dir, 'logs', `${c.name}.log`), { flags: 'a' });
    const proc = spawn(cmd, args, { env, cwd: volumes.get('kubeless-code') ?? run.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout.pipe(out, { end: false });
    proc.stderr.pipe(out, { end: false });
    run.procs.set(c.name, proc);
    return proc;
  }

  async #runToCompletion(run: RunningPod, c: Container, volumes: Map<string, string>, ns: string): Promise<number> {
    let proc: ChildProcess;
    try {
      proc = this.#spawn(run, c, volumes, ns);
    } catch (err) {
      writeFileSync(path.join(run.dir, 'logs', `${c.name}.log`), `${(err as Error).message}\n`, { flag: 'a' });
      return 127;
    }
    return new Promise((resolve) => {
      proc.on('exit', (code) => {
        resolve(code ?? 1);
      });
      proc.on('error', () => {
        resolve(127);
      });
    });
  }

  /** Marks a pod whose main container answers its probe as Running and Ready. */
  #markReady(pod: KubeObject, run: RunningPod, c: Container, started: string): Promise<void> {
    return this.#patchStatus(pod, {
      phase: 'Running',
      podIP: run.ip,
      podIPs: [{ ip: run.ip }],
      hostIP: '127.0.0.1',
      hostIPs: [{ ip: '127.0.0.1' }],
      startTime: started,
      conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({ type, status: 'True', lastTransitionTime: started })),
      containerStatuses: [{ name: c.name, image: c.image ?? '', imageID: '', ready: true, started: true, restartCount: run.restarts, state: { running: { startedAt: started } } }],
    });
  }

  async #patchStatus(pod: KubeObject, status: Json): Promise<void> {
    await this.#o.client.mergePatch(`/api/v1/namespaces/${pod.metadata?.namespace ?? ''}/pods/${pod.metadata?.name ?? ''}/status`, { status });
  }

  async #stopPod(uid: string): Promise<void> {
    const run = this.#running.get(uid);
    if (!run) return;
    run.stopped = true;
    this.#running.delete(uid);
    await Promise.all(
      [...run.procs.values()].map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) {
              resolve();
              return;
            }
            p.once('exit', () => {
              resolve();
            });
            p.kill('SIGTERM');
            setTimeout(() => p.kill('SIGKILL'), 5000).unref();
          }),
      ),
    );
    this.#usedIps.delete(run.ip);
    await rm(run.dir, { recursive: true, force: true }).catch(() => undefined);
  }

  /** The log file of a container of a running pod, for the log endpoint. */
  logFile(namespace: string, pod: string, container: string): string | undefined {
    for (const r of this.#running.values()) if (r.key === `${namespace}/${pod}`) return path.join(r.dir, 'logs', `${container}.log`);
    return undefined;
  }
}

/** An httpGet probe; over HTTPS without verifying the certificate, as the kubelet does. */
function probe(ip: string, port: number, p: string, tls = false): Promise<boolean> {
  return new Promise((resolve) => {
    const get = tls ? https.get : http.get;
    const req = get({ host: ip, port, path: p, timeout: 1000, ...(tls ? { rejectUnauthorized: false } : {}) }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 500) < 400);
    });
    req.on('error', () => {
      resolve(false);
    });
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

function probeTcp(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: ip, port, timeout: 1000 }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => {
      resolve(false);
    });
    socket.on('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

async function lastLines(file: string, n = 5): Promise<string> {
  try {
    const { readFile } = await import('node:fs/promises');
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-n).join(' | ');
  } catch {
    return '';
  }
}
