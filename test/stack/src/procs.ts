import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** A process the stack started; `cmdline` guards against PID reuse. */
export interface DaemonRecord {
  name: string;
  pid: number;
  cmdline: string[];
  log: string;
}

/**
 * Starts a long-running process detached from the caller (its own process group, stdio to
 * `log`), so it outlives `stack up`. Throws when it exits within the first moments.
 */
export function startDaemon(name: string, command: string, args: string[], options: { log: string; env?: NodeJS.ProcessEnv; cwd?: string }): DaemonRecord {
  const fd = openSync(options.log, 'a');
  try {
    const child = spawn(command, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    if (child.pid === undefined) throw new Error(`${name}: failed to start ${command}`);
    child.unref();
    return { name, pid: child.pid, cmdline: [command, ...args], log: options.log };
  } finally {
    closeSync(fd);
  }
}

/** The command line of a live process, or undefined when it is gone (or a zombie). */
export function readCmdline(pid: number): string[] | undefined {
  try {
    const status = readFileSync(`/proc/${String(pid)}/status`, 'utf8');
    if (/^State:\s+Z/m.test(status)) return undefined;
    const raw = readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8');
    return raw.split('\0').filter((s) => s !== '');
  } catch {
    return undefined;
  }
}

/** True when `rec.pid` is alive and still runs the command the stack started. */
export function isAlive(rec: DaemonRecord): boolean {
  return readCmdline(rec.pid)?.join(' ') === rec.cmdline.join(' ');
}

/** Sends SIGTERM to the process group, then SIGKILL after `graceMs`; resolves when it is gone. */
export async function stopDaemon(rec: DaemonRecord, graceMs = 10_000): Promise<void> {
  if (!isAlive(rec)) return;
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-rec.pid, sig);
    } catch {
      try {
        process.kill(rec.pid, sig);
      } catch {
        // already gone
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(rec) && Date.now() < deadline) await sleep(100);
  if (isAlive(rec)) {
    signal('SIGKILL');
    while (isAlive(rec)) await sleep(50);
  }
}

/** Every live process whose command line contains `needle`. */
export function findProcesses(needle: string): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmd = readCmdline(Number(entry));
    if (cmd?.join(' ').includes(needle)) found.push({ pid: Number(entry), cmdline: cmd.join(' ') });
  }
  return found;
}

/** The network-namespace inode of a process, e.g. "net:[4026532291]". */
export function netnsOf(pid: number | 'self'): string | undefined {
  try {
    return readlinkSync(`/proc/${String(pid)}/ns/net`);
  } catch {
    return undefined;
  }
}

/** Ports in LISTEN state on IPv4/IPv6 in the network namespace of `pid` (default: this process's). */
export function listeningPorts(pid: number | 'self' = 'self'): Set<number> {
  const ports = new Set<number>();
  for (const file of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${String(pid)}/net/${file}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] !== '0A') continue; // 0A = TCP_LISTEN
      const port = parseInt(cols[1]?.split(':')[1] ?? '', 16);
      if (!Number.isNaN(port)) ports.add(port);
    }
  }
  return ports;
}
