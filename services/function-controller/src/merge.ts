/**
 * Merges a template under an object, as the original (mergo, non-overriding): values already in
 * `over` win; `under` fills what is missing. Objects merge deeply; arrays are kept from `over`
 * when it has them, except `containers`/`initContainers` (merged index-wise) and `env`,
 * `volumeMounts`, `volumes`, `ports`, `imagePullSecrets` (appended, without duplicate names).
 * Pure; neither argument is modified.
 */
const APPENDED = new Set(['env', 'volumeMounts', 'volumes', 'ports', 'imagePullSecrets', 'envFrom']);
const INDEXWISE = new Set(['containers', 'initContainers']);

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function mergeUnder(over: unknown, under: unknown, key = ''): unknown {
  if (over === undefined || over === null) return structuredClone(under);
  if (under === undefined || under === null) return structuredClone(over);
  if (Array.isArray(over) && Array.isArray(under)) {
    if (INDEXWISE.has(key)) {
      const n = Math.max(over.length, under.length);
      return Array.from({ length: n }, (_, i) => mergeUnder(over[i], under[i]));
    }
    if (APPENDED.has(key)) {
      const nameOf = (x: unknown): unknown => (isObject(x) ? (x.name ?? x.containerPort ?? JSON.stringify(x)) : x);
      const seen = new Set(over.map(nameOf));
      return [...(structuredClone(over) as unknown[]), ...(structuredClone(under.filter((x) => !seen.has(nameOf(x)))) as unknown[])];
    }
    return structuredClone(over);
  }
  if (isObject(over) && isObject(under)) {
    const out: Json = {};
    for (const k of new Set([...Object.keys(over), ...Object.keys(under)])) out[k] = mergeUnder(over[k], under[k], k);
    return out;
  }
  return structuredClone(over);
}
