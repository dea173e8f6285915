/**
 * The cached helm binary (test/stack/build/helm.sh) and rendering the chart into objects: used
 * by the stack to install the controllers' RBAC, and by the chart tests.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { cacheDir, REPO_ROOT, STACK_ROOT } from './paths.js';

export const CHART = path.join(REPO_ROOT, 'helm', 'kubeless');

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: any;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The helm binary build.sh caches: $KUBELESS_CACHE/helm-<HELM_VERSION>/helm. */
export function helmBin(): string {
  const versions = readFileSync(path.join(STACK_ROOT, 'build', 'versions.sh'), 'utf8');
  const version = /^HELM_VERSION=(\S+)$/m.exec(versions)?.[1];
  if (!version) throw new Error('versions.sh has no HELM_VERSION');
  return path.join(cacheDir(), `helm-${version}`, 'helm');
}

/**
 * Runs helm; never throws on a non-zero exit (tests assert on it). `env` is added to this
 * process's (e.g. KUBECONFIG for commands that talk to the API server).
 */
export function helm(args: string[], o: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<HelmResult> {
  return new Promise((resolve) => {
    execFile(helmBin(), args, { timeout: o.timeoutMs ?? 60_000, maxBuffer: 32 * 1024 * 1024, env: { ...process.env, ...o.env } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export interface RenderOptions {
  release: string;
  namespace: string;
  valuesFiles?: string[];
  set?: string[];
  setJson?: string[];
  /** Also render crds/ (as `helm install` applies them). */
  includeCrds?: boolean;
}

function renderArgs(o: RenderOptions): string[] {
  return [
    'template',
    o.release,
    CHART,
    '--namespace',
    o.namespace,
    ...(o.valuesFiles ?? []).flatMap((f) => ['-f', f]),
    ...(o.set ?? []).flatMap((s) => ['--set', s]),
    ...(o.setJson ?? []).flatMap((s) => ['--set-json', s]),
    ...(o.includeCrds ? ['--include-crds'] : []),
  ];
}

/** `helm template`: the YAML stream, or throws with helm's error. */
export async function renderYaml(o: RenderOptions): Promise<string> {
  const r = await helm(renderArgs(o));
  if (r.code !== 0) throw new Error(`helm template failed (${String(r.code)}): ${r.stderr}`);
  return r.stdout;
}

export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

export async function render(o: RenderOptions): Promise<K8sObject[]> {
  return parseObjects(await renderYaml(o));
}

export function toYamlStream(objects: K8sObject[]): string {
  return objects.map((o) => stringify(o)).join('---\n');
}
