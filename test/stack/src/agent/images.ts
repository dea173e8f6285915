/**
 * How the local node agent runs a container without a container runtime: the image names a
 * kubeless runtime family (through kubeless-config's runtime-images, or the kubeless image
 * naming), and the family maps to this checkout's runtime. The paths a container image has under
 * /opt/kubeless map to files of runtimes/<family>/.
 */
import path from 'node:path';
import { REPO_ROOT } from '../paths.js';

export interface LocalCommand {
  command: string;
  args: string[];
  /** Needs the registries (a deps install): run outside the stack's network namespace. */
  outsideNetns: boolean;
}

export type Family = 'nodejs' | 'python';

/** The runtime family of an image, from the runtime images a kubeless-config lists, else by name. */
export function familyOf(image: string, configured: { family: string; image: string }[]): Family | undefined {
  const hit = configured.find((c) => c.image === image)?.family;
  const guess = hit ?? (/runtime-nodejs|nodejs/.test(image) ? 'nodejs' : /runtime-python|python/.test(image) ? 'python' : undefined);
  return guess === 'nodejs' || guess === 'python' ? guess : undefined;
}

const NODE_DIST = path.join(REPO_ROOT, 'runtimes', 'nodejs', 'dist');

/**
 * The local command of a container. Throws an Error naming the image when it cannot be run here
 * (the pod then reports it, as a kubelet reports an image it cannot pull).
 */
export function localCommand(container: { name: string; image?: string; command?: string[]; args?: string[] }, family: Family | undefined): LocalCommand {
  const cmd = [...(container.command ?? []), ...(container.args ?? [])];
  const joined = cmd.join(' ');
  if (joined.includes('/opt/kubeless/prepare.js')) {
    return { command: process.execPath, args: [path.join(NODE_DIST, 'prepare.js')], outsideNetns: false };
  }
  if (joined.includes('/opt/kubeless/install-deps.sh')) {
    if (!family) throw new Error(`image ${container.image ?? ''} is not a kubeless runtime; cannot install deps here`);
    return { command: 'bash', args: [path.join(REPO_ROOT, 'runtimes', family, 'install-deps.sh')], outsideNetns: true };
  }
  if (cmd.length > 0) throw new Error(`container ${container.name} runs a command (${joined}) the local node agent cannot map`);
  if (family === 'nodejs') return { command: process.execPath, args: [path.join(NODE_DIST, 'server.js')], outsideNetns: false };
  if (family === 'python') return { command: 'python3', args: [path.join(REPO_ROOT, 'runtimes', 'python', 'kubeless.py')], outsideNetns: false };
  throw new Error(`image ${container.image ?? ''} is not a kubeless runtime the local node agent knows`);
}

/**
 * Rewrites container paths in an env value to the pod's host folders (longest mount path first):
 * `/kubeless/node_modules` -> `<pod>/volumes/kubeless-code/node_modules`.
 */
export function rewritePaths(value: string, mounts: { mountPath: string; hostPath: string }[]): string {
  if (mounts.length === 0) return value;
  const sorted = [...mounts].sort((a, b) => b.mountPath.length - a.mountPath.length);
  const byPath = new Map(sorted.map((m) => [m.mountPath, m.hostPath]));
  const alternatives = sorted.map((m) => m.mountPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  // One pass, so a host path put in is never rewritten again (e.g. /tmp inside /tmp/stack/...).
  return value.replace(new RegExp(`(^|[:=\\s])(${alternatives})(?=/|$|:)`, 'g'), (_m, pre: string, p: string) => `${pre}${byPath.get(p) ?? p}`);
}

/** Expands `$(VAR)` references as a kubelet does, from earlier variables. */
export function expandEnv(env: { name: string; value: string }[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env) out[e.name] = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, k: string) => out[k] ?? m);
  return out;
}
