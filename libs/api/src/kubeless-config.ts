/**
 * The kubeless-config ConfigMap (the original's keys and schema;
 * docs/architecture.md#compatibility-with-the-original): runtime images per phase, a deployment
 * template merged under every function, the provision image that prepares code, and which pod
 * fields that escalate a Function may ask for (`pod-spec-features`, all off by default). Parsing
 * never throws: a bad key is reported and its default kept, so one typo cannot stop every function
 * (nor turn a pod feature on). API surface: the function controller, the CLI and the chart all read
 * it, and all with these defaults.
 */
import { parse } from 'yaml';

export interface RuntimePhaseImage {
  phase: 'installation' | 'compilation' | 'runtime';
  image: string;
  /** Shell command (run with /bin/sh -c) for installation and compilation. */
  command?: string;
  env?: Record<string, string>;
}

export interface RuntimeVersion {
  name: string;
  version: string;
  images: RuntimePhaseImage[];
  imagePullSecrets?: { imageSecret: string }[];
}

export interface RuntimeFamily {
  ID: string;
  depName?: string;
  fileNameSuffix: string;
  livenessProbeInfo?: Record<string, unknown>;
  versions: RuntimeVersion[];
}

/**
 * The pod fields that escalate, which a Function's own `deployment` may set only when the
 * operator turns them on in kubeless-config (`pod-spec-features`), as Knative Serving's
 * `kubernetes.podspec-*` flags. The operator's own `deployment` template is trusted, never checked.
 *  - privileged: a container's `securityContext.privileged: true`
 *  - allowPrivilegeEscalation: a container's `securityContext.allowPrivilegeEscalation: true`
 *  - addCapabilities: a container's `securityContext.capabilities.add` (any)
 *  - hostPath: a `hostPath` volume
 *  - hostNetwork, hostPID, hostIPC: the pod's host namespaces
 *  - hostPort: a container port's `hostPort`
 * Containers and init containers alike.
 */
export const POD_SPEC_FEATURES = ['privileged', 'allowPrivilegeEscalation', 'addCapabilities', 'hostPath', 'hostNetwork', 'hostPID', 'hostIPC', 'hostPort'] as const;
export type PodSpecFeature = (typeof POD_SPEC_FEATURES)[number];
export type PodSpecFeatures = Record<PodSpecFeature, boolean>;
/** The kubeless-config key of the pod feature flags: a YAML object of booleans, e.g. `{hostPath: true}`. */
export const POD_SPEC_FEATURES_KEY = 'pod-spec-features';

/** Every pod feature off. */
export function defaultPodSpecFeatures(): PodSpecFeatures {
  return Object.fromEntries(POD_SPEC_FEATURES.map((f) => [f, false])) as PodSpecFeatures;
}

export interface KubelessConfig {
  runtimes: RuntimeFamily[];
  /** Deployment template merged under each function's own `deployment`. */
  deployment: Record<string, unknown>;
  provisionImage: string;
  /** Pod fields that escalate which a Function may set; all false unless kubeless-config says true. */
  podSpecFeatures: PodSpecFeatures;
  /**
   * Env of every dependency install (`install-env`): where npm and pip fetch from in this cluster,
   * e.g. an in-house mirror's NPM_REGISTRY and PIP_INDEX_URL. A runtime's own installation env wins.
   */
  installEnv: Record<string, string>;
  /** Problems found while parsing, reported in the controller's log and Events. */
  problems: string[];
}

/** The ConfigMap's name (in the controller's namespace). */
export const KUBELESS_CONFIG_NAME = 'kubeless-config';
/** The kubeless-config key of the runtimes: a YAML list of runtime families (the original's schema). */
export const RUNTIME_IMAGES_KEY = 'runtime-images';
/** The kubeless-config key of the install env: a YAML object of names to string values. */
export const INSTALL_ENV_KEY = 'install-env';

// Node.js 20 reached end of life in April 2026; @kubeless/api's retiredRuntime names the retired ids.
const nodeVersions = ['22', '24', '26'];
const pythonVersions = ['3.11', '3.12', '3.13'];

/** The runtimes kubeless ships (runtimes/README.md); the chart writes the same into kubeless-config. */
export const DEFAULT_RUNTIMES: RuntimeFamily[] = [
  {
    ID: 'nodejs',
    depName: 'package.json',
    fileNameSuffix: '.js',
    versions: nodeVersions.map((v) => ({
      name: `nodejs${v}`,
      version: v,
      images: [
        { phase: 'installation', image: `kubeless/runtime-nodejs:${v}`, command: '/opt/kubeless/install-deps.sh' },
        { phase: 'runtime', image: `kubeless/runtime-nodejs:${v}`, env: { NODE_PATH: '$(KUBELESS_INSTALL_VOLUME)/node_modules' } },
      ],
    })),
  },
  {
    ID: 'python',
    depName: 'requirements.txt',
    fileNameSuffix: '.py',
    versions: pythonVersions.map((v) => ({
      name: `python${v.replace('.', '')}`,
      version: v,
      images: [
        { phase: 'installation', image: `kubeless/runtime-python:${v}`, command: '/opt/kubeless/install-deps.sh' },
        { phase: 'runtime', image: `kubeless/runtime-python:${v}`, env: { PYTHONPATH: '$(KUBELESS_INSTALL_VOLUME)/site-packages' } },
      ],
    })),
  },
];

/** The runtime ids of `DEFAULT_RUNTIMES`: nodejs22 ... python3.13. */
export const DEFAULT_RUNTIME_IDS: readonly string[] = runtimeIds({ runtimes: DEFAULT_RUNTIMES });

export const DEFAULT_PROVISION_IMAGE = 'kubeless/runtime-nodejs:24';

/** The config of a cluster without kubeless-config: the built-in runtimes, no template, every pod feature off. */
export function defaultKubelessConfig(): KubelessConfig {
  return { runtimes: structuredClone(DEFAULT_RUNTIMES), deployment: {}, provisionImage: DEFAULT_PROVISION_IMAGE, podSpecFeatures: defaultPodSpecFeatures(), installEnv: {}, problems: [] };
}

/** Reads the ConfigMap's data; absent keys take the defaults, and a bad key is reported in `problems` with its default kept. */
export function parseKubelessConfig(data: Record<string, string> | undefined): KubelessConfig {
  const cfg = defaultKubelessConfig();
  if (!data) return cfg;
  const images = data[RUNTIME_IMAGES_KEY];
  if (images !== undefined && images.trim() !== '') {
    try {
      cfg.runtimes = parseRuntimeImages(images);
    } catch (err) {
      cfg.problems.push(`${RUNTIME_IMAGES_KEY}: ${(err as Error).message}; using the built-in runtimes`);
    }
  }
  const deployment = data.deployment;
  if (deployment !== undefined && deployment.trim() !== '') {
    try {
      const parsed = parse(deployment) as unknown;
      if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed))) throw new Error('must be an object');
      cfg.deployment = (parsed ?? {}) as Record<string, unknown>;
    } catch (err) {
      cfg.problems.push(`deployment: ${(err as Error).message}; ignoring the template`);
    }
  }
  if (data['provision-image']) cfg.provisionImage = data['provision-image'];
  const features = data[POD_SPEC_FEATURES_KEY];
  if (features !== undefined && features.trim() !== '') parsePodSpecFeatures(features, cfg);
  const installEnv = data[INSTALL_ENV_KEY];
  if (installEnv !== undefined && installEnv.trim() !== '') parseInstallEnv(installEnv, cfg);
  return cfg;
}

/**
 * The runtime families of a `runtime-images` value. Keys match case-insensitively, as the
 * original's Go did. Throws an Error saying what is wrong (broken YAML, not a list, an entry
 * without an ID): the whole list is then unusable.
 */
export function parseRuntimeImages(text: string): RuntimeFamily[] {
  const parsed = parse(text) as unknown;
  if (!Array.isArray(parsed)) throw new Error('must be a list of runtimes');
  return parsed.map((r, i) => normaliseFamily(r, i));
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/**
 * The entries of a kubeless-config key that holds a YAML object; broken YAML or another shape is
 * reported with `fallback` (what happens instead) and gives no entries.
 */
function yamlObjectEntries(key: string, text: string, shape: string, fallback: string, cfg: KubelessConfig): [string, unknown][] {
  let parsed: unknown;
  try {
    parsed = parse(text) as unknown;
  } catch (err) {
    cfg.problems.push(`${key}: ${(err as Error).message}; ${fallback}`);
    return [];
  }
  if (parsed === null) return [];
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    cfg.problems.push(`${key}: must be ${shape}; ${fallback}`);
    return [];
  }
  return Object.entries(parsed as Record<string, unknown>);
}

/** Reads `install-env`; a name that is not one, or a value that is not a scalar, is reported and left out. */
function parseInstallEnv(text: string, cfg: KubelessConfig): void {
  for (const [k, v] of yamlObjectEntries(INSTALL_ENV_KEY, text, 'an object of names to values', 'installs get no extra env', cfg)) {
    if (!ENV_NAME.test(k)) cfg.problems.push(`${INSTALL_ENV_KEY}: ${k} is not an environment variable name`);
    else if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') cfg.problems.push(`${INSTALL_ENV_KEY}: ${k} must be a string`);
    else cfg.installEnv[k] = String(v);
  }
}

/** Reads `pod-spec-features`; a key it does not know or a value that is not a boolean is reported and stays off. */
function parsePodSpecFeatures(text: string, cfg: KubelessConfig): void {
  const shape = `an object of booleans (${POD_SPEC_FEATURES.join(', ')})`;
  for (const [k, v] of yamlObjectEntries(POD_SPEC_FEATURES_KEY, text, shape, 'every pod feature stays off', cfg)) {
    if (!(POD_SPEC_FEATURES as readonly string[]).includes(k)) {
      cfg.problems.push(`${POD_SPEC_FEATURES_KEY}: unknown feature ${k} (known: ${POD_SPEC_FEATURES.join(', ')})`);
    } else if (typeof v !== 'boolean') {
      cfg.problems.push(`${POD_SPEC_FEATURES_KEY}: ${k} must be true or false; it stays off`);
    } else {
      cfg.podSpecFeatures[k as PodSpecFeature] = v;
    }
  }
}

// Keys were matched case-insensitively by the original Go code; accept both spellings.
function normaliseFamily(raw: unknown, index: number): RuntimeFamily {
  if (typeof raw !== 'object' || raw === null) throw new Error(`entry ${String(index)} is not an object`);
  const r = lowerKeys(raw as Record<string, unknown>);
  const id = r.id;
  if (typeof id !== 'string' || id === '') throw new Error(`entry ${String(index)} has no ID`);
  const versions = Array.isArray(r.versions) ? r.versions : [];
  return {
    ID: id,
    depName: typeof r.depname === 'string' && r.depname !== '' ? r.depname : undefined,
    fileNameSuffix: typeof r.filenamesuffix === 'string' ? r.filenamesuffix : '',
    livenessProbeInfo: typeof r.livenessprobeinfo === 'object' && r.livenessprobeinfo !== null ? (r.livenessprobeinfo as Record<string, unknown>) : undefined,
    versions: versions.map((v: unknown) => {
      const vv = lowerKeys(v as Record<string, unknown>);
      const imgs = Array.isArray(vv.images) ? vv.images : [];
      return {
        name: scalar(vv.name),
        version: scalar(vv.version),
        imagePullSecrets: Array.isArray(vv.imagepullsecrets) ? (vv.imagepullsecrets as { imageSecret: string }[]) : undefined,
        images: imgs.map((im: unknown) => {
          const i = lowerKeys(im as Record<string, unknown>);
          return {
            phase: scalar(i.phase) as RuntimePhaseImage['phase'],
            image: scalar(i.image),
            command: typeof i.command === 'string' ? i.command : undefined,
            env: typeof i.env === 'object' && i.env !== null ? (i.env as Record<string, string>) : undefined,
          };
        }),
      };
    }),
  };
}

/** A YAML scalar as a string ("3.11", 20 -> "20"); anything else is empty. */
function scalar(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
}

function lowerKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k.toLowerCase(), v]));
}

export interface ResolvedRuntime {
  family: RuntimeFamily;
  version: RuntimeVersion;
  runtime: RuntimePhaseImage;
  installation?: RuntimePhaseImage;
}

/** The runtime ids the config lists, e.g. nodejs24, python3.12. */
export function runtimeIds(cfg: Pick<KubelessConfig, 'runtimes'>): string[] {
  return cfg.runtimes.flatMap((f) => f.versions.map((v) => `${f.ID}${v.version}`));
}

/** The images of runtime `id` (`ID + version`); undefined when the config does not list it or it has no runtime image. */
export function resolveRuntime(cfg: KubelessConfig, id: string): ResolvedRuntime | undefined {
  for (const family of cfg.runtimes) {
    for (const version of family.versions) {
      if (`${family.ID}${version.version}` !== id) continue;
      const runtime = version.images.find((i) => i.phase === 'runtime');
      if (!runtime) return undefined;
      return { family, version, runtime, installation: version.images.find((i) => i.phase === 'installation') };
    }
  }
  return undefined;
}
