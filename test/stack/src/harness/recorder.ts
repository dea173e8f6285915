/**
 * Recording functions for the trigger tests: real HTTP servers on pod IPs inside the stack's
 * network namespace, published through a Service and an EndpointSlice like a function pod's.
 */
import { threadId } from 'node:worker_threads';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { KubeClient } from '@kubeless/controller';
import { TEST_ENDPOINT_MANAGER } from '../controllers.js';

export interface Received {
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  at: number;
}

/** What the function answers for one request (default 200). */
export type Behaviour = (r: Received, attempt: number) => { status: number; headers?: Record<string, string>; delayMs?: number };

let nextIp = 0;
/**
 * A fresh address of the stand-ins' part of the pod range (AnyIP 10.244.0.0/17, test/stack/netns.sh),
 * outside the node's bridge: 254 per test worker, in a /24 of its own (from the process id and the
 * thread's, for a pool of threads). Every worker counted from 10.244.250.1 before, so two workers'
 * recorders shared addresses, and a port one closed (its trigger still retrying) could be given to
 * the other's next recorder, which then received the first one's events.
 */
const podIp = (): string => `10.244.${String((process.pid * 31 + threadId * 7) % 128)}.${String((nextIp++ % 254) + 1)}`;

/**
 * A function that records every request. `inFlight`/`maxInFlight` count concurrent requests at the
 * function itself (what the issue asks to measure).
 */
export class Recorder {
  readonly received: Received[] = [];
  readonly byId = new Map<string, Received[]>();
  inFlight = 0;
  maxInFlight = 0;
  behaviour: Behaviour = () => ({ status: 200 });
  /**
   * Requests may also be counted in flight per key (e.g. the Kafka partition, from the headers):
   * a request is in flight from its start until its response ends or its connection closes (the
   * caller gave up on it), and `maxInFlightByKey` keeps the most seen at once per key.
   */
  inFlightKey: ((headers: http.IncomingHttpHeaders) => string | undefined) | undefined;
  readonly maxInFlightByKey = new Map<string, number>();
  readonly #inFlightByKey = new Map<string, number>();
  readonly ip = podIp();
  /** `ip:port` once listening. */
  lastAddress: string | undefined;
  #server: http.Server | undefined;

  /** Listens on the recorder's pod IP; with `tls`, as an https server (e.g. requiring client certificates). */
  async listen(tls?: https.ServerOptions): Promise<number> {
    const handler: http.RequestListener = (req, res) => {
      const chunks: Buffer[] = [];
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      const key = this.inFlightKey?.(req.headers);
      if (key !== undefined) {
        const n = (this.#inFlightByKey.get(key) ?? 0) + 1;
        this.#inFlightByKey.set(key, n);
        this.maxInFlightByKey.set(key, Math.max(n, this.maxInFlightByKey.get(key) ?? 0));
        res.once('close', () => {
          this.#inFlightByKey.set(key, (this.#inFlightByKey.get(key) ?? 1) - 1);
        });
      }
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r: Received = { headers: req.headers, body: Buffer.concat(chunks), at: Date.now() };
        const id = String(req.headers['ce-id'] ?? '');
        const list = this.byId.get(id) ?? [];
        list.push(r);
        this.byId.set(id, list);
        this.received.push(r);
        const b = this.behaviour(r, list.length);
        const finish = (): void => {
          this.inFlight--;
          res.writeHead(b.status, b.headers ?? {});
          res.end(b.status >= 300 ? `failure ${String(b.status)}` : 'ok');
        };
        if (b.delayMs) setTimeout(finish, b.delayMs);
        else finish();
      });
    };
    this.#server = tls ? https.createServer(tls, handler) : http.createServer(handler);
    this.#server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => this.#server?.listen(0, this.ip, resolve));
    const port = (this.#server.address() as AddressInfo).port;
    this.lastAddress = `${this.ip}:${String(port)}`;
    return port;
  }

  /** Distinct event ids received. */
  get ids(): Set<string> {
    return new Set(this.byId.keys());
  }

  async close(): Promise<void> {
    this.#server?.closeAllConnections();
    const server = this.#server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
  }
}

/**
 * A Function object (no function controller runs: the recorder stands in for its pods) with the
 * Service and EndpointSlice a function pod would get.
 */
export async function registerFunction(client: KubeClient, ns: string, name: string, recorder: Recorder, labels: Record<string, string> = {}, tls?: https.ServerOptions): Promise<void> {
  const port = await recorder.listen(tls);
  await client.create(`/apis/kubeless.io/v1beta1/namespaces/${ns}/functions`, {
    apiVersion: 'kubeless.io/v1beta1',
    kind: 'Function',
    metadata: { name, namespace: ns, labels },
    spec: { runtime: 'nodejs24', handler: 'h.f', function: 'module.exports = { f: () => "ok" }', timeout: '10' },
  });
  await client.create(`/api/v1/namespaces/${ns}/services`, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns, labels: { 'created-by': 'kubeless', function: name } },
    spec: { ports: [{ name: 'http-function-port', port: 8080, targetPort: port, protocol: 'TCP' }] },
  });
  await client.create(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${name}-test`, namespace: ns, labels: { 'created-by': 'kubeless', 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': TEST_ENDPOINT_MANAGER } },
    addressType: 'IPv4',
    endpoints: [{ addresses: [recorder.ip], conditions: { ready: true } }],
    ports: [{ name: 'http-function-port', port, protocol: 'TCP' }],
  });
}

