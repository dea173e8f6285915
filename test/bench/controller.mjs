#!/usr/bin/env node
/**
 * Controller benchmark: N Functions reconciled by the function controller against a bare client
 * creating the same objects, then a soak. What it measures and how to read it:
 * docs/benchmarks.md#controller.
 *
 *   npm run stack -- up && npm run build
 *   npm run -s stack -- exec node test/bench/controller.mjs [--functions 1000] [--concurrency 8] [--soak 300] [--resync 10s]
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { KubeClient } from '../../libs/controller/dist/index.js';
import { defaultKubelessConfig } from '../../libs/api/dist/index.js';
import { planFunction } from '../../services/function-controller/dist/index.js';
import { REPO_ROOT, freePort, readStackEnv, uniqueName } from '../stack/dist/index.js';

const { values: args } = parseArgs({
  options: {
    functions: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '8' },
    soak: { type: 'string', default: '300' },
    resync: { type: 'string', default: '10s' },
    'bare-worker': { type: 'string' },
  },
});
const N = Number(args.functions);
const C = Number(args.concurrency);
const env = readStackEnv();

function functionBody(i) {
  return {
    apiVersion: 'kubeless.io/v1beta1',
    kind: 'Function',
    metadata: { name: `bench-${String(i)}`, labels: { bench: 'controller' } },
    spec: { runtime: 'nodejs24', handler: 'index.hello', function: `module.exports = { hello: () => 'hello ${String(i)}' }` },
  };
}

/** Runs `task(i)` for i < n with `c` in flight. */
async function pool(n, c, task) {
  let next = 0;
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

// ------------------------------------------------------------------ bare worker (own process)
if (args['bare-worker']) {
  const ns = args['bare-worker'];
  const client = KubeClient.fromKubeconfig(env.KUBECONFIG, { userAgent: 'kubeless-bench/bare' });
  const cfg = defaultKubelessConfig();
  const started = Date.now();
  await pool(N, C, async (i) => {
    const fn = functionBody(i);
    fn.metadata.namespace = ns;
    fn.metadata.uid = '00000000-0000-0000-0000-000000000000';
    const plan = planFunction(fn, cfg);
    for (const child of [plan.configMap, plan.service, plan.deployment]) {
      // The same objects the controller applies, minus the owner reference (no owner exists here).
      delete child.metadata.ownerReferences;
      const plural = { ConfigMap: 'configmaps', Service: 'services', Deployment: 'deployments' }[child.kind];
      const base = child.kind === 'Deployment' ? `/apis/apps/v1/namespaces/${ns}` : `/api/v1/namespaces/${ns}`;
      await client.apply(`${base}/${plural}/${child.metadata.name}`, child, 'kubeless-bench', { force: true });
    }
  });
  process.stdout.write(JSON.stringify({ elapsedMs: Date.now() - started }) + '\n');
  client.close();
  process.exit(0);
}

// ------------------------------------------------------------------ driver
const admin = KubeClient.fromKubeconfig(env.KUBECONFIG, { userAgent: 'kubeless-bench/driver' });
const nsBare = uniqueName('bench-bare');
const nsCtrl = uniqueName('bench-ctrl');
for (const ns of [nsBare, nsCtrl]) await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
const log = (line) => process.stdout.write(`[bench] ${line}\n`);
log(`load shape: ${String(N)} functions x 3 children, concurrency ${String(C)}, one client process per side, real kube-apiserver + kube-controller-manager, no pods running`);

/**
 * How many of each child exist: a one-item list whose remainingItemCount tells the rest (the API
 * server gives that count only for unfiltered lists; the bench namespace holds nothing else but
 * the kube-root-ca.crt ConfigMap).
 */
async function countChildren(ns) {
  const count = async (p) => {
    const l = await admin.request('GET', p, { query: { limit: 1 } });
    return l.items.length + (l.metadata?.remainingItemCount ?? 0);
  };
  const counts = await Promise.all([
    count(`/api/v1/namespaces/${ns}/configmaps`).then((n) => n - 1),
    count(`/api/v1/namespaces/${ns}/services`),
    count(`/apis/apps/v1/namespaces/${ns}/deployments`),
  ]);
  return Math.min(...counts);
}

function rssKb(pid) {
  try {
    const s = readFileSync(`/proc/${String(pid)}/status`, 'utf8');
    return { rss: Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0), hwm: Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0) };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

async function metric(port, name) {
  const text = await (await fetch(`http://127.0.0.1:${String(port)}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) total += Number(line.split(' ').pop());
  return total;
}

try {
  // 1. The bare client.
  const bare = await new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [new URL(import.meta.url).pathname, '--bare-worker', nsBare, '--functions', String(N), '--concurrency', String(C)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`bare worker exited ${String(code)}`))));
  });
  const bareRate = N / (bare.elapsedMs / 1000);
  log(`bare client: ${String(N * 3)} objects in ${(bare.elapsedMs / 1000).toFixed(2)} s = ${bareRate.toFixed(1)} functions/s (${(bareRate * 3).toFixed(1)} objects/s)`);

  // 2. The controller, as its own process.
  const port = await freePort();
  const ctrl = spawn(process.execPath, [path.join(REPO_ROOT, 'services/function-controller/dist/main.js')], {
    env: {
      PATH: process.env.PATH,
      KUBECONFIG: env.KUBECONFIG,
      POD_NAMESPACE: nsCtrl,
      WATCH_NAMESPACE: nsCtrl,
      LEADER_ELECT: 'false',
      HEALTH_PORT: String(port),
      HEALTH_HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      RECONCILE_CONCURRENCY: String(C),
      RESYNC_PERIOD: args.resync,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${String(port)}/readyz`)).status === 200) break;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const idleRss = rssKb(ctrl.pid).rss;
  const started = Date.now();
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssKb(ctrl.pid).rss)), 250);
  const creating = pool(N, C, async (i) => {
    await admin.create(`/apis/kubeless.io/v1beta1/namespaces/${nsCtrl}/functions`, functionBody(i));
  });
  for (;;) {
    await new Promise((r) => setTimeout(r, 200));
    if ((await countChildren(nsCtrl)) >= N) break;
  }
  await creating;
  const elapsed = Date.now() - started;
  clearInterval(sampler);
  const ctrlRate = N / (elapsed / 1000);
  const reconciles = await metric(port, 'kubeless_reconcile_total{');
  log(`controller: creates + reconcile of ${String(N)} functions to ${String(N * 3)} children in ${(elapsed / 1000).toFixed(2)} s = ${ctrlRate.toFixed(1)} functions/s; ${String(reconciles)} reconciles = ${(reconciles / (elapsed / 1000)).toFixed(1)} reconciles/s`);
  log(`RATIO controller/bare = ${(ctrlRate / bareRate).toFixed(2)} (target >= 0.50)`);
  log(`controller RSS: idle ${(idleRss / 1024).toFixed(0)} MiB, peak while converging ${(peak / 1024).toFixed(0)} MiB`);

  // 3. Soak: resync every object periodically and watch RSS.
  const soakS = Number(args.soak);
  if (soakS > 0) {
    const samples = [];
    const r0 = await metric(port, 'kubeless_reconcile_total{');
    const t0 = Date.now();
    while (Date.now() - t0 < soakS * 1000) {
      await new Promise((r) => setTimeout(r, 5000));
      samples.push(rssKb(ctrl.pid).rss / 1024);
    }
    const r1 = await metric(port, 'kubeless_reconcile_total{');
    const third = Math.max(1, Math.floor(samples.length / 3));
    const avg = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const first = avg(samples.slice(0, third));
    const last = avg(samples.slice(-third));
    log(`soak ${String(soakS)} s with resync every ${args.resync}: ${String(r1 - r0)} reconciles; RSS first third ${first.toFixed(0)} MiB, last third ${last.toFixed(0)} MiB, max ${Math.max(...samples).toFixed(0)} MiB (growth ${(((last - first) / first) * 100).toFixed(1)}%)`);
  }
  ctrl.kill('SIGTERM');
} finally {
  for (const ns of [nsBare, nsCtrl]) await admin.delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
  admin.close();
}
