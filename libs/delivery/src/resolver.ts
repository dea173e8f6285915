import type { KubeObject } from '@kubeless/controller';
import { DeliveryError } from './errors.js';

/** The function a trigger delivers to: its Service has the function's name (function controller). */
export interface FunctionTarget {
  namespace: string;
  name: string;
}

/**
 * Where the next request for a function goes. Resolution is synchronous, from caches kept by
 * informers, so it can run per request. Throws a retriable DeliveryError `NoEndpoints` when the
 * function has no Service (or no ready endpoint) yet.
 */
export interface EndpointResolver {
  resolve(target: FunctionTarget): URL;
}

interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
}
interface Service extends KubeObject {
  spec?: { ports?: ServicePort[] };
}
interface EndpointSlice extends KubeObject {
  addressType?: string;
  endpoints?: { addresses: string[]; conditions?: { ready?: boolean | null; terminating?: boolean | null } }[] | null;
  ports?: { name?: string | null; port?: number | null }[] | null;
}

/** The read side of the caches the resolvers use (an Informer fits). */
export interface ObjectCache<T extends KubeObject> {
  get(namespace: string | undefined, name: string): T | undefined;
  on(event: 'add' | 'update' | 'delete', handler: (obj: T) => void): unknown;
  list(): T[];
}

const noEndpoints = (t: FunctionTarget, why: string): DeliveryError =>
  new DeliveryError('NoEndpoints', `function ${t.namespace}/${t.name}: ${why}`, { retriable: true });

/** The first port of the function's Service `svc` (the Service's port, not its targetPort: docs/delivery.md#endpoints). */
function servicePort(svc: Service | undefined, t: FunctionTarget): ServicePort {
  if (!svc) throw noEndpoints(t, 'no Service yet');
  const port = svc.spec?.ports?.[0];
  if (!port) throw noEndpoints(t, 'Service has no port');
  return port;
}

/** Why a function must not be delivered to (its Service routes out of its namespace); checked per resolve. */
export type TargetGuard = (t: FunctionTarget) => { reason: string; message: string } | undefined;

function guarded(guard: TargetGuard | undefined, t: FunctionTarget): void {
  const problem = guard?.(t);
  // Retriable: the trigger's plan stops the consumer for such a function, and an edit may fix it.
  if (problem) throw new DeliveryError('ForeignEndpoints', `function ${t.namespace}/${t.name}: ${problem.message}`, { retriable: true });
}

/**
 * The default: the Service's cluster DNS name and port,
 * `<scheme>://<name>.<namespace>.svc.<clusterDomain>:<port>`; kube-proxy balances.
 */
export class ServiceDnsResolver implements EndpointResolver {
  readonly #services: ObjectCache<Service>;
  readonly #scheme: 'http' | 'https';
  readonly #domain: string;
  readonly #guard: TargetGuard | undefined;
  /** The URL made for a target, kept while its Service is the same object (a URL per request cost microseconds). */
  readonly #urls = new WeakMap<FunctionTarget, { svc: Service; url: URL }>();

  constructor(services: ObjectCache<Service>, options: { scheme?: 'http' | 'https'; clusterDomain?: string; guard?: TargetGuard | undefined } = {}) {
    this.#services = services;
    this.#scheme = options.scheme ?? 'http';
    this.#domain = options.clusterDomain ?? 'cluster.local';
    this.#guard = options.guard;
  }

  resolve(t: FunctionTarget): URL {
    guarded(this.#guard, t);
    const svc = this.#services.get(t.namespace, t.name);
    const cached = this.#urls.get(t);
    if (svc && cached?.svc === svc) return cached.url;
    const port = servicePort(svc, t);
    const url = new URL(`${this.#scheme}://${t.name}.${t.namespace}.svc.${this.#domain}:${String(port.port)}/`);
    if (svc) this.#urls.set(t, { svc, url });
    return url;
  }
}

/**
 * Straight to the ready endpoints of the Service's EndpointSlices, round robin per request (no
 * kube-proxy hop; the tests' stand-in functions behind hand-made EndpointSlices use it). The slice
 * port is the one named like the Service's port (or the only one). Indexes slices by Service as the
 * cache changes.
 */
export class EndpointSliceResolver implements EndpointResolver {
  readonly #services: ObjectCache<Service>;
  readonly #scheme: 'http' | 'https';
  readonly #slices = new Map<string, Map<string, EndpointSlice>>();
  /** Bumped by every change of the slices or Services: a target's ready URLs are made again after one. */
  #generation = 0;
  readonly #ready = new WeakMap<FunctionTarget, { generation: number; urls: URL[]; next: number }>();
  readonly #guard: TargetGuard | undefined;

  constructor(services: ObjectCache<Service>, slices: ObjectCache<EndpointSlice>, options: { scheme?: 'http' | 'https'; guard?: TargetGuard | undefined } = {}) {
    this.#services = services;
    this.#scheme = options.scheme ?? 'http';
    this.#guard = options.guard;
    const put = (s: EndpointSlice): void => {
      const key = sliceKey(s);
      if (!key) return;
      let m = this.#slices.get(key);
      if (!m) {
        m = new Map<string, EndpointSlice>();
        this.#slices.set(key, m);
      }
      m.set(s.metadata?.name ?? '', s);
      this.#generation++;
    };
    const drop = (s: EndpointSlice): void => {
      const key = sliceKey(s);
      if (!key) return;
      this.#slices.get(key)?.delete(s.metadata?.name ?? '');
      this.#generation++;
    };
    for (const s of slices.list()) put(s);
    slices.on('add', put);
    slices.on('update', put);
    slices.on('delete', drop);
    // A changed Service port changes which slice port is picked; a deleted Service has no endpoints.
    const invalidate = (): void => {
      this.#generation++;
    };
    services.on('update', invalidate);
    services.on('add', invalidate);
    services.on('delete', invalidate);
  }

  resolve(t: FunctionTarget): URL {
    guarded(this.#guard, t);
    let ready = this.#ready.get(t);
    if (ready?.generation !== this.#generation) {
      // The round robin goes on where it was.
      ready = { generation: this.#generation, urls: this.#compute(t), next: ready?.next ?? 0 };
      this.#ready.set(t, ready);
    }
    const urls = ready.urls;
    if (urls.length === 0) throw noEndpoints(t, 'no ready endpoint');
    const i = ready.next % urls.length;
    ready.next = (i + 1) % urls.length;
    const url = urls[i];
    if (!url) throw noEndpoints(t, 'no ready endpoint');
    return url;
  }

  #compute(t: FunctionTarget): URL[] {
    const port = servicePort(this.#services.get(t.namespace, t.name), t);
    const urls: URL[] = [];
    for (const s of this.#slices.get(`${t.namespace}/${t.name}`)?.values() ?? []) {
      const ports = s.ports ?? [];
      const p = ports.length === 1 ? ports[0] : ports.find((x) => (x.name ?? '') === (port.name ?? ''));
      if (typeof p?.port !== 'number') continue;
      for (const ep of s.endpoints ?? []) {
        if (ep.conditions?.ready === false || ep.conditions?.terminating === true) continue;
        for (const addr of ep.addresses) {
          const host = s.addressType === 'IPv6' ? `[${addr}]` : addr;
          urls.push(new URL(`${this.#scheme}://${host}:${String(p.port)}/`));
        }
      }
    }
    return urls;
  }
}

function sliceKey(s: EndpointSlice): string | undefined {
  const svc = s.metadata?.labels?.['kubernetes.io/service-name'];
  return svc ? `${s.metadata?.namespace ?? ''}/${svc}` : undefined;
}
