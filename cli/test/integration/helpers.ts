/** Runs the real `kubeless` binary as a child process against the stack, and the function controller beside it. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT, stackEnv } from '@kubeless/stack';

export const BIN = path.join(REPO_ROOT, 'cli/bin/kubeless.js');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Run as this user of the stack's users kubeconfig (`--context`); default the admin kubeconfig. */
  user?: 'alice' | 'bob';
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** `kubeless ...args`; never throws on a non-zero exit. */
export function kubeless(args: string[], o: RunOptions = {}): Promise<Run> {
  const env = stackEnv();
  const userArgs = o.user ? ['--kubeconfig', env.KUBELESS_USERS_KUBECONFIG, '--context', o.user] : [];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...userArgs, ...args],
      {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: env.KUBECONFIG, KAFKA_BROKERS: env.KAFKA_BROKERS, ...o.env },
        timeout: o.timeoutMs ?? 60_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `kubeless` that must exit 0; returns stdout. */
export async function kubelessOk(args: string[], o: RunOptions = {}): Promise<string> {
  const r = await kubeless(args, o);
  if (r.code !== 0) throw new Error(`kubeless ${args.join(' ')} exited ${String(r.code)}: ${r.stderr}`);
  return r.stdout;
}

interface Service { stop: () => Promise<void>; child: ChildProcess }

/** A controller of services/<name>/dist/main.js as its own process, watching `namespace`; `stop` sends SIGTERM and waits. */
function startService(name: string, namespace: string, env: Record<string, string> = {}): Service {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, `services/${name}/dist/main.js`)], {
    env: {
      PATH: process.env.PATH,
      KUBECONFIG: stackEnv().KUBECONFIG,
      WATCH_NAMESPACE: namespace,
      POD_NAMESPACE: namespace,
      LEADER_ELECT: 'false',
      HEALTH_PORT: '0',
      HEALTH_HOST: '127.0.0.1',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return {
    child,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) {
          resolve();
          return;
        }
        child.once('exit', () => {
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

/** The function controller as its own process, watching `namespace` (kubeless-config read from there too). */
export const startFunctionController = (namespace: string): Service => startService('function-controller', namespace);

/** The kafka-trigger as its own process, sending straight to EndpointSlice endpoints (no cluster DNS here). */
export const startKafkaTrigger = (namespace: string): Service =>
  startService('kafka-trigger', namespace, { KAFKA_BROKERS: stackEnv().KAFKA_BROKERS, ENDPOINT_MODE: 'endpointslice', STATUS_INTERVAL: '1s' });
