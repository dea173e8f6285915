/**
 * Output helpers: kubectl-style tables and JSON/YAML documents. Pure: they return strings.
 */
import { stringify } from 'yaml';

export type OutputFormat = 'table' | 'wide' | 'json' | 'yaml';

/** A left-aligned table with kubectl's three-space gutter; cells are made single-line. */
export function renderTable(headers: string[], rows: (string | number | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => headers.map((_, i) => oneLine(r[i])))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 3))).join('').trimEnd()).join('\n') + '\n';
}

function oneLine(v: string | number | undefined): string {
  if (v === undefined) return '';
  return String(v).replace(/\s*\n\s*/g, ', ');
}

/** JSON (2-space indent) or YAML of `data`, ending in a newline. */
export function renderDocument(format: 'json' | 'yaml', data: unknown): string {
  if (format === 'json') return JSON.stringify(data, null, 2) + '\n';
  return stringify(data, { lineWidth: 0 });
}

/** A list of documents: JSON prints an array, YAML a `List` like kubectl. */
export function renderList(format: 'json' | 'yaml', items: unknown[]): string {
  return renderDocument(format, format === 'json' ? items : { apiVersion: 'v1', kind: 'List', items });
}

/** Kubernetes-style age of an RFC 3339 timestamp, e.g. `45s`, `3m`, `2h`, `4d`. */
export function age(timestamp: string | undefined, now = Date.now()): string {
  if (!timestamp) return '<unknown>';
  const s = Math.max(0, Math.floor((now - Date.parse(timestamp)) / 1000));
  if (s < 120) return `${String(s)}s`;
  if (s < 7200) return `${String(Math.floor(s / 60))}m`;
  if (s < 172_800) return `${String(Math.floor(s / 3600))}h`;
  return `${String(Math.floor(s / 86_400))}d`;
}
