/**
 * The kubeless-config ConfigMap (reference/kubeless.md §2.1, §3.6): runtime images per phase, a
 * deployment template merged under every function, and the provision image that prepares code.
 * Parsing never throws: a bad key is reported and its default kept, so one typo cannot stop
 * every function.
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

export interface KubelessConfig {
  runtimes: RuntimeFamily[];
  /** Deployment template merged under each function's own `deployment`. */
  deployment: Record<string, unknown>;
  provisionImage: string;
  /** Problems found while parsing, reported in the controller's log and Events. */
  problems: string[];
}

export const CONFIG_NAME = 'kubeless-config';

const nodeVersions = ['20', '22', '24'];
const pythonVersions = ['3.11', '3.12', '3.13'];

/** The runtimes kubeless ships (SPEC §5); the chart writes the same into kubeless-config. */
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

export const DEFAULT_PROVISION_IMAGE = 'kubeless/runtime-nodejs:20';

export function defaultConfig(): KubelessConfig {
  return { runtimes: structuredClone(DEFAULT_RUNTIMES), deployment: {}, provisionImage: DEFAULT_PROVISION_IMAGE, problems: [] };
}

/** Reads the ConfigMap's data; absent keys take the defaults. */
export function parseConfig(data: Record<string, string> | undefined): KubelessConfig {
  const cfg = defaultConfig();
  if (!data) return cfg;
  const images = data['runtime-images'];
  if (images !== undefined && images.trim() !== '') {
    try {
      const parsed = parse(images) as unknown;
      if (!Array.isArray(parsed)) throw new Error('must be a list of runtimes');
      cfg.runtimes = parsed.map((r, i) => normaliseFamily(r, i));
    } catch (err) {
      cfg.problems.push(`runtime-images: ${(err as Error).message}; using the built-in runtimes`);
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
  return cfg;
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

/** The runtime ids the config lists, e.g. nodejs20, python3.12. */
export function runtimeIds(cfg: KubelessConfig): string[] {
  return cfg.runtimes.flatMap((f) => f.versions.map((v) => `${f.ID}${v.version}`));
}

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
