/**
 * Shared by the e2e files: the real `kubeless` CLI as a child process (@kubeless/stack's
 * runner), the controllers installed with the chart (a release of the file's own, as pods on the
 * stack's node), and small readers of the API server's state.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually, installRelease, kubectl, kubectlOk, kubelessOk, stackEnv, uninstallRelease, withNamespace } from '@kubeless/stack';

export { kubeless, kubelessOk, type Run } from '@kubeless/stack';

type Json = Record<string, any>;

/** A release of the chart that serves one namespace; `uninstall` removes it and its own namespace. */
export interface TestRelease {
  release: string;
  /** The release's namespace: the controller pods, their Leases and kubeless-config. */
  namespace: string;
  uninstall: () => Promise<void>;
}

/**
 * Installs the chart as users do (`helm upgrade --install --wait`, returning once every controller
 * pod is Ready): a release of its own, in a namespace of its own, watching `watch` only (the
 * chart's single-namespace mode), so it never meets another file's controllers. `values` go over
 * the stack's (e.g. `{ sqsTrigger: { enabled: false } }`, or a trigger's extraEnv).
 */
export async function installControllers(
  watch: string,
  values: Record<string, unknown> = {},
  /** Runs in the release's namespace before the install, e.g. to create a Secret the values name. */
  prepare?: (releaseNamespace: string) => Promise<unknown>,
): Promise<TestRelease> {
  const sys = await withNamespace('e2e-sys');
  const release = `kubeless-e2e-${randomBytes(3).toString('hex')}`;
  try {
    await prepare?.(sys.name);
    await installRelease({ release, namespace: sys.name, watchNamespace: watch, values });
  } catch (err) {
    await uninstallRelease(release, sys.name).catch(() => undefined);
    await sys.cleanup();
    throw err;
  }
  return {
    release,
    namespace: sys.name,
    uninstall: async () => {
      await uninstallRelease(release, sys.name).catch(() => undefined);
      await sys.cleanup();
    },
  };
}

/** The `extraEnv` of a trigger in the chart's values. */
export const extraEnv = (env: Record<string, string>): { name: string; value: string }[] => Object.entries(env).map(([name, value]) => ({ name, value }));

/** How many times the function's pod logged each `SINK <value>` line, from its whole log. */
export async function sinkValues(namespace: string, fn: string): Promise<Map<string, number>> {
  const [pod] = await functionPods(namespace, fn);
  const r = await kubectl(['logs', '-n', namespace, String(pod?.metadata.name ?? 'none'), '--tail=-1']);
  const counts = new Map<string, number>();
  for (const l of r.stdout.split('\n')) if (l.startsWith('SINK ')) counts.set(l.slice(5), (counts.get(l.slice(5)) ?? 0) + 1);
  return counts;
}

/** `kubectl get <kind> <name> -n <ns> -o json` as the admin. */
export async function getJson(namespace: string, kind: string, name: string): Promise<Json> {
  return JSON.parse(await kubectlOk(['get', kind, name, '-n', namespace, '-o', 'json'])) as Json;
}

/** The Ready condition of a kubeless object, once it is True (else throws after `timeoutMs`). */
export function waitReady(namespace: string, kind: string, name: string, timeoutMs = 30_000): Promise<Json> {
  return eventually(
    `${kind} ${namespace}/${name} Ready`,
    async () => {
      const o = await getJson(namespace, kind, name).catch(() => undefined);
      const ready = (o?.status?.conditions as Json[] | undefined)?.find((c) => c.type === 'Ready');
      return ready?.status === 'True' && o?.status?.observedGeneration === o?.metadata?.generation ? o : undefined;
    },
    timeoutMs,
  );
}

/** The function's pods (label function=<name>), as the admin. */
export async function functionPods(namespace: string, name: string): Promise<Json[]> {
  return (JSON.parse(await kubectlOk(['get', 'pods', '-n', namespace, '-l', `function=${name}`, '-o', 'json'])) as Json).items as Json[];
}

/** Polls `kubeless function logs` until it contains every string of `needles`. */
export function logsContaining(namespace: string, fn: string, needles: string[], timeoutMs = 30_000): Promise<string> {
  return eventually(
    `${needles.join(', ')} in the logs of ${fn}`,
    async () => {
      const l = await kubelessOk(['function', 'logs', fn, '-n', namespace]).catch(() => '');
      return needles.every((n) => l.includes(n)) ? l : undefined;
    },
    timeoutMs,
  );
}

export interface Res {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** A request to Traefik's plain entrypoint with a Host header. */
export function viaTraefik(host: string, urlPath: string, o: { method?: string; auth?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Res> {
  const [h, p] = stackEnv().TRAEFIK_WEB.split(':');
  return new Promise((resolve, reject) => {
    const req = http.request({ host: h, port: Number(p), path: urlPath, method: o.method ?? 'GET', headers: { host, ...o.headers }, auth: o.auth, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(o.body);
  });
}

/** Polls Traefik until `check` accepts the answer (a new route takes a moment to load). */
export function untilTraefik(what: string, probe: () => Promise<Res>, check: (r: Res) => boolean, timeoutMs = 15_000): Promise<Res> {
  return eventually(
    what,
    async () => {
      const r = await probe().catch(() => undefined);
      return r && check(r) ? r : undefined;
    },
    timeoutMs,
  );
}

/** Writes `files` into a fresh temporary folder and returns its path. */
export function tempFiles(prefix: string, files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), `${prefix}-`));
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content);
  return dir;
}
