/** Runs the real `kubeless` binary as a child process against the stack (the CLI's tests, the cronjob-trigger's, test/e2e). */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../paths.js';
import { stackEnv } from '../testing.js';

export const KUBELESS_BIN = path.join(REPO_ROOT, 'cli/bin/kubeless.js');

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
      [KUBELESS_BIN, ...userArgs, ...args],
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
