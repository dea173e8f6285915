/**
 * Traefik v3 as the stack's real ingress controller (INFRA.md §G): the `traefik.io`, Gateway API
 * and (minimal) Kong CRDs, the IngressClasses `traefik` and `nginx`, and one Traefik process with
 * the Ingress, CRD and NGINX-annotation providers, reading the API server through the admin
 * kubeconfig. Its entrypoints listen on 127.0.0.1 inside the stack's network namespace and reach
 * function pods on their pod IPs through the EndpointSlices.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { apiGet, apiRequest, type ComponentContext } from './components.js';
import { installCrds } from './crds.js';
import { cacheDir, STACK_ROOT } from './paths.js';
import { freePorts } from './ports.js';
import { isAlive, startDaemon, type DaemonRecord } from './procs.js';
import { waitFor } from './wait.js';

/** The entrypoints Traefik serves, as `host:port`. */
export interface TraefikAddresses {
  /** Plain HTTP entrypoint `web`. */
  TRAEFIK_WEB: string;
  /** TLS entrypoint `websecure` (certificates from the Ingresses' `spec.tls` Secrets). */
  TRAEFIK_WEBSECURE: string;
  /** The `traefik` entrypoint: /ping and the read-only /api (routers, middlewares, services). */
  TRAEFIK_API: string;
}

/** IngressClass name -> controller that claims it (§G.2). */
export const INGRESS_CLASSES: Record<string, string> = {
  traefik: 'traefik.io/ingress-controller',
  nginx: 'k8s.io/ingress-nginx',
};

function traefikVersion(): string {
  const m = /^TRAEFIK_VERSION=(\S+)$/m.exec(readFileSync(path.join(STACK_ROOT, 'build', 'versions.sh'), 'utf8'));
  if (!m?.[1]) throw new Error('versions.sh has no TRAEFIK_VERSION');
  return m[1];
}

/** Where build/traefik.sh caches the binary and the CRDs. */
export function traefikPaths(cache: string = cacheDir()): { binary: string; crds: string; kongCrds: string } {
  const dir = path.join(cache, `traefik-${traefikVersion()}`);
  return { binary: path.join(dir, 'traefik'), crds: path.join(dir, 'crds'), kongCrds: path.join(STACK_ROOT, 'crds', 'kong') };
}

async function ensureIngressClasses(ctx: Pick<ComponentContext, 'pkiDir' | 'ports'>): Promise<void> {
  for (const [name, controller] of Object.entries(INGRESS_CLASSES)) {
    const body = { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name }, spec: { controller } };
    const res = await apiRequest(ctx, 'PATCH', `/apis/networking.k8s.io/v1/ingressclasses/${name}?fieldManager=kubeless-stack&force=true`, {
      contentType: 'application/apply-patch+yaml',
      data: JSON.stringify(body),
    });
    if (res.status >= 300) throw new Error(`applying IngressClass ${name} failed (${String(res.status)}): ${res.body}`);
  }
}

/**
 * Installs the CRDs and IngressClasses, then starts Traefik and waits for its /ping and for its
 * providers to have loaded (the `kubernetescrd` provider fails without all ten traefik.io CRDs).
 * Throws when the binary is missing (run test/stack/build/build.sh traefik).
 */
export async function startTraefik(
  ctx: Pick<ComponentContext, 'pkiDir' | 'ports' | 'logDir' | 'runDir'>,
  kubeconfig: string,
  /** Called as soon as the process exists, so a failed start can still be stopped. */
  onSpawn: (rec: DaemonRecord) => Promise<void>,
): Promise<{ rec: DaemonRecord; addresses: TraefikAddresses; ports: number[] }> {
  const p = traefikPaths();
  if (!existsSync(p.binary)) throw new Error(`traefik not built: ${p.binary} (run test/stack/build/build.sh traefik)`);
  await installCrds(ctx, p.crds);
  await installCrds(ctx, p.kongCrds);
  await ensureIngressClasses(ctx);
  const [web, websecure, admin] = await freePorts(3);
  const addresses: TraefikAddresses = {
    TRAEFIK_WEB: `127.0.0.1:${String(web)}`,
    TRAEFIK_WEBSECURE: `127.0.0.1:${String(websecure)}`,
    TRAEFIK_API: `127.0.0.1:${String(admin)}`,
  };
  // In-cluster detection would win over KUBECONFIG (§G.2): make sure it cannot trigger.
  const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: kubeconfig };
  delete env.KUBERNETES_SERVICE_HOST;
  delete env.KUBERNETES_SERVICE_PORT;
  const rec = startDaemon(
    'traefik',
    p.binary,
    [
      '--global.checknewversion=false',
      '--global.sendanonymoususage=false',
      `--entrypoints.web.address=${addresses.TRAEFIK_WEB}`,
      `--entrypoints.websecure.address=${addresses.TRAEFIK_WEBSECURE}`,
      '--entrypoints.websecure.http.tls=true',
      `--entrypoints.traefik.address=${addresses.TRAEFIK_API}`,
      '--ping=true',
      // Read-only API on the 127.0.0.1 `traefik` entrypoint: readiness and debugging.
      '--api.insecure=true',
      // Route changes show up quickly (the default batches provider events for 2 s).
      '--providers.providersthrottleduration=100ms',
      '--providers.kubernetesingress=true',
      // Published in the Ingresses' status.loadBalancer, as a cloud load balancer's address would be.
      '--providers.kubernetesingress.ingressendpoint.ip=127.0.0.1',
      '--providers.kubernetescrd=true',
      '--providers.kubernetescrd.allowcrossnamespace=false',
      '--providers.kubernetesingressnginx=true',
      '--log.level=INFO',
    ],
    { log: path.join(ctx.logDir, 'traefik.log'), env },
  );
  await onSpawn(rec);
  const alive = (): string | undefined => (isAlive(rec) ? undefined : `traefik exited; see ${rec.log}`);
  await waitFor('traefik /ping', async () => (await fetch(`http://${addresses.TRAEFIK_API}/ping`)).status === 200, { timeoutMs: 30_000, alive });
  // /api/overview lists the providers once each has started.
  await waitFor(
    'traefik providers',
    async () => {
      const res = await fetch(`http://${addresses.TRAEFIK_API}/api/overview`);
      const body = (await res.json()) as { providers?: string[] };
      return ['KubernetesIngress', 'KubernetesCRD', 'KubernetesIngressNGINX'].every((x) => body.providers?.includes(x));
    },
    { timeoutMs: 30_000, alive },
  );
  // The API server must still answer after Traefik started its informers.
  await apiGet(ctx, '/readyz');
  return { rec, addresses, ports: [web ?? 0, websecure ?? 0, admin ?? 0] };
}
