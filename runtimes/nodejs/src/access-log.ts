/**
 * One line per request on stdout: `<ISO time> <remote> "<METHOD> <path>" <status> <ms>ms`.
 * Lines are copied into one reusable buffer and written when it is nearly full or 20 ms after the
 * first pending line, and on `flush()` before the process exits. Why: stdout on a pipe or a file is
 * a synchronous write on Linux, one syscall per request would cost more than the rest of a hello
 * request, and strings held until a later write would outlive the young generation and make
 * every garbage collection dearer; copied into the buffer they die at once.
 */
const BUFFER_BYTES = 64 * 1024;
const FLUSH_DELAY_MS = 20;

function pad3(n: number): string {
  return n < 10 ? `00${n}` : n < 100 ? `0${n}` : String(n);
}

export class AccessLog {
  readonly #buffer = Buffer.allocUnsafe(BUFFER_BYTES);
  #used = 0;
  #timer: NodeJS.Timeout | undefined;
  /** `YYYY-MM-DDTHH:MM:SS.` of the current second, so most lines only format milliseconds. */
  #second = -1;
  #secondPrefix = '';
  readonly #write: (data: Buffer) => void;

  /** `write` receives whole lines, each ending in a newline; it may keep the buffer it is given. */
  constructor(write: (data: Buffer) => void) {
    this.#write = write;
  }

  request(remote: string | undefined, method: string, path: string, status: number, durationMs: number): void {
    const now = Date.now();
    const second = Math.floor(now / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#secondPrefix = new Date(second * 1000).toISOString().slice(0, 20);
    }
    const us = Math.round(durationMs * 1000);
    this.line(`${this.#secondPrefix}${pad3(now - second * 1000)}Z ${remote ?? '-'} "${method} ${path}" ${status} ${Math.floor(us / 1000)}.${pad3(us % 1000)}ms`);
  }

  line(text: string): void {
    // A UTF-16 code unit takes at most 3 UTF-8 bytes; +1 for the newline.
    const worst = text.length * 3 + 1;
    if (worst > BUFFER_BYTES - this.#used) {
      this.flush();
      if (worst > BUFFER_BYTES) {
        this.#write(Buffer.from(text + '\n'));
        return;
      }
    }
    this.#used += this.#buffer.write(text, this.#used);
    this.#buffer[this.#used++] = 0x0a;
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.flush();
      }, FLUSH_DELAY_MS);
      // Pending log lines alone do not keep the process alive; exit paths call flush().
      this.#timer.unref();
    }
  }

  /** Writes what is pending now (also called before the process exits). */
  flush(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#used === 0) return;
    // A copy: the writer may queue it while this buffer fills again.
    const data = Buffer.from(this.#buffer.subarray(0, this.#used));
    this.#used = 0;
    this.#write(data);
  }
}
