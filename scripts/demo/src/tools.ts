/**
 * What the demo drives: the real `kubeless` CLI and kubectl as child processes (their commands
 * and output shown), HTTP requests, and deadline-bounded waits that report progress.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT, stackEnv, userKubeconfig } from '@kubeless/stack';
import { DemoError, sayLine, seconds, shellQuote } from './report.js';

export const KUBELESS_BIN = path.join(REPO_ROOT, 'cli', 'bin', 'kubeless.js');

/** Aborted on SIGINT/SIGTERM: waits stop and the demo cleans up. */
export const interrupt = new AbortController();

export interface RunOptions {
  /** Print the command and its output (default true). */
  echo?: boolean;
  /** Kill the command after this long (default 120 s). */
  timeoutMs?: number;
  /** Lines of output to show at most (the rest is summarised). */
  maxLines?: number;
  /** Written to the command's stdin. */
  input?: string;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `command` from the repository root with the stack's admin kubeconfig; never throws on a non-zero exit. */
function run(display: string, command: string, args: string[], o: RunOptions, shownArgs: string[] = args): Promise<RunResult> {
  const echo = o.echo ?? true;
  // Cleanup after an interrupt still runs commands: only an interrupt during this one fails it.
  const interruptedBefore = interrupt.signal.aborted;
  if (echo) sayLine(`$ ${display} ${shownArgs.map(shellQuote).join(' ')}`);
  const env = stackEnv();
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      KUBECONFIG: env.KUBECONFIG,
      KAFKA_BROKERS: env.KAFKA_BROKERS,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end(o.input ?? '');
  let stdout = '';
  let stderr = '';
  let shown = 0;
  let pending = '';
  const maxLines = o.maxLines ?? 40;
  const show = (line: string): void => {
    if (shown < maxLines) sayLine(`  ${line}`);
    else if (shown === maxLines) sayLine('  ...');
    shown += 1;
  };
  child.stdout.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    stdout += text;
    if (!echo) return;
    pending += text;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) show(line);
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timeoutMs = o.timeoutMs ?? 120_000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGTERM');
  }, timeoutMs);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (echo && pending !== '') show(pending);
      if (interrupt.signal.aborted && !interruptedBefore) {
        reject(new DemoError(`interrupted during \`${display} ${shownArgs.map(shellQuote).join(' ')}\``));
        return;
      }
      if (timedOut) stderr += `(no exit within ${seconds(timeoutMs)}: stopped)`;
      else if (signal) stderr += `(killed by ${signal})`;
      resolve({ code: code ?? 128, stdout, stderr });
    });
  });
}

/** `kubeless ...args`, which must exit 0; returns its stdout. */
export async function kubeless(args: string[], o: RunOptions = {}): Promise<string> {
  const r = await run('kubeless', process.execPath, [KUBELESS_BIN, ...args], o, args);
  if (r.code !== 0) throw new DemoError(`kubeless ${args.map(shellQuote).join(' ')} exited ${String(r.code)}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** `kubeless ...args` whose failure the caller handles. */
export function kubelessMaybe(args: string[], o: RunOptions = {}): Promise<RunResult> {
  return run('kubeless', process.execPath, [KUBELESS_BIN, ...args], o, args);
}

/** `kubectl ...args` as the stack's admin; must exit 0. */
export async function kubectl(args: string[], o: RunOptions = {}): Promise<string> {
  const r = await run('kubectl', 'kubectl', ['--kubeconfig', userKubeconfig(stackEnv(), 'admin'), ...args], { echo: false, ...o });
  if (r.code !== 0) throw new DemoError(`kubectl ${args.map(shellQuote).join(' ')} exited ${String(r.code)}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** `kubectl ...args` as the stack's admin, whose failure the caller handles (shown unless `echo: false`). */
export function kubectlMaybe(args: string[], o: RunOptions = {}): Promise<RunResult> {
  return run('kubectl', 'kubectl', ['--kubeconfig', userKubeconfig(stackEnv(), 'admin'), ...args], o, args);
}

/** The same as `kubectl`, but the command shown leaves out the kubeconfig (KUBECONFIG is the admin's). */
export async function kubectlShown(args: string[], o: RunOptions = {}): Promise<string> {
  sayLine(`$ kubectl ${args.map(shellQuote).join(' ')}`);
  const out = await kubectl(args, { ...o, echo: false });
  const lines = out.replace(/\n$/, '').split('\n');
  const maxLines = o.maxLines ?? 40;
  for (const line of lines.slice(0, maxLines)) sayLine(`  ${line}`);
  if (lines.length > maxLines) sayLine('  ...');
  return out;
}

export interface Probe<T> {
  /** The value the wait is for, once there. */
  value?: T;
  /** What is seen now, for progress lines and the failure message. */
  state?: string;
  /** Set when waiting longer cannot help (e.g. the process exited): fails at once with this. */
  fail?: string;
}

/**
 * Polls `probe` until it gives a value; prints the state every `progressMs` (15 s) while waiting;
 * throws a DemoError naming `what` and the last state after `timeoutMs`. A probe that throws
 * counts as "not yet" (its message becomes the state).
 */
export async function waitUntil<T>(what: string, probe: () => Promise<Probe<T>>, o: { timeoutMs: number; intervalMs?: number; progressMs?: number }): Promise<T> {
  const start = Date.now();
  let nextProgress = start + (o.progressMs ?? 15_000);
  let state = 'nothing yet';
  for (;;) {
    if (interrupt.signal.aborted) throw new DemoError(`interrupted while waiting for ${what}`);
    let p: Probe<T> = {};
    try {
      p = await probe();
    } catch (err) {
      state = err instanceof Error ? err.message : String(err);
    }
    if (p.value !== undefined) return p.value;
    if (p.fail !== undefined) throw new DemoError(`${what}: ${p.fail}`);
    if (p.state !== undefined) state = p.state;
    const now = Date.now();
    if (now - start > o.timeoutMs) throw new DemoError(`${what}: not there within ${seconds(o.timeoutMs)}; last seen: ${state}`);
    if (now >= nextProgress) {
      sayLine(`... still waiting for ${what} (${seconds(now - start)}): ${state}`);
      nextProgress = now + (o.progressMs ?? 15_000);
    }
    await sleep(o.intervalMs ?? 1000, undefined, { signal: interrupt.signal }).catch(() => undefined);
  }
}

export interface HttpResult {
  status: number;
  body: string;
}

/** One HTTP request (5 s timeout). */
export function request(url: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: o.method ?? 'GET', headers: o.headers, timeout: 5000, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within 5 s`)));
    req.on('error', reject);
    req.end(o.body);
  });
}
