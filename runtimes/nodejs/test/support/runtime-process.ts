/**
 * Starts a runtime (Node.js or Python) as a child process on 127.0.0.1, port 0, and waits for the
 * line that names the bound address. Output is kept for assertions.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
export const NODE_SERVER = path.join(REPO, 'runtimes/nodejs/dist/server.js');
export const NODE_PREPARE = path.join(REPO, 'runtimes/nodejs/dist/prepare.js');
export const PYTHON_SERVER = path.join(REPO, 'runtimes/python/kubeless.py');
export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

export type Language = 'nodejs' | 'python';

export function assertBuilt(): void {
  for (const file of [NODE_SERVER, NODE_PREPARE]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: run \`npx tsc -b runtimes/nodejs\` first`);
  }
}

export interface RuntimeProcess {
  url: string;
  port: number;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** Resolves when `predicate(output)` holds, or rejects after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function spawnRuntime(language: Language, env: Record<string, string>): { child: ChildProcess; out: { stdout: string; stderr: string }; exited: Promise<number | null> } {
  const command = language === 'nodejs' ? process.execPath : 'python3';
  const script = language === 'nodejs' ? NODE_SERVER : PYTHON_SERVER;
  const child = spawn(command, [script], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', FUNC_HOST: '127.0.0.1', FUNC_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out.stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (out.stderr += c));
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
    });
  });
  return { child, out, exited };
}

/** Starts the runtime and waits until it listens. */
export async function startRuntime(language: Language, env: Record<string, string>): Promise<RuntimeProcess> {
  const { child, out, exited } = spawnRuntime(language, env);
  let gone = false;
  void exited.then(() => (gone = true));
  const listening = /listening on (https?:\/\/[^\s]+)/;
  await waitFor(() => listening.test(out.stdout) || gone, 20_000, `${language} runtime to listen`).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  const match = listening.exec(out.stdout);
  if (match?.[1] === undefined) throw new Error(`${language} runtime exited before listening:\n${out.stderr}`);
  const url = match[1];
  return {
    url,
    port: Number(new URL(url).port),
    child,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    exited,
    stop: async (graceMs = 5000) => {
      if (gone) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
