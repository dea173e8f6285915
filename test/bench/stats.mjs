/**
 * Statistics shared by the benchmarks (test/bench/*.mjs, runtime.js).
 */

/** The median: the middle value, or the mean of the two middle values of an even count; NaN when empty. */
export function median(xs) {
  const v = [...xs].sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}
