/**
 * After an API server outage (the chaos tests restart and pause it), the components that watch it
 * (the endpointslice controller, kube-proxy, CoreDNS) come back on their own client-go back-off, up
 * to about 30 s later. Until then a new Service gets no EndpointSlice, no rules and no DNS name,
 * and the next test's functions are unreachable. `waitForServiceNetworking` waits until a new
 * Service works end to end again: it gets its EndpointSlice, its name resolves through CoreDNS and
 * its ClusterIP answers through kube-proxy.
 */
import { randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import net from 'node:net';
import { apiRequest, type ComponentContext } from './components.js';
import { NODE } from './node/config.js';
import { waitFor } from './wait.js';

const connects = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: 1000 }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => {
      resolve(false);
    });
    s.on('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });

export async function waitForServiceNetworking(ctx: Pick<ComponentContext, 'pkiDir' | 'ports'>, timeoutMs = 90_000): Promise<void> {
  const name = `kubeless-settle-${randomBytes(3).toString('hex')}`;
  const base = '/api/v1/namespaces/kube-system/services';
  // CoreDNS's own pods back it: they exist whenever the stack is up.
  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { 'k8s-app': 'kube-dns' }, ports: [{ name: 'dns-tcp', port: 53, targetPort: 53, protocol: 'TCP' }] } };
  let clusterIp = '';
  await waitFor(
    'the API server taking a Service',
    async () => {
      const res = await apiRequest(ctx, 'POST', base, { contentType: 'application/json', data: JSON.stringify(svc) });
      if (res.status >= 300) return false;
      clusterIp = (JSON.parse(res.body) as { spec: { clusterIP: string } }).spec.clusterIP;
      return true;
    },
    { timeoutMs },
  );
  try {
    const deadline = Date.now() + timeoutMs;
    const left = (): number => Math.max(1000, deadline - Date.now());
    await waitFor(
      `an EndpointSlice for ${name}`,
      async () => {
        const res = await apiRequest(ctx, 'GET', `/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D${name}`);
        const slices = (JSON.parse(res.body) as { items?: { endpoints?: { conditions?: { ready?: boolean } }[] }[] }).items ?? [];
        return slices.some((s) => (s.endpoints ?? []).some((e) => e.conditions?.ready !== false));
      },
      { timeoutMs: left() },
    );
    const resolver = new Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([NODE.clusterDns]);
    await waitFor(`${name} resolving through CoreDNS`, async () => (await resolver.resolve4(`${name}.kube-system.svc.cluster.local`).catch((): string[] => [])).includes(clusterIp), { timeoutMs: left() });
    await waitFor(`${name} answering on its ClusterIP`, () => connects(clusterIp, 53), { timeoutMs: left() });
  } finally {
    await apiRequest(ctx, 'DELETE', `${base}/${name}`).catch(() => undefined);
  }
}
