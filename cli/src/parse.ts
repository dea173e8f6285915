/**
 * Parsers of flag values. Each returns the typed value or throws a `CliError` naming the flag.
 * Pure: no I/O.
 */
import { DURATION_PATTERN, durationProblem } from '@kubeless/api';
import { CliError } from './errors.js';

/**
 * `KEY=VAL` lists as the original took them (`--label`, `--env`, `--node-selectors`): a flag may
 * repeat, each value may hold several comma-separated pairs, a pair splits on its first `=`, or on
 * its first `:` when it has no `=`, and a bare `KEY` is a key with an empty value (the original's
 * `--label foo:bar,bar=foo,foobar` is foo=bar, bar=foo and foobar=""). With `commasInValues`
 * (`--env`, `--annotation`) a comma splits only before another `KEY=` or `KEY:`, so values may hold
 * commas (`LIST=a,b`); label values cannot, so there every comma splits. Later keys override
 * earlier ones; order is kept.
 */
export function parsePairs(flag: string, values: readonly string[] | undefined, o: { commasInValues?: boolean } = {}): [string, string][] {
  const out = new Map<string, string>();
  const split = o.commasInValues === true ? /,(?=\s*[^,=:]+[=:])/ : /,/;
  for (const value of values ?? []) {
    for (const raw of value.split(split)) {
      const item = raw.trim();
      if (item === '') continue;
      const sep = item.includes('=') ? '=' : ':';
      const i = item.indexOf(sep);
      const key = (i < 0 ? item : item.slice(0, i)).trim();
      if (key === '') throw new CliError(`--${flag}: "${item}" has no key (KEY=VALUE, KEY:VALUE or KEY)`);
      out.set(key, i < 0 ? '' : item.slice(i + 1));
    }
  }
  return [...out];
}

/** `parsePairs` as a record: labels and node selectors (every comma splits), annotations with `commasInValues`. */
export function parseKeyValues(flag: string, values: readonly string[] | undefined, o: { commasInValues?: boolean } = {}): Record<string, string> {
  return Object.fromEntries(parsePairs(flag, values, o));
}

/** `--env` values as container env entries, in order. */
export function parseEnv(values: readonly string[] | undefined): { name: string; value: string }[] {
  return parsePairs('env', values, { commasInValues: true }).map(([name, value]) => ({ name, value }));
}

/** A comma-separated list (values may also repeat the flag); blanks dropped. */
export function parseList(values: readonly string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(',')).map((s) => s.trim()).filter((s) => s !== '');
}

/** An integer within [min, max]. */
export function parseIntFlag(flag: string, value: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^-?[0-9]+$/.test(value.trim())) throw new CliError(`--${flag}: "${value}" is not an integer`);
  const n = Number(value);
  if (n < min || n > max) throw new CliError(`--${flag}: ${value} is out of range [${String(min)}, ${String(max)}]`);
  return n;
}

/** One of `allowed`. */
export function parseEnum<const T extends readonly string[]>(flag: string, value: string, allowed: T): T[number] {
  if (!allowed.includes(value)) throw new CliError(`--${flag}: "${value}" is not one of ${allowed.join(', ')}`);
  return value;
}

/** A Go duration string (`500ms`, `10s`, `2m`), checked and returned as written. */
export function parseGoDuration(flag: string, value: string): string {
  if (!new RegExp(DURATION_PATTERN, 'u').test(value)) throw new CliError(`--${flag}: "${value}" is not a duration such as 500ms, 10s or 2m`);
  return value;
}

/** A Go duration something waits on: longer than 0 and at most about 24.8 days, as the CRD checks. */
export function parseWait(flag: string, value: string): string {
  parseGoDuration(flag, value);
  const problem = durationProblem(`--${flag}`, value);
  if (problem) throw new CliError(problem);
  return value;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A wait limit in milliseconds: a Go duration (`90s`, `2m30s`) or a bare number of seconds.
 * Zero means no limit.
 */
export function parseWaitTimeout(flag: string, value: string): number {
  const v = value.trim();
  if (/^[0-9]+(\.[0-9]+)?$/.test(v)) return Math.round(Number(v) * 1000);
  if (!/^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/.test(v)) throw new CliError(`--${flag}: "${value}" is not a duration such as 90s or 5m`);
  let total = 0;
  for (const m of v.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g)) total += Number(m[1]) * (UNIT_MS[m[2] ?? 's'] ?? 0);
  return Math.round(total);
}

/** A Kubernetes resource quantity such as `128Mi`, `0.5`, `250m`, `1e3`. */
export function parseQuantity(flag: string, value: string): string {
  if (!/^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+)?$/.test(value)) {
    throw new CliError(`--${flag}: "${value}" is not a resource quantity such as 128Mi or 250m`);
  }
  return value;
}

/** A label selector's `matchLabels` from `k=v,k2=v2` (the original's `--function-selector`). */
export function parseSelector(flag: string, value: string): Record<string, string> {
  const labels = parseKeyValues(flag, [value]);
  if (Object.keys(labels).length === 0) throw new CliError(`--${flag}: empty selector`);
  return labels;
}
