/**
 * Traefik v3 as the stack's real ingress controller (docs/local-stack.md#the-node), run as users
 * run it: a pod on the stack's node (Deployment traefik/traefik, image kubeless.local/traefik:stack
 * from test/stack/images/traefik) on its own ServiceAccount with least-privilege RBAC, reached
 * through the ClusterIP Service traefik/traefik (web 80, websecure 443, the `traefik` entrypoint
 * 9000 with /ping and the read-only /api). Its Ingress, CRD and NGINX-annotation providers read the
 * API server with the pod's token and reach function pods on their pod IPs through the
 * EndpointSlices. The stack also installs the `traefik.io`, Gateway API and (minimal) Kong CRDs and
 * the IngressClasses `traefik` and `nginx`. Tests and tools reach it at the Service's ClusterIP
 * (kube-proxy serves ClusterIPs to the processes of the stack's network namespace too):
 * TRAEFIK_WEB, TRAEFIK_WEBSECURE, TRAEFIK_API. Its log: `kubectl logs -n traefik deploy/traefik`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { apiGet, apiRequest, type ComponentContext } from './components.js';
import { installCrds } from './crds.js';
import { applyAll, workloadReady } from './node/node.js';
import { NODE, STACK_IMAGES } from './node/config.js';
import { cacheDir, STACK_ROOT } from './paths.js';
import { waitFor } from './wait.js';

/** The entrypoints Traefik serves, as `host:port` (the Service's ClusterIP and ports). */
export interface TraefikAddresses {
  /** Plain HTTP entrypoint `web`. */
  TRAEFIK_WEB: string;
  /** TLS entrypoint `websecure` (certificates from the Ingresses' `spec.tls` Secrets). */
  TRAEFIK_WEBSECURE: string;
  /** The `traefik` entrypoint: /ping and the read-only /api (routers, middlewares, services). */
  TRAEFIK_API: string;
}

/**
 * IngressClass name -> controller that claims it: Traefik's Ingress and NGINX providers process an
 * Ingress only when its class exists and names their controller.
 */
export const INGRESS_CLASSES: Record<string, string> = {
  traefik: 'traefik.io/ingress-controller',
  nginx: 'k8s.io/ingress-nginx',
};

/** Where Traefik runs: its namespace, the name of its ServiceAccount, Deployment and Service, and its ports. */
export const TRAEFIK = {
  namespace: 'traefik',
  name: 'traefik',
  /** Entrypoint -> [Service port, container port]; unprivileged container ports (no NET_BIND_SERVICE). */
  ports: { web: [80, 8000], websecure: [443, 8443], traefik: [9000, 9000] },
} as const;

function traefikVersion(): string {
  const m = /^TRAEFIK_VERSION=(\S+)$/m.exec(readFileSync(path.join(STACK_ROOT, 'build', 'versions.sh'), 'utf8'));
  if (!m?.[1]) throw new Error('versions.sh has no TRAEFIK_VERSION');
  return m[1];
}

/** Where build/traefik.sh caches the CRDs (its binary goes into the image, build/images.sh). */
export function traefikPaths(cache: string = cacheDir()): { crds: string; kongCrds: string } {
  const dir = path.join(cache, `traefik-${traefikVersion()}`);
  return { crds: path.join(dir, 'crds'), kongCrds: path.join(STACK_ROOT, 'crds', 'kong') };
}

/**
 * Traefik's ClusterRole: what its three providers read and write, from Traefik's RBAC manifests (in
 * Traefik's own repository:
 * docs/content/reference/dynamic-configuration/kubernetes-{crd,ingress-nginx}-rbac.yml and the
 * Ingress provider's in routing-configuration/kubernetes/ingress.md, v3.7), cut to what this
 * configuration calls: every read goes through an informer (list and watch, never get), the only
 * write is the Ingress status. Left out: pods get (OpenTelemetry attributes only) and namespaces
 * (the NGINX provider's watchNamespaceSelector only).
 */
const TRAEFIK_RULES = [
  // Services and EndpointSlices for backends, Secrets for TLS and basic auth, ConfigMaps (CRD and
  // NGINX providers), Nodes (the cluster-scope informer of the Ingress and CRD providers, for NodePort LB).
  { apiGroups: [''], resources: ['services', 'secrets', 'configmaps', 'nodes'], verbs: ['list', 'watch'] },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
  { apiGroups: ['networking.k8s.io'], resources: ['ingresses', 'ingressclasses'], verbs: ['list', 'watch'] },
  // The published address (--providers.kubernetesingress.ingressendpoint.publishedservice).
  { apiGroups: ['networking.k8s.io'], resources: ['ingresses/status'], verbs: ['update'] },
  {
    apiGroups: ['traefik.io'],
    resources: ['ingressroutes', 'ingressroutetcps', 'ingressrouteudps', 'middlewares', 'middlewaretcps', 'serverstransports', 'serverstransporttcps', 'tlsoptions', 'tlsstores', 'traefikservices'],
    verbs: ['list', 'watch'],
  },
];

/**
 * The objects that run Traefik, in apply order: its namespace (Pod Security `restricted`
 * enforced), ServiceAccount, ClusterRole and binding, the Service and the Deployment (one
 * replica, the stack's flags, a readiness probe on /ping). Pure.
 * The Service is a ClusterIP one with the node's address as its external IP: for a ClusterIP
 * Service, Traefik's Ingress provider publishes the external IPs (none, not the ClusterIP), so
 * the Ingresses' status carries the node's address, where kube-proxy also serves the Service,
 * as on a bare-metal cluster whose ingress answers on its nodes.
 */
export function traefikManifests(): object[] {
  const { namespace, name } = TRAEFIK;
  const labels = { 'app.kubernetes.io/name': 'traefik' };
  const entrypoints = Object.entries(TRAEFIK.ports);
  const args = [
    '--global.checknewversion=false',
    '--global.sendanonymoususage=false',
    ...entrypoints.map(([ep, [, container]]) => `--entrypoints.${ep}.address=:${String(container)}`),
    '--entrypoints.websecure.http.tls=true',
    '--ping=true',
    // Read-only API on the `traefik` entrypoint: readiness and debugging.
    '--api.insecure=true',
    // Route changes show up quickly (the default batches provider events for 2 s).
    '--providers.providersthrottleduration=100ms',
    '--providers.kubernetesingress=true',
    // Published in the Ingresses' status.loadBalancer (the Service's external IPs, see above).
    `--providers.kubernetesingress.ingressendpoint.publishedservice=${namespace}/${name}`,
    '--providers.kubernetescrd=true',
    '--providers.kubernetescrd.allowcrossnamespace=false',
    '--providers.kubernetesingressnginx=true',
    '--log.level=INFO',
    // Plain text for `kubectl logs` (the console log is coloured by default, terminal or not).
    '--log.nocolor=true',
  ];
  return [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: namespace, labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/warn': 'restricted' } },
    },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules: TRAEFIK_RULES },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace, labels },
      spec: {
        type: 'ClusterIP',
        selector: labels,
        externalIPs: [NODE.ip],
        ports: entrypoints.map(([ep, [port]]) => ({ name: ep, port, targetPort: ep, protocol: 'TCP' })),
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: name,
            securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name,
                image: STACK_IMAGES.traefik,
                // The kubelet may start it before `up` has imported the images into containerd:
                // it then pulls it from the stack's registry.
                imagePullPolicy: 'IfNotPresent',
                args,
                ports: entrypoints.map(([ep, [, container]]) => ({ name: ep, containerPort: container, protocol: 'TCP' })),
                resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '512Mi' } },
                securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
                readinessProbe: { httpGet: { path: '/ping', port: 'traefik' }, periodSeconds: 1 },
                livenessProbe: { httpGet: { path: '/ping', port: 'traefik' }, periodSeconds: 10, failureThreshold: 5 },
              },
            ],
          },
        },
      },
    },
  ];
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
 * The first half of Traefik's start, for as soon as the API server answers: installs the CRDs
 * and IngressClasses and applies `traefikManifests()`. Its pod starts once the node is up (the
 * scheduler places it when the node is Ready). Resolves with the addresses at the Service's
 * ClusterIP.
 */
export async function installTraefik(ctx: Pick<ComponentContext, 'pkiDir' | 'ports'>): Promise<TraefikAddresses> {
  const p = traefikPaths();
  await installCrds(ctx, p.crds);
  await installCrds(ctx, p.kongCrds);
  await ensureIngressClasses(ctx);
  const applied = await applyAll(ctx, traefikManifests());
  const service = applied.find((o) => (o as { kind?: string }).kind === 'Service') as { spec?: { clusterIP?: string } } | undefined;
  const ip = service?.spec?.clusterIP;
  if (!ip) throw new Error(`Service ${TRAEFIK.namespace}/${TRAEFIK.name} has no ClusterIP`);
  const at = (ep: keyof typeof TRAEFIK.ports): string => `${ip}:${String(TRAEFIK.ports[ep][0])}`;
  return { TRAEFIK_WEB: at('web'), TRAEFIK_WEBSECURE: at('websecure'), TRAEFIK_API: at('traefik') };
}

/** The Deployment's pod phases and container states, for an error message. */
async function podSummary(ctx: Pick<ComponentContext, 'pkiDir' | 'ports'>): Promise<string> {
  try {
    const res = await apiGet(ctx, `/api/v1/namespaces/${TRAEFIK.namespace}/pods?labelSelector=app.kubernetes.io%2Fname%3Dtraefik`);
    const pods = (JSON.parse(res.body) as { items?: { metadata: { name: string }; status?: { phase?: string; containerStatuses?: { state?: object }[] } }[] }).items ?? [];
    return pods.map((p) => `${p.metadata.name} ${p.status?.phase ?? '?'} ${JSON.stringify(p.status?.containerStatuses?.map((c) => c.state) ?? [])}`).join('; ') || 'no pod';
  } catch (err) {
    return `pods unknown: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/**
 * The second half, once the node is Ready (after `installTraefik`): waits until the Deployment is
 * available, /ping answers through the Service, and the three providers have loaded (the
 * `kubernetescrd` provider fails without all ten traefik.io CRDs). Throws after 60 s of each,
 * with the pods' state.
 */
export async function waitForTraefik(ctx: Pick<ComponentContext, 'pkiDir' | 'ports'>, addresses: TraefikAddresses): Promise<void> {
  try {
    await workloadReady(ctx, TRAEFIK.namespace, 'Deployment', TRAEFIK.name);
    await waitFor('traefik /ping through its Service', async () => (await fetch(`http://${addresses.TRAEFIK_API}/ping`, { signal: AbortSignal.timeout(5_000) })).status === 200, { timeoutMs: 60_000 });
    // /api/overview lists the providers once each has started.
    await waitFor(
      'traefik providers',
      async () => {
        const res = await fetch(`http://${addresses.TRAEFIK_API}/api/overview`, { signal: AbortSignal.timeout(5_000) });
        const body = (await res.json()) as { providers?: string[] };
        return ['KubernetesIngress', 'KubernetesCRD', 'KubernetesIngressNGINX'].every((x) => body.providers?.includes(x));
      },
      { timeoutMs: 60_000 },
    );
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}; traefik pods: ${await podSummary(ctx)} (kubectl logs -n traefik deploy/traefik)`, { cause: err });
  }
}
