/**
 * Helpers of the chart tests: the cached helm binary (test/stack/build/helm.sh), rendering the
 * chart into objects, kubectl with stdin, and SubjectAccessReviews as the admin.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KubeClient } from '@kubeless/controller';
import { REPO_ROOT, kubectl, stackEnv, type KubectlResult } from '@kubeless/stack';
import { parseAllDocuments, stringify } from 'yaml';

export const CHART = path.join(REPO_ROOT, 'helm', 'kubeless');
export const EXAMPLES_DIR = path.join(CHART, 'examples');

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: any;
}

/** The helm binary build.sh caches: $KUBELESS_CACHE/helm-<HELM_VERSION>/helm. */
export function helmBin(): string {
  const versions = readFileSync(path.join(REPO_ROOT, 'test', 'stack', 'build', 'versions.sh'), 'utf8');
  const version = /^HELM_VERSION=(\S+)$/m.exec(versions)?.[1];
  if (!version) throw new Error('versions.sh has no HELM_VERSION');
  const cache = process.env.KUBELESS_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'kubeless-stack');
  return path.join(cache, `helm-${version}`, 'helm');
}

/** Runs helm; never throws on a non-zero exit (tests assert on it). */
export function helm(args: string[]): Promise<KubectlResult> {
  return new Promise((resolve) => {
    execFile(helmBin(), args, { timeout: 60_000, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
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

/** kubectl as the stack admin with `input` on stdin. */
export function kubectlIn(args: string[], input: string): Promise<KubectlResult> {
  return kubectl(args, { input });
}

let admin: KubeClient | undefined;
export function adminClient(): KubeClient {
  admin ??= KubeClient.fromKubeconfig(stackEnv().KUBECONFIG, { userAgent: 'kubeless-helm-test' });
  return admin;
}

export interface Access {
  verb: string;
  group?: string;
  resource: string;
  subresource?: string;
  /** Absent: cluster-wide (all namespaces for a namespaced kind). */
  namespace?: string;
  name?: string;
}

export const describeAccess = (a: Access): string =>
  `${a.verb} ${a.resource}${a.subresource ? `/${a.subresource}` : ''}${a.group ? `.${a.group}` : ''}${a.name ? ` ${a.name}` : ''} ${a.namespace ? `in ${a.namespace}` : 'cluster-wide'}`;

/** Whether the API server's authorizer allows `a` for a ServiceAccount (a SubjectAccessReview, as `kubectl auth can-i --as`). */
export async function serviceAccountMay(namespace: string, serviceAccount: string, a: Access): Promise<boolean> {
  const review = await adminClient().create<any>('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: {
      user: `system:serviceaccount:${namespace}:${serviceAccount}`,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
      resourceAttributes: {
        verb: a.verb,
        group: a.group ?? '',
        resource: a.resource,
        subresource: a.subresource ?? '',
        namespace: a.namespace ?? '',
        name: a.name ?? '',
      },
    },
  });
  return review.status?.allowed === true;
}

/** The accesses of `list` the ServiceAccount is (allowed=true) or is not (false) granted, for one failure message. */
export async function partition(namespace: string, serviceAccount: string, list: Access[]): Promise<{ allowed: string[]; denied: string[] }> {
  const answers = await Promise.all(list.map((a) => serviceAccountMay(namespace, serviceAccount, a)));
  return {
    allowed: list.filter((_, i) => answers[i]).map(describeAccess),
    denied: list.filter((_, i) => !answers[i]).map(describeAccess),
  };
}
