/**
 * The runtime's Prometheus metrics (the original runtimes' names; runtimes/README.md, "Endpoints"),
 * kept by hand so the request path pays for two additions and a bucket search, and the text has the
 * same shape as the Python runtime's:
 * - `function_calls_total{method}` counter: invocations of the function;
 * - `function_failures_total{method}` counter: invocations that threw, rejected or timed out;
 * - `function_duration_seconds{method}` histogram with the Prometheus client default buckets.
 * `method` is the HTTP method of the request. The numbers live in a typed array that may be shared
 * (`createMetricsStore`), so they survive the replacement of a runtime worker.
 */

/** The default buckets of the official Prometheus clients (and prom-client). */
export const DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Methods the store keeps apart; a method past these is counted under the last one. */
export const METRIC_METHODS = 64;
const NAME_BYTES = 16;
const BUCKETS = DURATION_BUCKETS.length + 1;
/** Per method: calls, failures, sum, then the non-cumulative bucket counts (the last is +Inf). */
const CALLS = 0;
const FAILURES = 1;
const SUM = 2;
const FIRST_BUCKET = 3;
const STRIDE = FIRST_BUCKET + BUCKETS;
/** Float64 header: the number of methods in use. */
const HEADER = 1;

/**
 * Storage for the metrics that outlives a runtime worker (the supervisor hands it to each new one,
 * and counts the timeouts it answers itself into it): numbers in a Float64 region, method names in
 * a byte region. One writer at a time: the worker, or the supervisor once the worker is stopped.
 */
export function createMetricsStore(): SharedArrayBuffer {
  return new SharedArrayBuffer((HEADER + METRIC_METHODS * STRIDE) * 8 + METRIC_METHODS * NAME_BYTES);
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export class FunctionMetrics {
  readonly #f: Float64Array;
  readonly #names: Uint8Array;
  readonly #slots = new Map<string, number>();
  /** Most requests share one method: skip the map for a repeat. */
  #lastMethod = '';
  #lastBase = -1;

  /** Metrics kept in `store` (a new private one when omitted); names already in it are reused. */
  constructor(store: ArrayBufferLike = new ArrayBuffer((HEADER + METRIC_METHODS * STRIDE) * 8 + METRIC_METHODS * NAME_BYTES)) {
    this.#f = new Float64Array(store, 0, HEADER + METRIC_METHODS * STRIDE);
    this.#names = new Uint8Array(store, (HEADER + METRIC_METHODS * STRIDE) * 8, METRIC_METHODS * NAME_BYTES);
    const count = this.#f[0] ?? 0;
    for (let slot = 0; slot < count; slot++) this.#slots.set(this.#name(slot), slot);
  }

  #name(slot: number): string {
    const bytes = this.#names.subarray(slot * NAME_BYTES, (slot + 1) * NAME_BYTES);
    const end = bytes.indexOf(0);
    return Buffer.from(bytes.subarray(0, end === -1 ? NAME_BYTES : end)).toString('latin1');
  }

  /** The store's index for `method` (allocated on first use), for `recordSlot`. */
  methodSlot(method: string): number {
    return (this.#base(method) - HEADER) / STRIDE;
  }

  #base(method: string): number {
    if (method === this.#lastMethod) return this.#lastBase;
    let slot = this.#slots.get(method);
    if (slot === undefined) {
      const count = this.#f[0] ?? 0;
      if (count < METRIC_METHODS) {
        slot = count;
        const name = Buffer.from(method.slice(0, NAME_BYTES), 'latin1');
        this.#names.set(name.subarray(0, NAME_BYTES), slot * NAME_BYTES);
        this.#f[0] = count + 1;
        this.#slots.set(method, slot);
      } else {
        slot = METRIC_METHODS - 1;
      }
    }
    this.#lastMethod = method;
    this.#lastBase = HEADER + slot * STRIDE;
    return this.#lastBase;
  }

  /** Records one finished invocation. */
  record(method: string, seconds: number, failed: boolean): void {
    this.#add(this.#base(method), seconds, failed);
  }

  /** Records one finished invocation by its `methodSlot`. */
  recordSlot(slot: number, seconds: number, failed: boolean): void {
    if (slot >= 0 && slot < METRIC_METHODS) this.#add(HEADER + slot * STRIDE, seconds, failed);
  }

  #add(base: number, seconds: number, failed: boolean): void {
    const f = this.#f;
    f[base + CALLS] = (f[base + CALLS] ?? 0) + 1;
    if (failed) f[base + FAILURES] = (f[base + FAILURES] ?? 0) + 1;
    f[base + SUM] = (f[base + SUM] ?? 0) + seconds;
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[i] ?? Infinity)) i++;
    f[base + FIRST_BUCKET + i] = (f[base + FIRST_BUCKET + i] ?? 0) + 1;
  }

  /** The Prometheus text exposition format (version 0.0.4). */
  render(): string {
    const calls: string[] = ['# HELP function_calls_total Number of calls to the function', '# TYPE function_calls_total counter'];
    const failures: string[] = [
      '# HELP function_failures_total Number of failed calls to the function (errors and timeouts)',
      '# TYPE function_failures_total counter',
    ];
    const durations: string[] = [
      '# HELP function_duration_seconds Duration of calls to the function in seconds',
      '# TYPE function_duration_seconds histogram',
    ];
    const f = this.#f;
    const count = f[0] ?? 0;
    for (let slot = 0; slot < count; slot++) {
      const base = HEADER + slot * STRIDE;
      const m = `method="${escapeLabel(this.#name(slot))}"`;
      calls.push(`function_calls_total{${m}} ${f[base + CALLS] ?? 0}`);
      failures.push(`function_failures_total{${m}} ${f[base + FAILURES] ?? 0}`);
      let cumulative = 0;
      DURATION_BUCKETS.forEach((le, i) => {
        cumulative += f[base + FIRST_BUCKET + i] ?? 0;
        durations.push(`function_duration_seconds_bucket{le="${le}",${m}} ${cumulative}`);
      });
      cumulative += f[base + FIRST_BUCKET + DURATION_BUCKETS.length] ?? 0;
      durations.push(`function_duration_seconds_bucket{le="+Inf",${m}} ${cumulative}`);
      durations.push(`function_duration_seconds_sum{${m}} ${f[base + SUM] ?? 0}`);
      durations.push(`function_duration_seconds_count{${m}} ${f[base + CALLS] ?? 0}`);
    }
    return [...calls, ...failures, ...durations].join('\n') + '\n';
  }
}

/** Content-Type of the text exposition format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
