/**
 * Runtime ids that name a language version past its end of life, and the id to move to.
 * Shared by the CLI (`--runtime`) and the function controller (a Function's status), so both
 * refuse `nodejs20` or `python2.7` with the same hint. Pure. Which ids are supported stays the
 * business of kubeless-config: an id the config lists is served whatever this module says.
 */

/** A runtime id whose language version reached end of life. */
export interface RetiredRuntime {
  /** A sentence fragment, e.g. "Node.js 20 reached end of life in April 2026". */
  why: string;
  /** The id kubeless suggests instead: `nodejs24` (the LTS line nearest the retired ones) or `python3.13`. */
  use: string;
}

/** Node.js majors past end of life, with the month (nodejs.org release schedule); older majors have no month here. */
const NODE_END_OF_LIFE: Readonly<Record<number, string>> = {
  8: 'December 2019', 10: 'April 2021', 12: 'April 2022', 14: 'April 2023', 16: 'September 2023',
  18: 'April 2025', 19: 'June 2023', 20: 'April 2026', 21: 'June 2024', 23: 'June 2025', 25: 'June 2026',
};
/** Node.js majors below this one are all past end of life. */
const NODE_OLDEST_SUPPORTED = 22;
const NODE_USE = 'nodejs24';

/** Python versions past end of life, with the month (devguide.python.org/versions). */
const PYTHON_END_OF_LIFE: Readonly<Record<string, string>> = {
  '2.7': 'January 2020', '3.6': 'December 2021', '3.7': 'June 2023', '3.8': 'October 2024', '3.9': 'October 2025', '3.10': 'October 2026',
};
/** Python versions below this one are all past end of life. */
const PYTHON_OLDEST_SUPPORTED = [3, 11] as const;
const PYTHON_USE = 'python3.13';

/**
 * The end-of-life facts for `id` (`nodejs20`, `nodejs18`, `python2.7`, `python3.9`, ...), or
 * undefined for an id this module does not know to be retired (`nodejs24`, `go1.22`, `bogus`).
 */
export function retiredRuntime(id: string): RetiredRuntime | undefined {
  const node = /^nodejs(\d+)$/u.exec(id);
  if (node) {
    const major = Number(node[1]);
    const month = NODE_END_OF_LIFE[major];
    if (month === undefined && major >= NODE_OLDEST_SUPPORTED) return undefined;
    return { why: endOfLife(`Node.js ${String(major)}`, month), use: NODE_USE };
  }
  const python = /^python(\d+)\.(\d+)$/u.exec(id);
  if (python) {
    const [major, minor] = [Number(python[1]), Number(python[2])];
    const version = `${String(major)}.${String(minor)}`;
    const month = PYTHON_END_OF_LIFE[version];
    const older = major < PYTHON_OLDEST_SUPPORTED[0] || (major === PYTHON_OLDEST_SUPPORTED[0] && minor < PYTHON_OLDEST_SUPPORTED[1]);
    if (month === undefined && !older) return undefined;
    return { why: endOfLife(`Python ${version}`, month), use: PYTHON_USE };
  }
  return undefined;
}

/**
 * The hint to put right after the quoted id in an "unsupported runtime" message, e.g.
 * ` (Node.js 20 reached end of life in April 2026); use nodejs24`, or `''` when `id` is not a
 * retired one. The suggestion is the one `retiredRuntime` names when `supported` lists it, else
 * the newest id of the same language that `supported` lists, else none (just the parenthesis).
 */
export function endOfLifeHint(id: string, supported: readonly string[]): string {
  const retired = retiredRuntime(id);
  if (!retired) return '';
  const use = supported.includes(retired.use) ? retired.use : newestOfLanguage(retired.use, supported);
  return use === undefined ? ` (${retired.why})` : ` (${retired.why}); use ${use}`;
}

function endOfLife(language: string, month: string | undefined): string {
  return month === undefined ? `${language} reached end of life` : `${language} reached end of life in ${month}`;
}

/** The supported id with the highest version among those of `like`'s language that are not retired. */
function newestOfLanguage(like: string, supported: readonly string[]): string | undefined {
  const language = /^[a-z]+/u.exec(like)?.[0] ?? like;
  let best: { id: string; version: number[] } | undefined;
  for (const id of supported) {
    const m = new RegExp(`^${language}(\\d+(?:\\.\\d+)*)$`, 'u').exec(id);
    if (!m?.[1] || retiredRuntime(id)) continue;
    const version = m[1].split('.').map(Number);
    if (!best || compareVersions(version, best.version) > 0) best = { id, version };
  }
  return best?.id;
}

function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
