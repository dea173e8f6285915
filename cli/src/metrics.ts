/**
 * Reads the runtime's Prometheus metrics (docs/architecture.md#runtimes: `function_calls_total`,
 * `function_failures_total`, `function_duration_seconds` by `method`) into the rows of
 * `kubeless function top`. Pure.
 */

export interface MethodStats {
  method: string;
  calls: number;
  failures: number;
  durationSeconds: number;
  /** Mean duration of a call in seconds; 0 without calls. */
  averageSeconds: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/;

/** Per-method totals; a method appears once any of the three series mentions it. */
export function parseFunctionMetrics(text: string): MethodStats[] {
  const by = new Map<string, { calls: number; failures: number; sum: number; count: number }>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = LINE.exec(line.trim());
    if (!m) continue;
    const name = m[1] ?? '';
    const field =
      name === 'function_calls_total' ? 'calls' : name === 'function_failures_total' ? 'failures' : name === 'function_duration_seconds_sum' ? 'sum' : name === 'function_duration_seconds_count' ? 'count' : undefined;
    if (!field) continue;
    const method = /(?:^|,)\s*method="((?:[^"\\]|\\.)*)"/.exec(m[3] ?? '')?.[1] ?? '';
    const value = Number(m[4]);
    if (!Number.isFinite(value)) continue;
    const entry = by.get(method) ?? { calls: 0, failures: 0, sum: 0, count: 0 };
    entry[field] += value;
    by.set(method, entry);
  }
  return [...by]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([method, e]) => ({ method, calls: e.calls, failures: e.failures, durationSeconds: e.sum, averageSeconds: e.count > 0 ? e.sum / e.count : 0 }));
}

/**
 * One row of `kubeless function top`, keyed as the original printed it in JSON and YAML
 * (`total_calls`, `total_failures`, `total_duration_seconds`, `avg_duration_seconds`): scripts grep them.
 */
export interface TopRow {
  name: string;
  namespace: string;
  method: string;
  total_calls: number;
  total_failures: number;
  total_duration_seconds: number;
  avg_duration_seconds: number;
  message: string;
}

/** A `top` row for a function, from its stats for one method (none: zeros) and a message. */
export function topRow(base: { name: string; namespace: string }, s: MethodStats | undefined, message: string): TopRow {
  return {
    ...base,
    method: s?.method ?? '',
    total_calls: s?.calls ?? 0,
    total_failures: s?.failures ?? 0,
    total_duration_seconds: s?.durationSeconds ?? 0,
    avg_duration_seconds: s?.averageSeconds ?? 0,
    message,
  };
}
