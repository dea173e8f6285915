import { readFileSync } from 'node:fs';
import path from 'node:path';
import { defaultRunDir } from './paths.js';

/** What tests and tools need to reach a running stack. Written by `up` as `<run>/env` and `<run>/stack.json`. */
export interface StackEnv {
  KUBELESS_STACK_DIR: string;
  KUBELESS_NETNS: string;
  /** The admin kubeconfig (system:masters). */
  KUBECONFIG: string;
  /** Contexts admin, alice and bob in one file, as in the talk's `--context`. */
  KUBELESS_USERS_KUBECONFIG: string;
  KUBE_API_SERVER: string;
  ETCD_ENDPOINT: string;
  KAFKA_BROKERS: string;
  /** The SASL_PLAINTEXT listener (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; user KAFKA_SASL_USER in components.ts). */
  KAFKA_SASL_BROKERS: string;
  /** The broker as pods reach it, on the node's address (a PLAINTEXT listener of the same broker). */
  KAFKA_NODE_BROKERS: string;
  /** ElasticMQ on the node's address, for pods and the namespace's processes alike. */
  SQS_ENDPOINT: string;
  SQS_REGION: string;
  AUDIT_LOG: string;
  /** Traefik's entrypoints (test/stack/src/traefik.ts): plain HTTP, TLS, and /ping + /api. */
  TRAEFIK_WEB: string;
  TRAEFIK_WEBSECURE: string;
  TRAEFIK_API: string;
  /**
   * The registry mirror on the node's address (mirror/mirror.ts), e.g. http://10.240.0.1:41234:
   * `<mirror>/npm/` is the npm registry and `<mirror>/pypi/simple/` PyPI's index, for function pods'
   * dependency installs (the namespace has no route out). `stackInstallEnv` in testing.ts.
   */
  REGISTRY_MIRROR: string;
}

/** Path of the kubeconfig of one stack user (admin, alice, bob). */
export function userKubeconfig(env: Pick<StackEnv, 'KUBELESS_STACK_DIR'>, user: string): string {
  return path.join(env.KUBELESS_STACK_DIR, 'kubeconfig', `${user}.kubeconfig`);
}

/** Renders the env file: `export KEY='value'` lines that both a shell and `readStackEnv` read. */
export function renderEnvFile(env: StackEnv): string {
  return (Object.entries(env) as [string, string][])
    .map(([k, v]) => `export ${k}='${v.replace(/'/g, "'\\''")}'`)
    .join('\n')
    .concat('\n');
}

/** Reads `<runDir>/env`; throws when no stack has been started there. */
export function readStackEnv(runDir: string = defaultRunDir()): StackEnv {
  const text = readFileSync(path.join(runDir, 'env'), 'utf8');
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^export ([A-Z0-9_]+)='(.*)'$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) env[m[1]] = m[2].replace(/'\\''/g, "'");
  }
  return env as unknown as StackEnv;
}
