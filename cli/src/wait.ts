/**
 * `--wait`: polls an object until `readiness` says ready or failed. Everything it prints goes to
 * `progress` (the CLI passes stderr, so a script piping stdout gets only the command's result): on a
 * terminal it redraws one spinner line, otherwise it prints a plain line each time the reason or
 * message changes, and `<what> is ready` at the end. A failure throws a `CliError` with the status
 * reason (`KUBELESS_CLI_NOT_READY`), the time limit one with the last reason (`KUBELESS_CLI_WAIT_TIMEOUT`).
 */
import type { Stream } from './app.js';
import { CliError } from './errors.js';
import { readiness, type Readiness } from './readiness.js';

export interface WaitOptions {
  /** What is waited for, e.g. `function foo`. */
  what: string;
  get: () => Promise<Parameters<typeof readiness>[0]>;
  /** Where progress goes: stderr in the CLI; a spinner only when it is a TTY. */
  progress: Stream;
  timeoutMs: number;
  intervalMs?: number;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export async function waitReady(o: WaitOptions): Promise<Readiness> {
  const tty = o.progress.isTTY === true;
  const deadline = o.timeoutMs > 0 ? Date.now() + o.timeoutMs : Infinity;
  let last = '';
  let frame = 0;
  let r: Readiness = { state: 'pending', reason: 'NoStatus', message: '' };
  for (;;) {
    r = readiness(await o.get());
    const line = `${o.what}: ${r.reason}${r.message ? ` (${r.message})` : ''}`;
    if (r.state !== 'pending') {
      if (tty) o.progress.write('\r\x1b[K');
      if (r.state === 'ready') {
        o.progress.write(`${o.what} is ready${r.message ? `: ${r.message}` : ''}\n`);
        return r;
      }
      throw new CliError(`${o.what} failed: ${r.reason}${r.message ? `: ${r.message}` : ''}`, 'KUBELESS_CLI_NOT_READY');
    }
    if (tty) o.progress.write(`\r\x1b[K${FRAMES[frame++ % FRAMES.length] ?? ''} waiting for ${line}`);
    else if (line !== last) o.progress.write(`waiting for ${line}\n`);
    last = line;
    if (Date.now() >= deadline) {
      if (tty) o.progress.write('\r\x1b[K');
      throw new CliError(`timed out waiting for ${o.what} to be ready: ${r.reason}${r.message ? `: ${r.message}` : ''}`, 'KUBELESS_CLI_WAIT_TIMEOUT');
    }
    await new Promise((res) => setTimeout(res, o.intervalMs ?? 500));
  }
}
