/** Runs the real `kubeless` binary as a child process against the stack, and the function controller beside it. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT, spawnController, stackEnv, type ControllerProcess } from '@kubeless/stack';

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

/** The function controller as its own process on its ServiceAccount, watching `namespace` (kubeless-config read from there too). */
export const startFunctionController = (namespace: string): ControllerProcess => spawnController('function-controller', { watchNamespace: namespace, podNamespace: namespace });

/** The kafka-trigger as its own process on its ServiceAccount, sending straight to EndpointSlice endpoints (no cluster DNS here). */
export const startKafkaTrigger = (namespace: string): ControllerProcess =>
  spawnController('kafka-trigger', { watchNamespace: namespace, podNamespace: namespace, env: { STATUS_INTERVAL: '1s' } });
