/**
 * Test support for the cronjob-trigger against the real stack: stand-in functions (real HTTP
 * servers on pod IPs inside the stack's network namespace, published through a Function, a Service
 * and an EndpointSlice as a function pod's would be), the controller in-process or as its own
 * process on its ServiceAccount, and reads of the API server.
 */
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeClient } from '@kubeless/controller';
import type { Registry } from '@kubeless/observability';
import { TEST_ENDPOINT_MANAGER, eventually, spawnController as spawnStackController, stackEnv, startInProcess } from '@kubeless/stack';
import { buildCronjobTrigger, type CronJobTriggerObject, type CronjobTriggerOptions } from '../../src/index.js';

export { eventually };

export interface Received {
  id: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}

let nextIp = 1;
/** A stand-in's address in the AnyIP part of the stack's pod range (test/stack/netns.sh), apart from the other harnesses'. */
const podIp = (): string => `10.244.249.${String(nextIp++)}`;

/**
 * A function that records every request; `onRequest` may delay its answer (a slow function) and
 * see it arrive (to kill a controller while it is in flight).
 */
export class StandIn {
  readonly received: Received[] = [];
  readonly ip = podIp();
  onRequest: (r: Received, nth: number) => { status: number; delayMs?: number } = () => ({ status: 200 });
  #server: http.Server | undefined;

  async listen(): Promise<number> {
    this.#server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r: Received = { id: decodeURIComponent(String(req.headers['ce-id'] ?? '')), headers: req.headers, body: Buffer.concat(chunks).toString(), at: Date.now() };
        this.received.push(r);
        const b = this.onRequest(r, this.received.filter((x) => x.id === r.id).length);
        const finish = (): void => {
          if (res.destroyed) return;
          res.writeHead(b.status);
          res.end(b.status >= 300 ? 'failure' : 'ok');
        };
        if (b.delayMs) setTimeout(finish, b.delayMs);
        else finish();
      });
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, this.ip, resolve));
    return (this.#server.address() as AddressInfo).port;
  }

  /** Requests per CloudEvent id, in arrival order. */
  byId(): Map<string, Received[]> {
    const m = new Map<string, Received[]>();
    for (const r of this.received) m.set(r.id, [...(m.get(r.id) ?? []), r]);
    return m;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  }
}

/** The test's own client (the admin). */
export function kubeClient(): KubeClient {
  return KubeClient.fromKubeconfig(stackEnv().KUBECONFIG, { userAgent: 'kubeless-test/cronjob-trigger' });
}

export const triggersPath = (ns: string, name?: string): string => `/apis/kubeless.io/v1beta1/namespaces/${ns}/cronjobtriggers${name ? `/${name}` : ''}`;

/** A Function served by `standIn` (no function controller runs), with the Service and EndpointSlice a pod of it would get. */
export async function registerFunction(client: KubeClient, ns: string, name: string, standIn: StandIn): Promise<void> {
  const port = await standIn.listen();
  await client.create(`/apis/kubeless.io/v1beta1/namespaces/${ns}/functions`, {
    apiVersion: 'kubeless.io/v1beta1',
    kind: 'Function',
    metadata: { name, namespace: ns },
    spec: { runtime: 'nodejs24', handler: 'h.f', function: 'module.exports = { f: () => "ok" }', timeout: '20' },
  });
  await client.create(`/api/v1/namespaces/${ns}/services`, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns, labels: { 'created-by': 'kubeless', function: name } },
    spec: { selector: { function: name }, ports: [{ name: 'http-function-port', port: 8080, targetPort: port, protocol: 'TCP' }] },
  });
  await client.create(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${name}-test`, namespace: ns, labels: { 'created-by': 'kubeless', 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': TEST_ENDPOINT_MANAGER } },
    addressType: 'IPv4',
    endpoints: [{ addresses: [standIn.ip], conditions: { ready: true } }],
    ports: [{ name: 'http-function-port', port, protocol: 'TCP' }],
  });
}

/** Creates a CronJobTrigger and returns it as stored. */
export function createTrigger(client: KubeClient, ns: string, name: string, spec: Record<string, unknown>): Promise<CronJobTriggerObject> {
  return client.create<CronJobTriggerObject>(triggersPath(ns), { apiVersion: 'kubeless.io/v1beta1', kind: 'CronJobTrigger', metadata: { name, namespace: ns }, spec });
}

export interface RunningController {
  registry: Registry;
  stop: () => Promise<void>;
}

/** An in-process cronjob-trigger watching `namespace`, leading at once (no Lease), on its own ServiceAccount (startInProcess). */
export function startController(namespace: string, overrides: Partial<CronjobTriggerOptions> = {}): Promise<RunningController> {
  return startInProcess('cronjob-trigger', (ctx) =>
    buildCronjobTrigger({ ...ctx, watchNamespace: namespace, endpointMode: 'endpointslice', trustedEndpointManagers: [TEST_ENDPOINT_MANAGER], maxEventBytes: 1 << 20, resyncMs: 5000, drainTimeoutMs: 2000, ...overrides }),
  );
}

/** The controller as its own process on its ServiceAccount (for SIGKILL), sending to EndpointSlice endpoints (the stand-ins). */
export function spawnController(namespace: string, identity: string, env: Record<string, string> = {}): ChildProcess {
  return spawnStackController('cronjob-trigger', { watchNamespace: namespace, podNamespace: namespace, identity, env: { ENDPOINT_MODE: 'endpointslice', RESYNC_INTERVAL: '5s', ...env } }).child;
}

/** Resolves when the child has exited. */
export function waitExit(c: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) resolve();
    else c.once('exit', () => { resolve(); });
  });
}

/** The minute boundary strictly after `t`. */
export function nextMinute(t: Date | string): Date {
  const ms = typeof t === 'string' ? Date.parse(t) : t.getTime();
  return new Date((Math.floor(ms / 60_000) + 1) * 60_000);
}

export const iso = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/u, 'Z');

/** Resolves at `when` (at once if past). */
export function until(when: Date): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, when.getTime() - Date.now())));
}
