/**
 * The pure half of the function controller: from a Function and kubeless-config to the whole
 * child objects it should own (ConfigMap, Service, Deployment, optional HPA), with deterministic
 * names, owner references and labels. No I/O. A Function that cannot be served yields a
 * `PlanError` with the reason for its status instead of objects; so does one that asks for more
 * than a tenant may (pod fields that escalate and kubeless-config does not turn on, a
 * ServiceAccount name that is not one of its namespace, a Service that would route outside the
 * namespace), so none of its children is applied and those it already has stay as they were.
 */
import { createHash } from 'node:crypto';
import { DEFAULT_FUNCTION_TIMEOUT_SECONDS, endOfLifeHint, resolveRuntime, runtimeIds, serviceSpecProblem, type Function as KubelessFunction, type KubelessConfig } from '@kubeless/api';
import { canonical, controllerRef, type KubeObject } from '@kubeless/controller';
import { mergeUnder } from './merge.js';
import { podFieldMessage, podFieldProblems, serviceAccountNameProblem } from './pod-policy.js';

export const INSTALL_VOLUME = '/kubeless';
export const SRC_DIR = '/src';
export const DEFAULT_PORT = 8080;
export const PORT_NAME = 'http-function-port';
/** Pod template annotation whose change rolls the Deployment (code, deps, runtime, handler...). */
export const CHECKSUM_ANNOTATION = 'kubeless.io/function-checksum';
/** Hash of the desired child, so an unchanged child is not applied again. */
export const SPEC_HASH_ANNOTATION = 'kubeless.io/spec-hash';

export type Json = Record<string, unknown>;

/**
 * A Function this controller refuses to plan (unsupported runtime, bad handler, escalating pod
 * field...): `reason` is the Ready condition's reason. Not retried: only a new spec or
 * kubeless-config changes the answer, and either brings a new reconcile.
 */
export class PlanError extends Error {
  override readonly name = 'PlanError';
  readonly code = 'KUBELESS_FUNCTION_PLAN';
  readonly retriable = false;
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export interface FunctionPlan {
  configMap: KubeObject;
  service: KubeObject;
  deployment: KubeObject;
  /** Undefined: no HPA is wanted (an existing one is deleted). */
  hpa: KubeObject | undefined;
  /** Secrets the pods mount, which must exist. */
  secrets: string[];
  /** ServiceAccount the pods run as, when named. */
  serviceAccountName: string | undefined;
  url: string;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const obj = (v: unknown): Json => (isObject(v) ? v : {});
const arr = (v: unknown): Json[] => (Array.isArray(v) ? v.filter(isObject) : []);

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Labels every child carries: the Function's own, plus `created-by` and `function`. */
export function childLabels(fn: KubelessFunction): Record<string, string> {
  return { ...(fn.metadata.labels ?? {}), 'created-by': 'kubeless', function: fn.metadata.name ?? '' };
}

/** Stamps the spec hash annotation on a desired object (computed without the annotation). */
function withSpecHash(o: KubeObject): KubeObject {
  const meta = o.metadata ?? {};
  const annotations = Object.fromEntries(Object.entries(meta.annotations ?? {}).filter(([k]) => k !== SPEC_HASH_ANNOTATION));
  const hash = sha256(canonical({ ...o, metadata: { ...meta, annotations } })).slice(0, 16);
  return { ...o, metadata: { ...meta, annotations: { ...annotations, [SPEC_HASH_ANNOTATION]: hash } } };
}

function timeoutSeconds(fn: KubelessFunction): string {
  const t = fn.spec.timeout;
  if (t === undefined || t === '') return String(DEFAULT_FUNCTION_TIMEOUT_SECONDS);
  return String(t);
}

/** The module and function parts of `<module>.<function>`. */
function splitHandler(handler: string | undefined): { module: string; fn: string } | undefined {
  if (!handler) return undefined;
  const parts = handler.split('.');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined;
  return { module: parts[0], fn: parts[1] };
}

export function planFunction(fn: KubelessFunction, cfg: KubelessConfig): FunctionPlan {
  const name = fn.metadata.name ?? '';
  const namespace = fn.metadata.namespace ?? 'default';
  const spec = fn.spec;
  const owner = controllerRef(fn as unknown as KubeObject);
  const labels = childLabels(fn);
  const selector = { 'created-by': 'kubeless', function: name };
  const contentType = spec['function-content-type'] ?? '';
  const isArchive = contentType.includes('+zip') || contentType.includes('+compressedtar');

  // --- What a tenant may not ask for, checked on the Function's own template only (kubeless-config's is the operator's).
  const escalating = podFieldProblems(spec.deployment, cfg.podSpecFeatures);
  if (escalating.length > 0) throw new PlanError('PodFieldNotAllowed', podFieldMessage(escalating));

  // --- the Deployment template: the function's own, the config template filling what it lacks.
  const userDeployment = obj(mergeUnder(obj(spec.deployment), cfg.deployment));
  const podSpecIn = obj(obj(obj(userDeployment.spec).template).spec);
  const containersIn = arr(podSpecIn.containers);
  const c0In = containersIn[0] ?? {};
  const customImage = typeof c0In.image === 'string' && c0In.image !== '' ? c0In.image : undefined;

  const runtime = spec.runtime ? resolveRuntime(cfg, spec.runtime) : undefined;
  if (spec.runtime && !runtime) {
    const ids = runtimeIds(cfg);
    throw new PlanError('UnsupportedRuntime', `runtime "${spec.runtime}" is not listed in kubeless-config${endOfLifeHint(spec.runtime, ids)}; supported: ${ids.join(', ')}`);
  }
  if (!runtime && !customImage) throw new PlanError('NoRuntime', 'set a runtime, or an image in deployment.spec.template.spec.containers[0]');
  const injectCode = !customImage && Boolean(spec.function);
  const handler = splitHandler(spec.handler);
  if (injectCode && !handler) throw new PlanError('InvalidHandler', `handler "${spec.handler ?? ''}" is not <module>.<function>`);
  const hasDeps = Boolean(spec.deps) || contentType.includes('+deps');
  if (hasDeps && runtime && !runtime.family.depName) {
    throw new PlanError('DepsNotSupported', `runtime "${spec.runtime ?? ''}" has no dependency file, but the function has deps`);
  }
  if (hasDeps && runtime && !runtime.installation) {
    throw new PlanError('DepsNotSupported', `runtime "${spec.runtime ?? ''}" has no installation phase in kubeless-config`);
  }

  // --- Service: the function's own spec when it has ports, else the default.
  const svcIn = obj(spec.service);
  const portsIn = arr(svcIn.ports);
  const servicePorts = portsIn.length > 0 ? portsIn : [{ name: PORT_NAME, port: DEFAULT_PORT, targetPort: DEFAULT_PORT, protocol: 'TCP' }];
  const port0 = servicePorts[0] ?? {};
  const servicePort = typeof port0.port === 'number' ? port0.port : DEFAULT_PORT;
  const targetPort = typeof port0.targetPort === 'number' ? port0.targetPort : servicePort;
  // The function's own selector keys always, and win: the Service selects only the function's pods.
  const userSelector = Object.fromEntries(Object.entries(obj(svcIn.selector)).filter((e): e is [string, string] => typeof e[1] === 'string'));
  const serviceSpec: Json = {
    ...svcIn,
    ports: servicePorts,
    selector: { ...userSelector, ...selector },
    type: typeof svcIn.type === 'string' && svcIn.type !== '' ? svcIn.type : 'ClusterIP',
  };
  // A Service stays in its namespace: no ExternalName, no externalIPs.
  const serviceProblem = serviceSpecProblem(name, serviceSpec);
  if (serviceProblem) throw new PlanError(serviceProblem.reason, `${serviceProblem.message}; remove it from spec.service`);
  // clusterIP is immutable and allocated by the API server; only "None" (headless) is the user's to set.
  if (serviceSpec.clusterIP !== 'None') delete serviceSpec.clusterIP;
  delete serviceSpec.clusterIPs;

  // --- ConfigMap with the code, the handler and the deps file.
  const fileName = handler ? (isArchive ? handler.module : `${handler.module}${runtime?.family.fileNameSuffix ?? ''}`) : 'function';
  const cmData: Record<string, string> = {};
  if (spec.handler) cmData.handler = spec.handler;
  if (spec.function) cmData[fileName] = spec.function;
  if (runtime?.family.depName && spec.deps) cmData[runtime.family.depName] = spec.deps;

  // --- The pod.
  const memory = obj(obj(c0In.resources).limits).memory;
  const memoryLimit = typeof memory === 'string' || typeof memory === 'number' ? String(memory) : '0';
  const kubelessEnv: Json[] = [];
  if (handler && spec.function) {
    kubelessEnv.push(
      { name: 'FUNC_HANDLER', value: handler.fn },
      { name: 'MOD_NAME', value: handler.module },
      { name: 'FUNC_TIMEOUT', value: timeoutSeconds(fn) },
      { name: 'FUNC_RUNTIME', value: spec.runtime ?? '' },
      { name: 'FUNC_MEMORY_LIMIT', value: memoryLimit },
    );
  }
  kubelessEnv.push({ name: 'FUNC_PORT', value: String(targetPort) });
  if (runtime) {
    kubelessEnv.push({ name: 'KUBELESS_INSTALL_VOLUME', value: INSTALL_VOLUME });
    for (const [k, v] of Object.entries(runtime.runtime.env ?? {})) kubelessEnv.push({ name: k, value: v });
  }
  const userEnv = arr(c0In.env);
  const envNames = new Set(userEnv.map((e) => e.name));
  const env = [...userEnv, ...kubelessEnv.filter((e) => !envNames.has(e.name))];

  const volumes = [...arr(podSpecIn.volumes)];
  const mounts = arr(c0In.volumeMounts).map((m) => ({ ...m }));
  const secrets = volumes.map((v) => obj(v.secret).secretName).filter((s): s is string => typeof s === 'string' && s !== '');
  // Secret volumes are read-only unless the user said otherwise.
  const secretVolumes = new Set(volumes.filter((v) => isObject(v.secret)).map((v) => v.name));
  for (const m of mounts) if (secretVolumes.has(m.name) && m.readOnly === undefined) m.readOnly = true;

  const initContainers: Json[] = [...arr(podSpecIn.initContainers)];
  const checksumInput: Json = {
    function: spec.function ?? '',
    checksum: spec.checksum ?? '',
    contentType,
    deps: spec.deps ?? '',
    handler: spec.handler ?? '',
    runtime: spec.runtime ?? '',
    timeout: timeoutSeconds(fn),
  };
  if (injectCode && runtime) {
    volumes.push({ name: 'kubeless-code', emptyDir: {} }, { name: 'kubeless-src', configMap: { name } });
    mounts.push({ name: 'kubeless-code', mountPath: INSTALL_VOLUME, readOnly: true });
    const prepareEnv: Json[] = [
      { name: 'KUBELESS_SRC_DIR', value: SRC_DIR },
      { name: 'KUBELESS_INSTALL_VOLUME', value: INSTALL_VOLUME },
      { name: 'FUNC_FILE', value: fileName },
      { name: 'FUNC_CONTENT_TYPE', value: contentType },
      { name: 'FUNC_CHECKSUM', value: spec.checksum ?? '' },
    ];
    if (runtime.family.depName) prepareEnv.push({ name: 'KUBELESS_DEPS_NAME', value: runtime.family.depName });
    initContainers.push({
      name: 'prepare',
      image: cfg.provisionImage,
      command: ['node', '/opt/kubeless/prepare.js'],
      env: prepareEnv,
      terminationMessagePolicy: 'FallbackToLogsOnError',
      volumeMounts: [
        { name: 'kubeless-src', mountPath: SRC_DIR, readOnly: true },
        { name: 'kubeless-code', mountPath: INSTALL_VOLUME },
        { name: 'tmp', mountPath: '/tmp' },
      ],
    });
    if (hasDeps && runtime.installation && runtime.family.depName) {
      initContainers.push({
        name: 'install',
        image: runtime.installation.image,
        command: ['/bin/sh', '-c', runtime.installation.command ?? ''],
        workingDir: INSTALL_VOLUME,
        terminationMessagePolicy: 'FallbackToLogsOnError',
        // Later entries win: the cluster's install env (a registry mirror), then the runtime's own.
        env: lastWins([
          ...env,
          { name: 'KUBELESS_DEPS_FILE', value: `${INSTALL_VOLUME}/${runtime.family.depName}` },
          { name: 'HOME', value: '/tmp' },
          ...Object.entries(cfg.installEnv).map(([k, v]) => ({ name: k, value: v })),
          ...Object.entries(runtime.installation.env ?? {}).map(([k, v]) => ({ name: k, value: v })),
        ]),
        volumeMounts: [
          { name: 'kubeless-code', mountPath: INSTALL_VOLUME },
          { name: 'tmp', mountPath: '/tmp' },
        ],
      });
    }
  }
  if (!volumes.some((v) => v.name === 'tmp')) volumes.push({ name: 'tmp', emptyDir: {} });
  if (!mounts.some((m) => m.mountPath === '/tmp')) mounts.push({ name: 'tmp', mountPath: '/tmp' });

  const check = defaultProbeCheck(env, targetPort);
  // A runtime family's liveness probe from kubeless-config (the original's `livenessProbeInfo`)
  // assumes plain HTTP: over TLS or mTLS it would fail every period and restart the pod.
  const plainHttp = isObject(check.httpGet) && check.httpGet.scheme === undefined;
  const probe = (plainHttp ? runtime?.family.livenessProbeInfo : undefined) ?? { ...check, initialDelaySeconds: 3, periodSeconds: 30 };
  const containerSecurity: Json = {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
  };
  const secure = (c: Json): Json => {
    const own = obj(c.securityContext);
    // The API server refuses allowPrivilegeEscalation: false beside privileged or CAP_SYS_ADMIN
    // (which imply it): where the operator allowed those, the default stays out.
    const add = obj(own.capabilities).add;
    const escalates = own.privileged === true || (Array.isArray(add) && (add.includes('SYS_ADMIN') || add.includes('CAP_SYS_ADMIN')));
    const defaults = escalates ? Object.fromEntries(Object.entries(containerSecurity).filter(([k]) => k !== 'allowPrivilegeEscalation')) : containerSecurity;
    return { ...c, securityContext: mergeUnder(own, defaults) };
  };
  const portsC0 = arr(c0In.ports);
  const container0: Json = secure({
    ...c0In,
    name,
    image: customImage ?? runtime?.runtime.image,
    env,
    volumeMounts: mounts,
    ports: portsC0.some((p) => p.containerPort === targetPort) ? portsC0 : [...portsC0, { containerPort: targetPort, protocol: 'TCP' }],
    livenessProbe: c0In.livenessProbe ?? probe,
    // Every second: the kubelet's first probe usually comes before the runtime listens, and a new
    // pod (a scale-up, a rollout) should take calls a second later, not five.
    readinessProbe: c0In.readinessProbe ?? { ...check, periodSeconds: 1 },
    // A crash's last log lines become its termination message: the Function's status shows why.
    terminationMessagePolicy: c0In.terminationMessagePolicy ?? 'FallbackToLogsOnError',
  });
  if (container0.imagePullPolicy === '') delete container0.imagePullPolicy;
  delete container0.resources;
  if (isObject(c0In.resources) && Object.keys(c0In.resources).length > 0) container0.resources = c0In.resources;

  const serviceAccountName =
    typeof podSpecIn.serviceAccountName === 'string' && podSpecIn.serviceAccountName !== '' && podSpecIn.serviceAccountName !== 'default'
      ? podSpecIn.serviceAccountName
      : undefined;
  const saProblem = serviceAccountName === undefined ? undefined : serviceAccountNameProblem(serviceAccountName, namespace);
  if (saProblem) throw new PlanError('InvalidServiceAccountName', saProblem);
  const podSecurity = mergeUnder(obj(podSpecIn.securityContext), {
    runAsNonRoot: true,
    runAsUser: 1000,
    runAsGroup: 1000,
    fsGroup: 1000,
    seccompProfile: { type: 'RuntimeDefault' },
  });
  const imagePullSecrets = [
    ...arr(podSpecIn.imagePullSecrets),
    ...(runtime?.version.imagePullSecrets ?? []).map((s) => ({ name: s.imageSecret })),
  ];

  const templateMetaIn = obj(obj(obj(userDeployment.spec).template).metadata);
  const podAnnotations: Record<string, string> = {
    ...(templateMetaIn.annotations as Record<string, string> | undefined),
    ...(fn.metadata.annotations ?? {}),
    'prometheus.io/scrape': 'true',
    'prometheus.io/path': '/metrics',
    'prometheus.io/port': String(targetPort),
    [CHECKSUM_ANNOTATION]: sha256(canonical(checksumInput)),
  };
  delete podAnnotations['kubectl.kubernetes.io/last-applied-configuration'];

  delete podSpecIn.serviceAccount;
  const podSpec: Json = {
    ...podSpecIn,
    // Always explicit: the API server mirrors it into the deprecated `serviceAccount`, which would
    // bring a removed name back (a known Kubernetes quirk).
    serviceAccountName: serviceAccountName ?? 'default',
    containers: [container0, ...containersIn.slice(1).map(secure)],
    initContainers: initContainers.map(secure),
    volumes,
    securityContext: podSecurity,
    automountServiceAccountToken: podSpecIn.automountServiceAccountToken ?? Boolean(serviceAccountName),
    // The runtime drains in-flight invocations on SIGTERM for up to FUNC_TIMEOUT: give it that long.
    terminationGracePeriodSeconds: podSpecIn.terminationGracePeriodSeconds ?? Number(timeoutSeconds(fn)) + 10,
  };
  if (imagePullSecrets.length > 0) podSpec.imagePullSecrets = imagePullSecrets;
  else delete podSpec.imagePullSecrets;
  if (podSpec.initContainers && arr(podSpec.initContainers).length === 0) delete podSpec.initContainers;

  const deploymentSpecIn = obj(userDeployment.spec);
  const hpaWanted = wantsHpa(spec.horizontalPodAutoscaler);
  const deploymentSpec: Json = {
    ...deploymentSpecIn,
    selector: { matchLabels: selector },
    strategy: isObject(deploymentSpecIn.strategy) && Object.keys(deploymentSpecIn.strategy).length > 0 ? deploymentSpecIn.strategy : { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
    template: {
      metadata: { labels: { ...(templateMetaIn.labels as Record<string, string> | undefined), ...labels }, annotations: podAnnotations },
      spec: podSpec,
    },
  };
  // With an HPA the replica count is the autoscaler's: leave the field to it.
  if (hpaWanted) delete deploymentSpec.replicas;
  else if (deploymentSpec.replicas === undefined) deploymentSpec.replicas = 1;

  const deploymentMetaIn = obj(userDeployment.metadata);
  const meta = (annotations?: Record<string, string>): KubeObject['metadata'] => ({
    name,
    namespace,
    labels,
    annotations: annotations ?? {},
    ownerReferences: [owner],
  });

  const configMap = withSpecHash({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(), data: cmData });
  const service = withSpecHash({ apiVersion: 'v1', kind: 'Service', metadata: meta(), spec: serviceSpec });
  const deployment = withSpecHash({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta({ ...(deploymentMetaIn.annotations as Record<string, string> | undefined), ...(fn.metadata.annotations ?? {}) }),
    spec: deploymentSpec,
  });
  const hpa = hpaWanted ? withSpecHash(planHpa(fn, meta())) : undefined;
  return {
    configMap,
    service,
    deployment,
    hpa,
    secrets: [...new Set(secrets)],
    serviceAccountName,
    url: `http://${name}.${namespace}.svc.cluster.local:${String(servicePort)}`,
  };
}

/** The original creates an HPA only when it names itself and its target (a zero-value object is "none"). */
export function wantsHpa(hpa: unknown): boolean {
  const h = obj(hpa);
  return Boolean(obj(h.metadata).name) && Boolean(obj(obj(h.spec).scaleTargetRef).name);
}

/** autoscaling/v2 from the original's v2beta1 shape (or an already-v2 one). */
function planHpa(fn: KubelessFunction, metadata: KubeObject['metadata']): KubeObject {
  const h = obj(fn.spec.horizontalPodAutoscaler);
  const s = obj(h.spec);
  const name = fn.metadata.name ?? '';
  const metrics = arr(s.metrics).map((m): Json => {
    if (m.type === 'Resource') {
      const r = obj(m.resource);
      if (isObject(r.target)) return m;
      const target: Json =
        r.targetAverageUtilization !== undefined
          ? { type: 'Utilization', averageUtilization: r.targetAverageUtilization }
          : { type: 'AverageValue', averageValue: r.targetAverageValue };
      return { type: 'Resource', resource: { name: r.name, target } };
    }
    if (m.type === 'Object') {
      const o = obj(m.object);
      if (isObject(o.describedObject)) return m;
      const t = obj(o.target);
      return {
        type: 'Object',
        object: {
          metric: { name: o.metricName },
          describedObject: { apiVersion: 'v1', kind: t.kind ?? 'Service', name: t.name ?? name },
          target: { type: 'Value', value: o.targetValue },
        },
      };
    }
    return m;
  });
  const spec: Json = {
    scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
    minReplicas: typeof s.minReplicas === 'number' && s.minReplicas > 0 ? s.minReplicas : 1,
    maxReplicas: typeof s.maxReplicas === 'number' && s.maxReplicas > 0 ? s.maxReplicas : 1,
  };
  if (metrics.length > 0) spec.metrics = metrics;
  return { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata, spec };
}

/** One entry per name, the last one given, in the order names first appear. */
function lastWins(env: Json[]): Json[] {
  const byName = new Map<string, Json>();
  for (const e of env) byName.set(String(e.name), e);
  return [...byName.values()];
}

/**
 * How the default probes reach the runtime, from the TLS settings in the container's env (the
 * runtimes read FUNC_TLS_CERT_FILE, FUNC_TLS_KEY_FILE and FUNC_TLS_CLIENT_CA_FILE): `GET /healthz`
 * over HTTP; over HTTPS when the runtime serves TLS (the kubelet does not verify a probe's
 * certificate); a TCP connect when it requires client certificates (mTLS), since the kubelet
 * presents none and an HTTP probe would keep the pod unready (and a liveness probe would restart it).
 * A probe the user set on the Function's deployment is used as it is.
 */
export function defaultProbeCheck(env: readonly Json[], port: number): Json {
  const set = (name: string): boolean => env.some((e) => e.name === name && ((typeof e.value === 'string' && e.value !== '') || e.valueFrom !== undefined));
  if (set('FUNC_TLS_CLIENT_CA_FILE')) return { tcpSocket: { port } };
  if (set('FUNC_TLS_CERT_FILE')) return { httpGet: { path: '/healthz', port, scheme: 'HTTPS' } };
  return { httpGet: { path: '/healthz', port } };
}
