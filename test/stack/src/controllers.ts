/**
 * The controllers as their own processes against the stack, each on the kubeconfig of its own
 * ServiceAccount (identities.ts): what tests that need a real process (SIGKILL, the CLI, e2e)
 * and the demo start. Settings the stack needs are filled in (brokers, the SQS endpoint); the
 * triggers reach functions as in a cluster, by their Service's DNS name (CoreDNS, kube-proxy).
 * Tests of the EndpointSlice mode and of stand-in functions (hand-made slices) set
 * `ENDPOINT_MODE: endpointslice` in `env`, which overrides any of these.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import path from 'node:path';
import { CONTROLLER_NAMESPACE, type ControllerName } from './identities.js';
import { REPO_ROOT } from './paths.js';
import { controllerKubeconfig, stackEnv } from './testing.js';

/** ElasticMQ accepts any key; the sqs-trigger finds these through the default provider chain. */
export const STACK_AWS_CREDENTIALS = { accessKeyId: 'x', secretAccessKey: 'x' } as const;

export interface SpawnControllerOptions {
  /** WATCH_NAMESPACE; every namespace when absent. */
  watchNamespace?: string;
  /** POD_NAMESPACE: where the Lease (and the function controller's kubeless-config) live. Default `kubeless`. */
  podNamespace?: string;
  /** POD_NAME: the identity in Leases and consumer groups. */
  identity?: string;
  /** The admin kubeconfig instead of the controller's own (only for tests that are about something else). */
  asAdmin?: boolean;
  env?: Record<string, string>;
  stdio?: StdioOptions;
  /**
   * Its own process group, so it outlives the caller and a Ctrl-C at the caller's terminal (the
   * demo's `--keep`); record it with `attachProcesses` so `down` stops it. Call `child.unref()`
   * to let the caller exit first.
   */
  detached?: boolean;
}

export interface ControllerProcess {
  name: ControllerName;
  child: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string | null>;
  /** SIGTERM (or `signal`), then waits for the exit. */
  stop: (signal?: NodeJS.Signals) => Promise<void>;
}

/**
 * The EndpointSlice manager of the test harness's recording functions (hand-made slices to an
 * HTTP server of the test): the stack's triggers trust it as they would a service mesh's.
 */
export const TEST_ENDPOINT_MANAGER = 'kubeless-test';

/**
 * The tenancy grant (`tenancy.sharedIdentity`) the stack's trigger controllers run with: the
 * namespace under test (every namespace for a controller that watches all) may use the
 * controller's own Kafka and SQS identity on any topic and queue, as an operator grants a team.
 * Tests of the tenancy rules and the demo set their own (`SHARED_IDENTITY_GRANTS` in `env`).
 */
export function stackIdentityGrants(namespace: string | undefined): string {
  return JSON.stringify(stackGrants(namespace));
}

/** The same grant as the chart's `tenancy.sharedIdentity` value (release.ts). */
export function stackGrants(namespace: string | undefined): { namespace: string; topics: string[]; deadLetterTopics: string[]; queues: string[]; deadLetterQueues: string[] }[] {
  return [{ namespace: namespace ?? '*', topics: ['.*'], deadLetterTopics: ['.*'], queues: ['.*'], deadLetterQueues: ['.*'] }];
}

/** The env a controller runs with in the stack, before `o.env`. */
export function controllerEnv(name: ControllerName, o: SpawnControllerOptions = {}): Record<string, string> {
  const env = stackEnv();
  const base: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    KUBECONFIG: o.asAdmin ? env.KUBECONFIG : controllerKubeconfig(name),
    POD_NAMESPACE: o.podNamespace ?? CONTROLLER_NAMESPACE,
    POD_NAME: o.identity ?? `${name}-${String(process.pid)}`,
    HEALTH_PORT: '0',
    HEALTH_HOST: '127.0.0.1',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    LEADER_ELECT: 'false',
    ...(o.watchNamespace ? { WATCH_NAMESPACE: o.watchNamespace } : {}),
  };
  const specific: Record<ControllerName, Record<string, string>> = {
    'function-controller': {},
    'http-trigger': {},
    'kafka-trigger': {
      KAFKA_BROKERS: env.KAFKA_BROKERS,
      SHARED_IDENTITY_GRANTS: stackIdentityGrants(o.watchNamespace),
      TRUSTED_ENDPOINTSLICE_MANAGERS: TEST_ENDPOINT_MANAGER,
    },
    'cronjob-trigger': {
      TRUSTED_ENDPOINTSLICE_MANAGERS: TEST_ENDPOINT_MANAGER,
    },
    'sqs-trigger': {
      SHARED_IDENTITY_GRANTS: stackIdentityGrants(o.watchNamespace),
      TRUSTED_ENDPOINTSLICE_MANAGERS: TEST_ENDPOINT_MANAGER,
      SQS_ENDPOINT: env.SQS_ENDPOINT,
      SQS_REGION: env.SQS_REGION,
      AWS_ACCESS_KEY_ID: STACK_AWS_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: STACK_AWS_CREDENTIALS.secretAccessKey,
    },
  };
  return { ...base, ...specific[name], ...o.env };
}

/** Starts services/<name>/dist/main.js (build first: `npm run build`). */
export function spawnController(name: ControllerName, o: SpawnControllerOptions = {}): ControllerProcess {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'services', name, 'dist', 'main.js')], {
    env: controllerEnv(name, o),
    stdio: o.stdio ?? ['ignore', 'inherit', 'inherit'],
    detached: o.detached ?? false,
  });
  const exited = new Promise<number | string | null>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve(code ?? signal);
    });
  });
  return {
    name,
    child,
    exited,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
