#!/usr/bin/env node
/**
 * Many KafkaTriggers on one kafka-trigger replica (issue 22, "Many triggers per replica"): the time
 * until N triggers joined their groups, the idle CPU and RSS, and the time until one record reached
 * them all. What it measures and its targets: docs/benchmarks.md#kafka-scale.
 *
 *   npm run stack -- up && npm run build
 *   npm run -s stack -- exec node test/bench/kafka-scale.mjs [triggers, default 1000] [--idle-seconds 30] [--settle-seconds 20] [--status-interval 10s]
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import kafkajs from './kafkajs.mjs';
import { KubeClient } from '../../libs/controller/dist/index.js';
import { REPO_ROOT, freePort, readStackEnv, stackIdentityGrants, uniqueName } from '../stack/dist/index.js';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'idle-seconds': { type: 'string', default: '30' },
    'settle-seconds': { type: 'string', default: '20' },
    /** The trigger's STATUS_INTERVAL (its status reads each group's lag from Kafka at this period; the joins are seen through it). */
    'status-interval': { type: 'string', default: '10s' },
    /** A folder: the kafka-trigger writes a CPU profile there (on exit) and a heap snapshot at the end of the idle window. */
    profile: { type: 'string' },
    /**
     * NODE_OPTIONS of the kafka-trigger process. The default is what the chart's
     * kafkaTrigger.nodeOptions gives under its 512 Mi limit (half of it for V8's old space); this
     * process has no memory limit of its own to take a percentage of.
     */
    'node-options': { type: 'string', default: '--max-old-space-size=256 --max-semi-space-size=2' },
    /** More environment of the kafka-trigger process, KEY=VALUE (repeatable), e.g. KAFKA_FETCH_MAX_WAIT=8s. */
    env: { type: 'string', multiple: true, default: [] },
  },
});
const N = Number(positionals[0] ?? '1000');
const IDLE_S = Number(args['idle-seconds']);
const SETTLE_S = Number(args['settle-seconds']);
const TARGET_RSS_MIB = 512;
const TARGET_IDLE_CORE = 0.1;
const TARGET_DELIVERY_S = 10;
const FUNCTION_IP = '10.244.240.9';

const env = readStackEnv();
const log = (line) => process.stdout.write(`[bench] ${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const kube = KubeClient.fromKubeconfig(env.KUBECONFIG, { userAgent: 'kubeless-bench/kafka-scale' });
const kafka = new kafkajs.Kafka({ clientId: 'bench-kafka-scale', brokers: env.KAFKA_BROKERS.split(','), logLevel: kafkajs.logLevel.NOTHING });
const ns = uniqueName('bench-kscale');
const topic = uniqueName('kscale');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'kubeless-bench-kscale-'));
const clockTicks = 100;

function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / clockTicks;
}
function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}
function sockets(pid) {
  let n = 0;
  for (const fd of readdirSync(`/proc/${String(pid)}/fd`)) {
    try {
      if (readlinkSync(`/proc/${String(pid)}/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      /* closed meanwhile */
    }
  }
  return n;
}

// The function: counts the first delivery of each trigger (by CloudEvent source).
const seen = new Map();
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const source = String(req.headers['ce-source'] ?? '');
    if (!seen.has(source)) seen.set(source, performance.now());
    res.writeHead(200).end();
  });
});
await new Promise((resolve) => server.listen(8080, FUNCTION_IP, resolve));

let child;
const fail = [];
try {
  await kube.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await kube.create(`/apis/kubeless.io/v1beta1/namespaces/${ns}/functions`, {
    apiVersion: 'kubeless.io/v1beta1',
    kind: 'Function',
    metadata: { name: 'sink', namespace: ns },
    spec: { runtime: 'nodejs24', handler: 'noop.noop', function: "module.exports = { noop: () => '' };", timeout: '10' },
  });
  await kube.create(`/api/v1/namespaces/${ns}/services`, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'sink', namespace: ns, labels: { 'created-by': 'kubeless', function: 'sink' } },
    spec: { ports: [{ name: 'http-function-port', port: 8080, targetPort: 8080, protocol: 'TCP' }] },
  });
  await kube.create(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'sink-bench', namespace: ns, labels: { 'created-by': 'kubeless', 'kubernetes.io/service-name': 'sink', 'endpointslice.kubernetes.io/managed-by': 'kubeless-bench' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: [FUNCTION_IP], conditions: { ready: true } }],
    ports: [{ name: 'http-function-port', port: 8080, protocol: 'TCP' }],
  });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
  await admin.disconnect();

  const port = await freePort();
  const logFile = path.join(tmp, 'kafka-trigger.log');
  const fd = openSync(logFile, 'w');
  const profile = args.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(args.profile)}`, '--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${path.resolve(args.profile)}`] : [];
  child = spawn(process.execPath, [...profile, path.join(REPO_ROOT, 'services/kafka-trigger/dist/main.js')], {
    env: {
      PATH: process.env.PATH,
      NODE_OPTIONS: args['node-options'],
      KUBECONFIG: env.KUBECONFIG,
      POD_NAMESPACE: ns,
      WATCH_NAMESPACE: ns,
      POD_NAME: 'bench-kscale',
      HEALTH_PORT: String(port),
      HEALTH_HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      KAFKA_BROKERS: env.KAFKA_BROKERS,
      ENDPOINT_MODE: 'endpointslice',
      LEADER_ELECT: 'false',
      SHARED_IDENTITY_GRANTS: stackIdentityGrants(ns),
      TRUSTED_ENDPOINTSLICE_MANAGERS: 'kubeless-bench',
      STATUS_INTERVAL: args['status-interval'],
      ...Object.fromEntries(args.env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
    },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const pid = child.pid;
  const rssBefore = await (async () => {
    for (let i = 0; i < 300; i++) {
      try {
        if ((await fetch(`http://127.0.0.1:${String(port)}/readyz`)).status === 200) return rssMiB(pid);
      } catch {
        /* starting */
      }
      await sleep(100);
    }
    throw new Error(`kafka-trigger not ready: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
  })();
  log(`kafka-trigger ready with no trigger: RSS ${rssBefore.toFixed(0)} MiB; creating ${String(N)} KafkaTriggers on ${topic}`);

  const t0 = performance.now();
  for (let i = 0; i < N; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, N - i) }, (_, j) =>
        kube.create(`/apis/kubeless.io/v1beta1/namespaces/${ns}/kafkatriggers`, {
          apiVersion: 'kubeless.io/v1beta1',
          kind: 'KafkaTrigger',
          metadata: { name: `t${String(i + j)}`, namespace: ns },
          spec: { topic, functionName: 'sink', initialOffset: 'latest' },
        }),
      ),
    );
  }
  let joined = 0;
  const deadline = Date.now() + Math.max(300_000, N * 600);
  while (Date.now() < deadline) {
    const list = await kube.list(`/apis/kubeless.io/v1beta1/namespaces/${ns}/kafkatriggers`);
    joined = list.items.filter((t) => t.status?.conditions?.some((c) => c.type === 'ConsumerGroupJoined' && c.status === 'True')).length;
    if (joined === N) break;
    await sleep(2000);
  }
  const readyS = (performance.now() - t0) / 1000;
  log(`${String(joined)}/${String(N)} triggers joined their groups in ${readyS.toFixed(1)} s`);
  if (joined < N) fail.push(`only ${String(joined)} of ${String(N)} triggers joined`);

  await sleep(SETTLE_S * 1000);
  const c0 = cpuSeconds(pid);
  const w0 = performance.now();
  let rssMax = rssMiB(pid);
  for (let s = 0; s < IDLE_S; s++) {
    await sleep(1000);
    rssMax = Math.max(rssMax, rssMiB(pid));
  }
  const idleCore = (cpuSeconds(pid) - c0) / ((performance.now() - w0) / 1000);
  const socks = sockets(pid);
  // Where the memory is, from the process's own metrics: V8's heap (used of total), memory outside it.
  const metrics = await (await fetch(`http://127.0.0.1:${String(port)}/metrics`)).text();
  const metric = (name) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'mu').exec(metrics)?.[1] ?? Number.NaN) / 2 ** 20;
  log(`memory: heap used ${metric('nodejs_heap_size_used_bytes').toFixed(0)} of ${metric('nodejs_heap_size_total_bytes').toFixed(0)} MiB, external ${metric('nodejs_external_memory_bytes').toFixed(0)} MiB, RSS ${metric('process_resident_memory_bytes').toFixed(0)} MiB`);
  if (args.profile) {
    child.kill('SIGUSR2');
    await sleep(5000 + N * 10);
  }

  const producer = kafka.producer();
  await producer.connect();
  const p0 = performance.now();
  await producer.send({ topic, acks: -1, messages: [{ value: JSON.stringify({ hello: 'all' }) }] });
  await producer.disconnect();
  const until = Date.now() + 120_000;
  while (seen.size < N && Date.now() < until) await sleep(50);
  const lastAt = Math.max(...seen.values());
  const allS = seen.size === N ? (lastAt - p0) / 1000 : Number.NaN;
  const rssAfter = rssMiB(pid);

  const rss = Math.max(rssMax, rssAfter);
  console.log(`triggers ${String(N)} | joined in ${readyS.toFixed(1)} s | RSS idle max ${rssMax.toFixed(0)} MiB, after the record ${rssAfter.toFixed(0)} MiB (${((rss - rssBefore) / N * 1024).toFixed(0)} KiB per trigger over ${rssBefore.toFixed(0)} MiB empty) | idle CPU ${(idleCore * 100).toFixed(1)}% of a core (${(idleCore / N * 1e6).toFixed(0)} us/s per trigger) | sockets ${String(socks)} | one record to all ${String(seen.size)}: ${Number.isNaN(allS) ? 'not all within 120 s' : `${allS.toFixed(2)} s`} | ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} load`);
  const verdict = (name, ok, text) => {
    console.log(`${name}: ${text} ${ok ? 'PASS' : 'FAIL'}`);
    if (!ok) fail.push(name);
  };
  verdict('RSS', rss < TARGET_RSS_MIB, `${rss.toFixed(0)} MiB (target < ${String(TARGET_RSS_MIB)})`);
  verdict('IDLE CPU', idleCore < TARGET_IDLE_CORE, `${(idleCore * 100).toFixed(1)}% of a core (target < ${String(TARGET_IDLE_CORE * 100)}%)`);
  verdict('FIRST RECORD TO ALL', allS <= TARGET_DELIVERY_S, `${Number.isNaN(allS) ? 'n/a' : allS.toFixed(2)} s (target <= ${String(TARGET_DELIVERY_S)} s)`);
} finally {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        r();
      }, 30_000);
      child.once('exit', () => {
        clearTimeout(t);
        r();
      });
    });
  }
  server.close();
  await kube.delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
  const admin = kafka.admin();
  await admin.connect().catch(() => undefined);
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect().catch(() => undefined);
  kube.close();
}
process.exitCode = fail.length > 0 ? 1 : 0;
