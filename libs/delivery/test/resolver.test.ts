import type { KubeObject } from '@kubeless/controller';
import { describe, expect, it } from 'vitest';
import { DeliveryError, EndpointSliceResolver, ServiceDnsResolver } from '../src/index.js';
import { MemoryCache } from './helpers.js';

const target = { namespace: 'team-a', name: 'hello' };

const service = (ports: { name?: string; port: number; targetPort?: number | string }[], name = 'hello', namespace = 'team-a'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace },
  spec: { ports },
});

interface Ep {
  addresses: string[];
  ready?: boolean | null;
  terminating?: boolean | null;
}
const slice = (name: string, endpoints: Ep[], ports: { name?: string | null; port?: number | null }[], opts: { service?: string; namespace?: string; addressType?: string } = {}): KubeObject => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: opts.namespace ?? 'team-a', labels: { 'kubernetes.io/service-name': opts.service ?? 'hello' } },
  addressType: opts.addressType ?? 'IPv4',
  endpoints: endpoints.map((e) => ({
    addresses: e.addresses,
    conditions: { ready: e.ready === undefined ? true : e.ready, terminating: e.terminating ?? false },
  })),
  ports,
});

function expectNoEndpoints(fn: () => unknown, why: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(DeliveryError);
  const e = caught as DeliveryError;
  expect(e.kind).toBe('NoEndpoints');
  expect(e.retriable).toBe(true);
  expect(e.message).toMatch(/team-a\/hello/u);
  expect(e.message).toMatch(why);
}

const hosts = (urls: URL[]): string[] => urls.map((u) => u.host);

describe('ServiceDnsResolver', () => {
  it("uses the Service's port, not its targetPort", () => {
    const services = new MemoryCache<KubeObject>();
    services.set(service([{ name: 'http-function-port', port: 8080, targetPort: 9999 }]));
    const url = new ServiceDnsResolver(services).resolve(target);
    expect(url.href).toBe('http://hello.team-a.svc.cluster.local:8080/');
  });

  it('takes the scheme and cluster domain from its options', () => {
    const services = new MemoryCache<KubeObject>();
    services.set(service([{ port: 443, targetPort: 8443 }]));
    const url = new ServiceDnsResolver(services, { scheme: 'https', clusterDomain: 'corp.internal' }).resolve(target);
    expect(url.href).toBe('https://hello.team-a.svc.corp.internal/'); // 443 is https' default port
    expect(url.hostname).toBe('hello.team-a.svc.corp.internal');
  });

  it('follows the cache: a Service added later, a port changed', () => {
    const services = new MemoryCache<KubeObject>();
    const r = new ServiceDnsResolver(services);
    expectNoEndpoints(() => r.resolve(target), /no Service/u);
    services.set(service([{ port: 8080 }]));
    expect(r.resolve(target).port).toBe('8080');
    services.set(service([{ port: 9090 }]));
    expect(r.resolve(target).port).toBe('9090');
    services.delete('team-a', 'hello');
    expectNoEndpoints(() => r.resolve(target), /no Service/u);
  });

  it('throws NoEndpoints for a Service without ports, and keeps namespaces apart', () => {
    const services = new MemoryCache<KubeObject>();
    services.set(service([]));
    services.set(service([{ port: 8080 }], 'hello', 'team-b'));
    const r = new ServiceDnsResolver(services);
    expectNoEndpoints(() => r.resolve(target), /no port/u);
    expect(r.resolve({ namespace: 'team-b', name: 'hello' }).hostname).toBe('hello.team-b.svc.cluster.local');
  });
});

describe('EndpointSliceResolver', () => {
  const setup = (): { services: MemoryCache<KubeObject>; slices: MemoryCache<KubeObject>; r: EndpointSliceResolver } => {
    const services = new MemoryCache<KubeObject>();
    const slices = new MemoryCache<KubeObject>();
    services.set(service([{ name: 'http-function-port', port: 8080, targetPort: 8080 }]));
    return { services, slices, r: new EndpointSliceResolver(services, slices) };
  };
  const take = (r: EndpointSliceResolver, n: number): string[] => Array.from({ length: n }, () => r.resolve(target).host);

  it('returns only ready endpoints, at the slice port, round robin', () => {
    const { slices, r } = setup();
    slices.set(
      slice(
        'hello-abc',
        [
          { addresses: ['10.0.0.1'] },
          { addresses: ['10.0.0.2'], ready: false },
          { addresses: ['10.0.0.3'], ready: true, terminating: true },
          { addresses: ['10.0.0.4'], ready: null }, // unknown readiness counts as ready
        ],
        [{ name: 'http-function-port', port: 8081 }],
      ),
    );
    expect(take(r, 6)).toEqual(['10.0.0.1:8081', '10.0.0.4:8081', '10.0.0.1:8081', '10.0.0.4:8081', '10.0.0.1:8081', '10.0.0.4:8081']);
    expect(r.resolve(target).protocol).toBe('http:');
  });

  it('balances across several slices and several addresses', () => {
    const { slices, r } = setup();
    slices.set(slice('hello-1', [{ addresses: ['10.0.0.1'] }, { addresses: ['10.0.0.2'] }], [{ name: 'http-function-port', port: 8080 }]));
    slices.set(slice('hello-2', [{ addresses: ['10.0.1.1'] }], [{ name: 'http-function-port', port: 8080 }]));
    const seen = take(r, 30);
    const counts = new Map<string, number>();
    for (const h of seen) counts.set(h, (counts.get(h) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual(['10.0.0.1:8080', '10.0.0.2:8080', '10.0.1.1:8080']);
    expect([...counts.values()]).toEqual([10, 10, 10]);
  });

  it('picks the slice port named like the Service port when there are several', () => {
    const services = new MemoryCache<KubeObject>();
    const slices = new MemoryCache<KubeObject>();
    services.set(service([{ name: 'http', port: 80, targetPort: 8080 }, { name: 'metrics', port: 9100 }]));
    slices.set(slice('hello-1', [{ addresses: ['10.0.0.1'] }], [{ name: 'metrics', port: 9100 }, { name: 'http', port: 8080 }]));
    const r = new EndpointSliceResolver(services, slices);
    expect(r.resolve(target).host).toBe('10.0.0.1:8080');
    // The Service's first port renamed: the other slice port is picked.
    services.set(service([{ name: 'metrics', port: 9100 }]));
    expect(r.resolve(target).host).toBe('10.0.0.1:9100');
  });

  it('skips a slice without a matching port', () => {
    const { slices, r } = setup();
    slices.set(slice('hello-1', [{ addresses: ['10.0.0.1'] }], [{ name: 'other', port: 1 }, { name: 'another', port: 2 }]));
    slices.set(slice('hello-2', [{ addresses: ['10.0.0.2'] }], [{ name: 'http-function-port', port: null }]));
    expectNoEndpoints(() => r.resolve(target), /no ready endpoint/u);
  });

  it('sees slices that were in the cache before it was made', () => {
    const services = new MemoryCache<KubeObject>();
    const slices = new MemoryCache<KubeObject>();
    services.set(service([{ name: 'http-function-port', port: 8080 }]));
    slices.set(slice('hello-1', [{ addresses: ['10.0.0.9'] }], [{ name: 'http-function-port', port: 8080 }]));
    expect(new EndpointSliceResolver(services, slices).resolve(target).host).toBe('10.0.0.9:8080');
  });

  it('reflects slice updates and deletes', () => {
    const { slices, r } = setup();
    const port = [{ name: 'http-function-port', port: 8080 }];
    slices.set(slice('hello-1', [{ addresses: ['10.0.0.1'] }], port));
    expect(take(r, 2)).toEqual(['10.0.0.1:8080', '10.0.0.1:8080']);
    // A pod becomes ready, another one stops.
    slices.set(slice('hello-1', [{ addresses: ['10.0.0.1'], ready: false, terminating: true }, { addresses: ['10.0.0.2'] }], port));
    expect(take(r, 3)).toEqual(['10.0.0.2:8080', '10.0.0.2:8080', '10.0.0.2:8080']);
    slices.set(slice('hello-2', [{ addresses: ['10.0.0.3'] }], port));
    expect(new Set(take(r, 4))).toEqual(new Set(['10.0.0.2:8080', '10.0.0.3:8080']));
    slices.delete('team-a', 'hello-1');
    expect(take(r, 2)).toEqual(['10.0.0.3:8080', '10.0.0.3:8080']);
    slices.delete('team-a', 'hello-2');
    expectNoEndpoints(() => r.resolve(target), /no ready endpoint/u);
  });

  it('throws NoEndpoints when no endpoint is ready, or there is no Service', () => {
    const { services, slices, r } = setup();
    expectNoEndpoints(() => r.resolve(target), /no ready endpoint/u);
    slices.set(slice('hello-1', [{ addresses: ['10.0.0.1'], ready: false }], [{ name: 'http-function-port', port: 8080 }]));
    expectNoEndpoints(() => r.resolve(target), /no ready endpoint/u);
    slices.set(slice('hello-1', [{ addresses: ['10.0.0.1'] }], [{ name: 'http-function-port', port: 8080 }]));
    expect(r.resolve(target).host).toBe('10.0.0.1:8080');
    services.delete('team-a', 'hello');
    expectNoEndpoints(() => r.resolve(target), /no Service/u);
  });

  it("ignores other Services' slices, other namespaces and unlabelled slices", () => {
    const { slices, r } = setup();
    const port = [{ name: 'http-function-port', port: 8080 }];
    slices.set(slice('other-1', [{ addresses: ['10.9.9.9'] }], port, { service: 'other' }));
    slices.set(slice('hello-x', [{ addresses: ['10.8.8.8'] }], port, { namespace: 'team-b' }));
    slices.set({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'nolabel', namespace: 'team-a' }, endpoints: [{ addresses: ['10.7.7.7'] }], ports: port });
    expectNoEndpoints(() => r.resolve(target), /no ready endpoint/u);
    slices.set(slice('hello-1', [{ addresses: ['10.0.0.1'] }], port));
    expect(new Set(take(r, 5))).toEqual(new Set(['10.0.0.1:8080']));
  });

  it('brackets IPv6 addresses and honours the https scheme', () => {
    const services = new MemoryCache<KubeObject>();
    const slices = new MemoryCache<KubeObject>();
    services.set(service([{ name: 'http-function-port', port: 8080 }]));
    slices.set(slice('hello-v6', [{ addresses: ['fd00::1'] }], [{ name: 'http-function-port', port: 8443 }], { addressType: 'IPv6' }));
    const url = new EndpointSliceResolver(services, slices, { scheme: 'https' }).resolve(target);
    expect(url.href).toBe('https://[fd00::1]:8443/');
    expect(hosts([url])).toEqual(['[fd00::1]:8443']);
  });
});
