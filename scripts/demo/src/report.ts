/**
 * The demo's output: numbered steps with timings, indented detail lines, progress on long waits.
 * scripts/demo.sh prints steps 1-3 in the same shape and passes `DEMO_T0` (ms since the epoch)
 * so the elapsed time counts from the start of `npm run demo`.
 */

/** A failure the demo explains in one sentence (no stack trace): what was expected and what was seen. */
export class DemoError extends Error {
  override name = 'DemoError';
}

const INDENT = '       ';

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

function clock(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${String(Math.floor(s / 60))}:${String(s % 60).padStart(2, '0')}`;
}

export interface Step {
  /** One detail line (or several, split on newlines), indented under the step. */
  say: (text: string) => void;
  /** Milliseconds since the step began. */
  elapsed: () => number;
}

export class Steps {
  readonly #t0: number;
  readonly #total: number;
  #n: number;
  /** The step running now, for the failure message. */
  current = '';

  constructor(o: { first: number; total: number; t0: number }) {
    this.#n = o.first - 1;
    this.#total = o.total;
    this.#t0 = o.t0;
  }

  /** Runs one numbered step: its title, its detail lines, then `done in ...` or `FAILED after ...`. `n` jumps to that number (the last step, after a failure). */
  async run<T>(title: string, fn: (s: Step) => Promise<T>, n?: number): Promise<T> {
    this.#n = n ?? this.#n + 1;
    this.current = `step ${String(this.#n)} (${title})`;
    const width = String(this.#total).length;
    process.stdout.write(`\n[${String(this.#n).padStart(width)}/${String(this.#total)}] ${title}\n`);
    const start = Date.now();
    const step: Step = { say: sayLine, elapsed: () => Date.now() - start };
    try {
      const value = await fn(step);
      sayLine(`done in ${seconds(Date.now() - start)} (elapsed ${clock(Date.now() - this.#t0)})`);
      return value;
    } catch (err) {
      sayLine(`FAILED after ${seconds(Date.now() - start)}: ${message(err)}`);
      throw err;
    }
  }

  /** Time since `npm run demo` started. */
  elapsed(): string {
    return clock(Date.now() - this.#t0);
  }
}

export function sayLine(text: string): void {
  for (const line of text.replace(/\n+$/, '').split('\n')) process.stdout.write(`${INDENT}${line}\n`);
}

export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Quotes one argument the way a shell user would type it. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
