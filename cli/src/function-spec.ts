/**
 * The translation of `kubeless function deploy|update` flags into a Function object, as the
 * original CLI made it (as the original kubeless CLI did). Pure: code and dependency files arrive as
 * bytes and strings; the command module reads them.
 */
import { createHash } from 'node:crypto';
import { API_VERSION, DEFAULT_FUNCTION_TIMEOUT_SECONDS, HANDLER_PATTERN, MAX_WAIT_SECONDS, type Function as KubelessFunction } from '@kubeless/api';
import { CliError } from './errors.js';

export const PORT_NAME = 'http-function-port';
export const DEFAULT_PORT = 8080;
export const IMAGE_PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;

/** The function's code as it goes into the spec. */
export interface CodeSource {
  function: string;
  contentType: string;
  /** `sha256:<hex>` of the raw bytes. */
  checksum: string;
}

/** Flags of deploy and update, already parsed; undefined means "not given". */
export interface FunctionFlags {
  runtime?: string;
  handler?: string;
  code?: CodeSource;
  deps?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  env?: { name: string; value: string }[];
  secrets?: string[];
  nodeSelectors?: Record<string, string>;
  serviceAccount?: string;
  memory?: string;
  cpu?: string;
  runtimeImage?: string;
  imagePullPolicy?: string;
  timeout?: string;
  port?: number;
  servicePort?: number;
  headless?: boolean;
}

const COMPRESSED_TAR = ['.tar.gz', '.taz', '.tgz', '.tar.bz2', '.tb2', '.tbz', '.tbz2', '.tz2', '.tar.xz'];

/** `+zip`, `+compressedtar` or '' from a file name or URL path. */
export function archiveSuffix(name: string): string {
  const lower = name.toLowerCase();
  if (lower.endsWith('.zip')) return '+zip';
  if (COMPRESSED_TAR.some((ext) => lower.endsWith(ext))) return '+compressedtar';
  return '';
}

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/**
 * Code from a local file: `text` when the bytes are valid UTF-8, else `base64` (content
 * base64-encoded); archives get `+zip` / `+compressedtar` and are always base64 (their bytes must
 * survive as they are).
 */
export function codeFromFile(fileName: string, bytes: Uint8Array): CodeSource {
  const suffix = archiveSuffix(fileName);
  let text: string | undefined;
  if (suffix === '') {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      text = undefined;
    }
  }
  const checksum = sha256(bytes);
  if (text !== undefined) return { function: text, contentType: 'text', checksum };
  return { function: Buffer.from(bytes).toString('base64'), contentType: `base64${suffix}`, checksum };
}

/** Code from an http(s) URL: the spec keeps the URL; the checksum is of the downloaded bytes. */
export function codeFromUrl(url: string, bytes: Uint8Array): CodeSource {
  return { function: url, contentType: `url${archiveSuffix(new URL(url).pathname)}`, checksum: sha256(bytes) };
}

export function isUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/** Checks what deploy needs and what either command was given; throws a `CliError`. */
export function validateFlags(flags: FunctionFlags, mode: 'deploy' | 'update'): void {
  if (mode === 'deploy') {
    if (!flags.runtime && !flags.runtimeImage) throw new CliError('set --runtime, or --runtime-image for a custom image');
    if (flags.runtime && !flags.handler) throw new CliError('--runtime needs --handler');
    if (!flags.code && !flags.runtimeImage) throw new CliError('set --from-file with the function code');
  }
  if (flags.handler !== undefined && !new RegExp(HANDLER_PATTERN).test(flags.handler)) {
    throw new CliError(`--handler: "${flags.handler}" must be <module>.<function>`);
  }
  if (flags.imagePullPolicy !== undefined && !(IMAGE_PULL_POLICIES as readonly string[]).includes(flags.imagePullPolicy)) {
    throw new CliError(`--image-pull-policy: "${flags.imagePullPolicy}" is not one of ${IMAGE_PULL_POLICIES.join(', ')}`);
  }
  if (flags.timeout !== undefined && !/^[0-9]+$/.test(flags.timeout)) throw new CliError(`--timeout: "${flags.timeout}" is not a whole number of seconds`);
  if (flags.timeout !== undefined && (Number(flags.timeout) <= 0 || Number(flags.timeout) > MAX_WAIT_SECONDS)) {
    throw new CliError(`--timeout must be a whole number of seconds from 1 to ${String(MAX_WAIT_SECONDS)}`);
  }
}

type Json = Record<string, unknown>;

/** The Function that `deploy` creates. Defaults: timeout 180, port 8080, pull policy Always. */
export function buildFunction(name: string, namespace: string, flags: FunctionFlags): KubelessFunction {
  validateFlags(flags, 'deploy');
  const labels = { ...flags.labels, 'created-by': 'kubeless', function: name };
  const port = flags.port ?? DEFAULT_PORT;
  const fn: KubelessFunction = {
    apiVersion: API_VERSION,
    kind: 'Function',
    metadata: { name, namespace, labels, ...(flags.annotations && Object.keys(flags.annotations).length > 0 ? { annotations: flags.annotations } : {}) },
    spec: {
      ...(flags.runtime ? { runtime: flags.runtime } : {}),
      ...(flags.handler ? { handler: flags.handler } : {}),
      ...(flags.code ? { 'function-content-type': flags.code.contentType, function: flags.code.function, checksum: flags.code.checksum } : {}),
      ...(flags.deps !== undefined ? { deps: flags.deps } : {}),
      timeout: flags.timeout ?? String(DEFAULT_FUNCTION_TIMEOUT_SECONDS),
      deployment: { spec: { template: { spec: { containers: [{ imagePullPolicy: flags.imagePullPolicy ?? 'Always' }] } } } },
      service: {
        ports: [{ name: PORT_NAME, port: flags.servicePort ?? port, targetPort: port, protocol: 'TCP' }],
        selector: { ...labels },
        type: 'ClusterIP',
        ...(flags.headless ? { clusterIP: 'None' } : {}),
      },
    },
  };
  applyPodFlags(podSpecOf(fn), flags);
  return fn;
}

/**
 * `update`: the existing Function with only the given flags applied. Everything not given keeps
 * its value, including the timeout, the port and the pull policy (the original reset those).
 */
export function updateFunction(existing: KubelessFunction, flags: FunctionFlags): KubelessFunction {
  validateFlags(flags, 'update');
  const fn = structuredClone(existing);
  const name = fn.metadata.name ?? '';
  delete (fn.metadata as Json).managedFields;
  if (flags.labels) fn.metadata.labels = { ...fn.metadata.labels, ...flags.labels, 'created-by': 'kubeless', function: name };
  if (flags.annotations && Object.keys(flags.annotations).length > 0) fn.metadata.annotations = { ...fn.metadata.annotations, ...flags.annotations };
  const spec = fn.spec;
  if (flags.runtime !== undefined) spec.runtime = flags.runtime;
  if (flags.handler !== undefined) spec.handler = flags.handler;
  if (flags.code) {
    spec['function-content-type'] = flags.code.contentType;
    spec.function = flags.code.function;
    spec.checksum = flags.code.checksum;
  }
  if (flags.deps !== undefined) spec.deps = flags.deps;
  if (flags.timeout !== undefined) spec.timeout = flags.timeout;
  const podSpec = podSpecOf(fn);
  if (flags.imagePullPolicy !== undefined) container0(podSpec).imagePullPolicy = flags.imagePullPolicy;
  applyPodFlags(podSpec, flags);
  if (flags.port !== undefined || flags.servicePort !== undefined || flags.headless !== undefined) {
    const service = (spec.service ??= {}) as Json;
    const ports = Array.isArray(service.ports) && service.ports.length > 0 ? (service.ports as Json[]) : [{ name: PORT_NAME, port: DEFAULT_PORT, targetPort: DEFAULT_PORT, protocol: 'TCP' }];
    const p0 = ports[0] ?? {};
    if (flags.port !== undefined) {
      // A service port that followed the target port keeps following it.
      if (flags.servicePort === undefined && (p0.port === undefined || p0.port === p0.targetPort)) p0.port = flags.port;
      p0.targetPort = flags.port;
    }
    if (flags.servicePort !== undefined) p0.port = flags.servicePort;
    ports[0] = p0;
    service.ports = ports;
    service.selector ??= { 'created-by': 'kubeless', function: name };
    service.type ??= 'ClusterIP';
    if (flags.headless === true) service.clusterIP = 'None';
    if (flags.headless === false && service.clusterIP === 'None') delete service.clusterIP;
  }
  return fn;
}

function podSpecOf(fn: KubelessFunction): Json {
  const deployment = (fn.spec.deployment ??= {});
  const dspec = (deployment.spec ??= {}) as Json;
  const template = (dspec.template ??= {}) as Json;
  return (template.spec ??= {}) as Json;
}

function container0(podSpec: Json): Json {
  if (!Array.isArray(podSpec.containers) || podSpec.containers.length === 0) podSpec.containers = [{}];
  return (podSpec.containers as Json[])[0] ?? {};
}

/** Flags that land in the pod template; lists replace (env) or extend (secrets) what is there. */
function applyPodFlags(podSpec: Json, flags: FunctionFlags): void {
  const c = container0(podSpec);
  if (flags.runtimeImage !== undefined) c.image = flags.runtimeImage;
  if (flags.env && flags.env.length > 0) c.env = flags.env.map((e) => ({ ...e }));
  if (flags.memory !== undefined || flags.cpu !== undefined) {
    const resources = (c.resources ??= {}) as Json;
    for (const kind of ['requests', 'limits'] as const) {
      const r = (resources[kind] ??= {}) as Json;
      if (flags.memory !== undefined) r.memory = flags.memory;
      if (flags.cpu !== undefined) r.cpu = flags.cpu;
    }
  }
  for (const secret of flags.secrets ?? []) {
    const volume = `${secret}-vol`;
    const volumes = (podSpec.volumes ??= []) as Json[];
    if (!volumes.some((v) => v.name === volume)) volumes.push({ name: volume, secret: { secretName: secret } });
    const mounts = (c.volumeMounts ??= []) as Json[];
    if (!mounts.some((m) => m.name === volume)) mounts.push({ name: volume, mountPath: `/${secret}` });
  }
  if (flags.serviceAccount !== undefined) podSpec.serviceAccountName = flags.serviceAccount;
  if (flags.nodeSelectors && Object.keys(flags.nodeSelectors).length > 0) podSpec.nodeSelector = { ...(podSpec.nodeSelector as Json | undefined), ...flags.nodeSelectors };
}
