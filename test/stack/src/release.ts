/**
 * The chart installed for real: `helm upgrade --install` of helm/kubeless into the stack, its four
 * controllers running as pods on the node from the images built here (`build.sh controller-images`,
 * tagged with the chart's appVersion, imported at `up`), with the chart's ServiceAccounts, RBAC,
 * probes, PodDisruptionBudgets, security contexts and limits. The values point the chart at the
 * stack as an operator points it at a cluster: Kafka and ElasticMQ at the node's address, AWS
 * credentials in a Secret, the registry mirror for dependency installs, the tenancy grant.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { STACK_AWS_CREDENTIALS, stackGrants } from './controllers.js';
import type { StackEnv } from './env.js';
import { CHART, helm, type HelmResult } from './helm.js';
import { installEnv } from './mirror/mirror.js';
import { kubectlOk, stackEnv } from './testing.js';

/** The Secret the chart's sqs-trigger takes its default AWS credentials from (`sqs.credentialsSecret`). */
export const STACK_AWS_SECRET = 'stack-aws-credentials';

export interface ReleaseOptions {
  release: string;
  /** The release's namespace: the controllers' pods, Leases and kubeless-config. Created if missing. */
  namespace: string;
  /** The chart's `watchNamespace`: one namespace, or every namespace when absent. */
  watchNamespace?: string;
  /** Values merged over `stackValues` (objects merge, anything else replaces). */
  values?: Record<string, unknown>;
  /** The chart: a folder or a packaged .tgz (e.g. a previous version); default helm/kubeless. */
  chart?: string;
  /**
   * Replaces `stackValues` under `values`: for a chart whose schema predates some of them (an
   * older version refuses values it does not know).
   */
  baseValues?: Record<string, unknown>;
  /** `helm --timeout` for the pods to become ready (`--wait`); default 180 s. */
  timeoutSeconds?: number;
  /**
   * `--take-ownership`: adopt objects that exist without the release's ownership, e.g. the
   * controllers' identities the stack applies for release `kubeless` in namespace `kubeless`.
   * `helm uninstall` then deletes them (reinstallControllerIdentities puts them back).
   */
  takeOwnership?: boolean;
}

/** The values that fit the chart to the stack. */
export function stackValues(env: StackEnv, watchNamespace?: string): Record<string, unknown> {
  return {
    watchNamespace: watchNamespace ?? '',
    kubelessConfig: { installEnv: installEnv(env.REGISTRY_MIRROR) },
    tenancy: { sharedIdentity: stackGrants(watchNamespace) },
    kafkaTrigger: { kafka: { brokers: env.KAFKA_NODE_BROKERS } },
    sqsTrigger: { sqs: { endpoint: env.SQS_ENDPOINT, region: env.SQS_REGION, credentialsSecret: STACK_AWS_SECRET } },
    // The stack serves the Gateway API CRDs (Traefik's).
    httpTrigger: { routes: { gatewayAPI: true } },
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `over` merged into `base`: nested objects merge, anything else (arrays too) replaces. */
export function mergeValues(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isObject(b) && isObject(v) ? mergeValues(b, v) : v;
  }
  return out;
}

async function helmOk(args: string[], timeoutMs: number): Promise<HelmResult> {
  const r = await helm(args, { env: { KUBECONFIG: stackEnv().KUBECONFIG }, timeoutMs });
  if (r.code !== 0) throw new Error(`helm ${args.slice(0, 2).join(' ')} failed (${String(r.code)}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r;
}

/**
 * `helm upgrade --install --wait`: returns once every controller pod is Ready (or throws with
 * helm's error). Also used for upgrades: pass the changed values.
 */
export async function installRelease(o: ReleaseOptions): Promise<void> {
  const env = stackEnv();
  const objects = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: o.namespace } },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: STACK_AWS_SECRET, namespace: o.namespace },
      stringData: { AWS_ACCESS_KEY_ID: STACK_AWS_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: STACK_AWS_CREDENTIALS.secretAccessKey },
    },
  ];
  await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }) });
  const values = mergeValues(o.baseValues ?? stackValues(env, o.watchNamespace), o.values ?? {});
  const dir = await mkdtemp(path.join(tmpdir(), 'kubeless-release-'));
  try {
    const file = path.join(dir, 'values.json');
    await writeFile(file, JSON.stringify(values));
    const timeout = o.timeoutSeconds ?? 180;
    const adopt = o.takeOwnership === true ? ['--take-ownership'] : [];
    await helmOk(['upgrade', '--install', o.release, o.chart ?? CHART, '--namespace', o.namespace, '-f', file, '--wait', '--timeout', `${String(timeout)}s`, ...adopt], (timeout + 30) * 1000);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `helm uninstall --wait`: the release's objects go; CRDs and the users' Functions and triggers stay. */
export async function uninstallRelease(release: string, namespace: string): Promise<void> {
  await helmOk(['uninstall', release, '--namespace', namespace, '--wait', '--timeout', '120s'], 150_000);
}

/** The release's revision history, newest last (`helm history -o json`); `chart` is `<name>-<version>`. */
export async function releaseHistory(release: string, namespace: string): Promise<{ revision: number; status: string; description: string; chart: string }[]> {
  const r = await helmOk(['history', release, '--namespace', namespace, '-o', 'json'], 30_000);
  return JSON.parse(r.stdout) as { revision: number; status: string; description: string; chart: string }[];
}
