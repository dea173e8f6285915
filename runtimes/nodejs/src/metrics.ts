/**
 * The runtime's Prometheus metrics (reference/kubeless.md §3.4), kept by hand so the request path
 * pays for two additions and a bucket search, and the text has the same shape as the Python
 * runtime's:
 * - `function_calls_total{method}` counter: invocations of the function;
 * - `function_failures_total{method}` counter: invocations that threw, rejected or timed out;
 * - `function_duration_seconds{method}` histogram with the Prometheus client default buckets.
 * `method` is the HTTP method of the request.
 */

/** The default buckets of the official Prometheus clients (and prom-client). */
export const DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface MethodStats {
  calls: number;
  failures: number;
  /** Non-cumulative counts per bucket; the last slot is +Inf. */
  buckets: number[];
  sum: number;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export class FunctionMetrics {
  readonly #byMethod = new Map<string, MethodStats>();
  /** Most requests share one method: skip the map for a repeat. */
  #lastMethod = '';
  #lastStats: MethodStats | undefined;

  /** Records one finished invocation. */
  record(method: string, seconds: number, failed: boolean): void {
    let stats = method === this.#lastMethod ? this.#lastStats : this.#byMethod.get(method);
    if (stats === undefined) {
      stats = { calls: 0, failures: 0, buckets: new Array<number>(DURATION_BUCKETS.length + 1).fill(0), sum: 0 };
      this.#byMethod.set(method, stats);
    }
    this.#lastMethod = method;
    this.#lastStats = stats;
    stats.calls++;
    if (failed) stats.failures++;
    stats.sum += seconds;
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[i] ?? Infinity)) i++;
    stats.buckets[i] = (stats.buckets[i] ?? 0) + 1;
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
    for (const [method, s] of this.#byMethod) {
      const m = `method="${escapeLabel(method)}"`;
      calls.push(`function_calls_total{${m}} ${s.calls}`);
      failures.push(`function_failures_total{${m}} ${s.failures}`);
      let cumulative = 0;
      DURATION_BUCKETS.forEach((le, i) => {
        cumulative += s.buckets[i] ?? 0;
        durations.push(`function_duration_seconds_bucket{le="${le}",${m}} ${cumulative}`);
      });
      cumulative += s.buckets[DURATION_BUCKETS.length] ?? 0;
      durations.push(`function_duration_seconds_bucket{le="+Inf",${m}} ${cumulative}`);
      durations.push(`function_duration_seconds_sum{${m}} ${s.sum}`);
      durations.push(`function_duration_seconds_count{${m}} ${s.calls}`);
    }
    return [...calls, ...failures, ...durations].join('\n') + '\n';
  }
}

/** Content-Type of the text exposition format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
