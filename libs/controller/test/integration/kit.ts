/**
 * Helpers of the kit's own integration tests: an admin KubeClient on the stack, a throwaway
 * namespaced CRD with a status subresource, and a TCP proxy to the API server that a test stops
 * and starts to cut a client off for real (its connections are reset, new ones refused).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { KubeConfig } from '@kubernetes/client-node';
import { eventually, kubeConfig, stackEnv, uniqueName } from '@kubeless/stack';
import { KubeClient, type KubeObject, type ResourceType } from '../../src/index.js';

/** A client of the stack's admin (system:masters), or of another `kc`. */
export function adminClient(userAgent: string, kc: KubeConfig = kubeConfig('admin')): KubeClient {
  return new KubeClient(kc, { userAgent });
}

/** A namespaced kind of this test's own, `Widget<suffix>` in `kit.test.kubeless.io`, with status. */
export interface TestCrd {
  resource: ResourceType;
  /** The CRD's name (`<plural>.<group>`). */
  name: string;
  create: () => Promise<void>;
  /** Deletes the CRD (and so every object of the kind) and waits until it is gone. */
  remove: () => Promise<void>;
}

const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

export function testCrd(client: KubeClient): TestCrd {
  const suffix = uniqueName('w').slice(2);
  const plural = `widgets${suffix}`;
  const group = 'kit.test.kubeless.io';
  const name = `${plural}.${group}`;
  const resource: ResourceType = { group, version: 'v1', kind: `Widget${suffix}`, plural, namespaced: true };
  const body: KubeObject = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name },
    spec: {
      group,
      scope: 'Namespaced',
      names: { plural, singular: `widget${suffix}`, kind: resource.kind, listKind: `${resource.kind}List` },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  };
  return {
    resource,
    name,
    create: async () => {
      await client.create(CRD_PATH, body);
      // Established, and the kind served: a list answers 200 (not 404) once the handler is installed.
      await eventually(
        `CRD ${name} served`,
        async () => {
          const crd = await client.get<KubeObject & { status?: { conditions?: { type: string; status: string }[] } }>(`${CRD_PATH}/${name}`);
          if (!crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return false;
          return client.list(`/apis/${group}/v1/${plural}`).then(
            () => true,
            () => false,
          );
        },
        30_000,
      );
    },
    remove: async () => {
      await client.delete(`${CRD_PATH}/${name}`).catch(() => undefined);
      await eventually(
        `CRD ${name} gone`,
        () =>
          client.get(`${CRD_PATH}/${name}`).then(
            () => false,
            (err: unknown) => (err as { status?: number }).status === 404,
          ),
        60_000,
      );
    },
  };
}

/**
 * A TCP proxy on 127.0.0.1 to the API server of `kc` (its certificate names 127.0.0.1, so TLS
 * still verifies). `stop()` resets every connection and refuses new ones; `start()` listens again
 * on the same port. `kubeConfig` points a client at it with the same credentials.
 */
export class ApiProxy {
  readonly #target: URL;
  readonly #kc: KubeConfig;
  readonly #sockets = new Set<net.Socket>();
  #server: net.Server | undefined;
  #port = 0;
  /** Connections accepted so far. */
  connections = 0;
  /** When true, every new connection is reset at once (an API server that accepts and drops). */
  rejecting = false;

  constructor(kc: KubeConfig = kubeConfig('admin')) {
    this.#kc = kc;
    const server = kc.getCurrentCluster()?.server;
    if (!server) throw new Error('kubeconfig has no current cluster');
    this.#target = new URL(server);
  }

  get port(): number {
    return this.#port;
  }

  async start(): Promise<void> {
    const server = net.createServer((down) => {
      this.connections++;
      if (this.rejecting) {
        down.resetAndDestroy();
        return;
      }
      const up = net.connect(Number(this.#target.port || 443), this.#target.hostname);
      for (const s of [down, up]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {
          down.destroy();
          up.destroy();
        });
      }
      down.pipe(up).pipe(down);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => {
        resolve();
      });
    });
    this.#port = (server.address() as net.AddressInfo).port;
    this.#server = server;
  }

  /** Resets every connection through the proxy and stops listening. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.resetAndDestroy();
    this.#sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => {
      resolve();
    }));
  }

  /** The kubeconfig's credentials, with its server replaced by this proxy. */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: this.#kc.clusters.map((c) => ({ ...c, server: `https://127.0.0.1:${String(this.#port)}` })),
      users: this.#kc.users,
      contexts: this.#kc.contexts,
      currentContext: this.#kc.currentContext,
    });
    return kc;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface AuditEvent {
  verb: string;
  userAgent?: string;
  requestURI: string;
  stage: string;
  requestReceivedTimestamp: string;
  responseStatus?: { code?: number };
}

/** The audit log's current size: pass it to `auditedRequests` to read only what came after. */
export async function auditMark(): Promise<number> {
  return (await stat(stackEnv().AUDIT_LOG)).size;
}

/**
 * Requests of one user agent, from the API server's audit log (Metadata level), read from `from`
 * (an `auditMark`; the whole suite's log reaches hundreds of MB). From the start when the log was
 * rotated since.
 */
export async function auditedRequests(userAgent: string, from = 0): Promise<AuditEvent[]> {
  const file = stackEnv().AUDIT_LOG;
  const start = (await stat(file)).size >= from ? from : 0;
  const lines = createInterface({ input: createReadStream(file, { start }), crlfDelay: Infinity });
  const out: AuditEvent[] = [];
  const needle = `"userAgent":"${userAgent}"`;
  for await (const line of lines) {
    if (!line.includes(needle)) continue;
    try {
      const e = JSON.parse(line) as AuditEvent;
      if (e.stage === 'ResponseComplete' || e.stage === 'ResponseStarted') out.push(e);
    } catch {
      // a line cut by the mark
    }
  }
  return out;
}

/** Polls a condition on local state (a cache, a flag) until it holds. */
export function until(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<true> {
  return eventually(what, () => Promise.resolve(cond() || undefined), timeoutMs);
}
