#!/usr/bin/env node
/**
 * Kafka benchmark (issues 5 and 22): Kafka -> kafka-trigger -> a no-op function in each mode,
 * against baselines and a ceiling measured in the same run, the latency it adds over Kafka alone,
 * and a slow function with failures; every side in its own process (the roles are in
 * kafka-worker.mjs). What it measures, how to read its ratios, and what the measurements taught:
 * docs/benchmarks.md#kafka.
 *
 *   npm run stack -- up && npm run build
 *   npm run -s stack -- exec node test/bench/kafka.mjs [--messages 150000] [--partitions 4]
 *     [--max-in-flight 100] [--keys 100] [--rate 1000] [--duration 20] [--modes unordered,key-ordered,ordered]
 *     [--rounds 3] [--warmup-rounds 1] [--latency-modes unordered,key-ordered,ordered]
 *     [--failure-modes unordered,key-ordered] [--failure-messages 20000] [--warmup 2] [--poll-ms 20] [--quick]
 * `--quick`: a one-minute smoke run. `--modes none` or `--latency-modes none` or
 * `--failure-modes none` skips that part. `--trigger-node-args=...` passes node flags to the
 * kafka-trigger processes (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`), `--worker-node-args=...` to
 * the other roles' processes (the baselines and the ceiling). `--fetch-bytes-per-partition` (default
 * the trigger's 262144) is the trigger's and the kafkajs consumers' fetch size per partition.
 * `--latency-ceiling` also runs the ceiling's path (kafkajs -> undici) at the fixed rate beside
 * the unordered trigger, to a recorder of its own (a diagnostic: it loads the verdict's window).
 * `--commit-window N` sets the triggers' `delivery.commitWindow`; `--trigger-env K=V[,K=V]` adds
 * environment to the kafka-trigger processes (e.g. `KAFKA_FETCH_MAX_WAIT=500ms`).
 * Exits 1 when a target (TARGET_* below) is missed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import kafkajs from './kafkajs.mjs';
import { KubeClient } from '../../libs/controller/dist/index.js';
import { REPO_ROOT, freePort, stackIdentityGrants, readState, readStackEnv, uniqueName } from '../stack/dist/index.js';
import { now, payload } from './kafka-common.mjs';
import { median } from './stats.mjs';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string' },
    partitions: { type: 'string', default: '4' },
    'max-in-flight': { type: 'string', default: '100' },
    keys: { type: 'string', default: '100' },
    rate: { type: 'string', default: '1000' },
    duration: { type: 'string' },
    warmup: { type: 'string', default: '2' },
    modes: { type: 'string', default: 'unordered,key-ordered,ordered' },
    'latency-modes': { type: 'string' },
    'poll-ms': { type: 'string', default: '20' },
    rounds: { type: 'string' },
    'warmup-rounds': { type: 'string' },
    quick: { type: 'boolean', default: false },
    /** Also run the ceiling's path at the fixed rate beside the unordered trigger (a diagnostic: it adds load to the verdict's window). */
    'latency-ceiling': { type: 'boolean', default: false },
    /** Modes of the failure rows (a 50 ms function, 10% of first attempts failing); `none` skips them. */
    'failure-modes': { type: 'string' },
    'failure-messages': { type: 'string' },
    /** Extra node arguments for the kafka-trigger processes, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`. */
    'trigger-node-args': { type: 'string', default: '' },
    /** Fetch bytes per partition of the trigger and of the kafkajs baselines and ceiling (the trigger's default). */
    'fetch-bytes-per-partition': { type: 'string', default: String(256 * 1024) },
    /** Extra node arguments for the worker processes (baselines, ceiling, producers, recorder), e.g. to profile the ceiling. */
    'worker-node-args': { type: 'string', default: '' },
    /** The triggers' `delivery.commitWindow` (default: the trigger's own default). */
    'commit-window': { type: 'string' },
    /** Extra environment of the kafka-trigger processes, `KEY=VALUE[,KEY=VALUE]` (e.g. KAFKA_FETCH_MAX_WAIT=500ms). */
    'trigger-env': { type: 'string', default: '' },
  },
});
const N = Number(args.messages ?? (args.quick ? '5000' : '150000'));
const P = Number(args.partitions);
const MAX_IN_FLIGHT = Number(args['max-in-flight']);
const KEYS = Number(args.keys);
const RATE = Number(args.rate);
const DURATION = Number(args.duration ?? (args.quick ? '5' : '20'));
const WARMUP = Number(args.warmup);
const POLL_MS = Number(args['poll-ms']);
/** Rounds of (HTTP baseline, unordered trigger), taken in turns; the ratio is the median of the rounds'. */
const ROUNDS = Number(args.rounds ?? (args.quick ? '1' : '3'));
/** Uncounted (HTTP baseline, unordered trigger) pairs before the rounds. */
const WARMUP_ROUNDS = Number(args['warmup-rounds'] ?? (args.quick ? '0' : '1'));
const modeList = (v) => v.split(',').filter((m) => m !== '' && m !== 'none');
const MODES = modeList(args.modes);
/** `none` skips the latency part. */
const LATENCY_MODES = modeList(args['latency-modes'] ?? (args.quick ? 'unordered' : 'unordered,key-ordered,ordered'));
const FAILURE_MODES = modeList(args['failure-modes'] ?? (args.quick ? 'unordered' : 'unordered,key-ordered'));
const FAILURE_N = Number(args['failure-messages'] ?? (args.quick ? '2000' : '20000'));
const SLOW_IPS = { none: '10.244.240.3', tenth: '10.244.240.4' };
const FUNCTION_IP = '10.244.240.1';
const RECORDER_IP = '10.244.240.2';
const FUNCTION_PORT = 8080;
/** Targets (issue 22): against the ceiling and Kafka alone, measured in the same run. */
const TARGET_VS_CEILING = 0.9;
const TARGET_CPU_VS_CEILING = 1.15;
const TARGET_ADDED_OVER_KAFKA_MS = 1;
const TARGET_FAILING_VS_CLEAN = 0.8;

const env = readStackEnv();
const brokers = env.KAFKA_BROKERS;
const log = (line) => process.stdout.write(`[bench] ${line}\n`);
const loadText = () => `load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} on ${String(os.cpus().length)} cores`;
const WORKER = path.join(REPO_ROOT, 'test/bench/kafka-worker.mjs');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'kubeless-bench-kafka-'));

// ------------------------------------------------------------------ processes
/** Every child still running, killed on the way out. */
const children = new Set();
let interrupted = false;
// SIGTERM too: a bench stopped by `kill` left its runtime listening on the recorder's address, and
// the next run could not start one there.
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    interrupted = true;
    for (const c of children) c.kill('SIGKILL');
  });
}
const checkInterrupted = () => {
  if (interrupted) throw new Error('interrupted');
};

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

async function stopChild(child, graceMs = 10_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  if ((await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)])) === false) {
    child.kill('SIGKILL');
    await exited;
  }
}

/** The URL a server role (recorder, slow function) prints once it listens; rejects if it exits first. */
function listeningUrl(child, what) {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (d) => {
      text += d;
      const m = /listening on (http:\/\/\S+)/.exec(text);
      if (m) resolve(m[1]);
    });
    child.once('exit', () => reject(new Error(`${what} exited`)));
  });
}

/** Runs one worker role to its end; resolves with the JSON line it printed. */
function runWorker(role, options) {
  const argv = [...args['worker-node-args'].split(' ').filter(Boolean), WORKER, '--role', role, '--brokers', brokers, '--fetchBytesPerPartition', args['fetch-bytes-per-partition']];
  for (const [k, v] of Object.entries(options)) argv.push(`--${k}`, String(v));
  const child = track(spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] }));
  let outText = '';
  child.stdout.on('data', (d) => (outText += d));
  const done = new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      // Its last JSON line: node flags such as `--trace-gc` print on stdout too.
      if (code === 0) resolve(JSON.parse(outText.split('\n').filter((l) => l.startsWith('{')).pop() ?? '{}'));
      else reject(new Error(`worker ${role} exited ${String(code)}`));
    });
  });
  // Handled where it is awaited; a worker killed by an interrupt before then must not end the
  // process as an unhandled rejection, which would skip the clean-up of the namespace and topics.
  done.catch(() => undefined);
  return { child, done };
}

let clockTicks = 100;
/** User + system CPU seconds of a process, from /proc. */
function cpuSeconds(pid, tid) {
  try {
    const stat = readFileSync(tid === undefined ? `/proc/${String(pid)}/stat` : `/proc/${String(pid)}/task/${String(tid)}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return undefined;
  }
}
/**
 * CPU seconds of each process so far; the trigger's and the ceiling's main thread also apart
 * (`<name> main`): the rest of a Node process is mostly V8's worker threads (parallel scavenges,
 * concurrent marking), which grow with the young objects that survive a collection.
 */
const sampleCpu = (pids) =>
  Object.fromEntries(
    Object.entries(pids).flatMap(([name, pid]) => [[name, cpuSeconds(pid)], ...(name === 'trigger' || name === 'ceiling' ? [[`${name} main`, cpuSeconds(pid, pid)]] : [])]),
  );
function cpuShares(before, after, seconds) {
  const parts = [];
  for (const [name, b] of Object.entries(before)) {
    const e = after[name];
    if (b !== undefined && e !== undefined && seconds > 0) parts.push(`${name} ${(((e - b) / seconds) * 100).toFixed(0)}%`);
  }
  return parts.join(', ');
}
/** CPU microseconds per event of each process over the window: robust to a shared machine, unlike rates. */
function cpuPerEvent(before, after, count) {
  const out = {};
  for (const [name, b] of Object.entries(before)) {
    const e = after[name];
    if (b !== undefined && e !== undefined && count > 0) out[name] = ((e - b) / count) * 1e6;
  }
  return out;
}
/** The broker's stop-the-world GC so far ({count, ms}), from `jstat` when the JDK has it; undefined otherwise. */
function brokerGc() {
  if (!brokerPid) return undefined;
  try {
    const [head, row] = execFileSync('jstat', ['-gc', String(brokerPid)], { encoding: 'utf8', timeout: 10_000 }).trim().split('\n');
    const cols = head.trim().split(/\s+/);
    const vals = row.trim().split(/\s+/).map(Number);
    const v = (name) => vals[cols.indexOf(name)] ?? 0;
    return { count: v('YGC') + v('FGC'), ms: (v('YGCT') + v('FGCT')) * 1000 };
  } catch {
    return undefined;
  }
}
const gcText = (a, b) => (a && b ? `GC pauses ${String(b.count - a.count)} (${(b.ms - a.ms).toFixed(0)} ms)` : '');
const usText = (us) => Object.entries(us).map(([name, v]) => `${name} ${v.toFixed(0)}`).join(', ');

// ------------------------------------------------------------------ kubernetes
const kube = KubeClient.fromKubeconfig(env.KUBECONFIG, { userAgent: 'kubeless-bench/kafka' });
const ns = uniqueName('bench-kafka');
const triggersPath = `/apis/kubeless.io/v1beta1/namespaces/${ns}/kafkatriggers`;

/** A Function with the Service and EndpointSlice its pod would get (no function controller runs). */
async function publishFunction(name, ip, port) {
  await kube.create(`/apis/kubeless.io/v1beta1/namespaces/${ns}/functions`, {
    apiVersion: 'kubeless.io/v1beta1',
    kind: 'Function',
    metadata: { name, namespace: ns },
    spec: { runtime: 'nodejs24', handler: 'noop.noop', function: "module.exports = { noop: () => '' };", timeout: '10' },
  });
  await kube.create(`/api/v1/namespaces/${ns}/services`, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns, labels: { 'created-by': 'kubeless', function: name } },
    spec: { ports: [{ name: 'http-function-port', port: 8080, targetPort: port, protocol: 'TCP' }] },
  });
  await kube.create(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${name}-bench`, namespace: ns, labels: { 'created-by': 'kubeless', 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': 'kubeless-bench' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: [ip], conditions: { ready: true } }],
    ports: [{ name: 'http-function-port', port, protocol: 'TCP' }],
  });
}

/** The kafka-trigger as its own process, watching the bench namespace; resolves once ready. */
async function startTrigger(label) {
  const port = await freePort();
  const logFile = path.join(tmp, `kafka-trigger-${label}.log`);
  const fd = openSync(logFile, 'w');
  const child = track(
    spawn(process.execPath, [...args['trigger-node-args'].split(' ').filter(Boolean), path.join(REPO_ROOT, 'services/kafka-trigger/dist/main.js')], {
      env: {
        PATH: process.env.PATH,
        KUBECONFIG: env.KUBECONFIG,
        POD_NAMESPACE: ns,
        WATCH_NAMESPACE: ns,
        POD_NAME: `bench-${label}`,
        HEALTH_PORT: String(port),
        HEALTH_HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        KAFKA_BROKERS: brokers,
        KAFKA_MAX_FETCH_BYTES_PER_PARTITION: args['fetch-bytes-per-partition'],
        ENDPOINT_MODE: 'endpointslice',
        LEADER_ELECT: 'false',
        // The chart's tenancy grant for this namespace (the shared identity is refused otherwise).
        SHARED_IDENTITY_GRANTS: stackIdentityGrants(ns),
        // The benchmark's functions are published by hand (an EndpointSlice of this manager), as the tests' are.
        TRUSTED_ENDPOINTSLICE_MANAGERS: 'kubeless-bench',
        ...Object.fromEntries(args['trigger-env'].split(',').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
      },
      stdio: ['ignore', fd, fd],
    }),
  );
  closeSync(fd);
  const deadline = Date.now() + 30_000;
  for (;;) {
    checkInterrupted();
    if (child.exitCode !== null) throw new Error(`kafka-trigger exited ${String(child.exitCode)}: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
    try {
      if ((await fetch(`http://127.0.0.1:${String(port)}/readyz`)).status === 200) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error('kafka-trigger did not become ready');
    await sleep(100);
  }
  return { child, port, logFile };
}

async function triggerMetrics(port) {
  const text = await (await fetch(`http://127.0.0.1:${String(port)}/metrics`)).text();
  const sum = (name) => {
    let total = 0;
    for (const line of text.split('\n')) if (line.startsWith(name)) total += Number(line.split(' ').pop());
    return total;
  };
  return {
    delivered: sum('kubeless_delivery_delivered_total{'),
    failed: sum('kubeless_delivery_failed_attempts_total{'),
    retried: sum('kubeless_delivery_retried_total{'),
    commits: sum('kubeless_kafka_offset_commits_total{'),
    // The process's own stalls (prom-client's defaults): its event loop's delay and its GC pauses.
    loopP99Ms: sum('nodejs_eventloop_lag_p99_seconds ') * 1000,
    loopMaxMs: sum('nodejs_eventloop_lag_max_seconds ') * 1000,
    gcMs: sum('nodejs_gc_duration_seconds_sum{') * 1000,
    gcCount: sum('nodejs_gc_duration_seconds_count{'),
  };
}

function kafkaTrigger(name, topic, fn, mode) {
  groups.push(`kubeless.${ns}.${name}.${fn}`);
  const delivery = { ordering: mode, timeout: '10s' };
  if (mode !== 'ordered') delivery.maxInFlight = MAX_IN_FLIGHT;
  if (args['commit-window']) delivery.commitWindow = Number(args['commit-window']);
  return { apiVersion: 'kubeless.io/v1beta1', kind: 'KafkaTrigger', metadata: { name, namespace: ns }, spec: { topic, functionName: fn, initialOffset: 'earliest', delivery } };
}

// ------------------------------------------------------------------ kafka
const kafka = new kafkajs.Kafka({ clientId: 'kubeless-bench', brokers: brokers.split(','), logLevel: kafkajs.logLevel.NOTHING });
const kadmin = kafka.admin();
const producer = kafka.producer({ allowAutoTopicCreation: false });
const topics = [];
/** Consumer groups to delete at the end (the triggers' are `kubeless.<ns>.<trigger>.<function>`). */
const groups = [];

async function createTopic(prefix) {
  const topic = uniqueName(prefix);
  await kadmin.createTopics({ topics: [{ topic, numPartitions: P, replicationFactor: 1 }], waitForLeaders: true });
  topics.push(topic);
  return topic;
}

/** N messages: keyed over KEYS keys (key-ordered), else spread evenly over the partitions. */
async function preProduce(topic, keyed) {
  for (let i = 0; i < N; i += 5000) {
    const messages = [];
    for (let j = i; j < Math.min(N, i + 5000); j++) {
      messages.push(keyed ? { key: `k${String(j % KEYS)}`, value: payload(j) } : { partition: j % P, value: payload(j) });
    }
    await producer.send({ topic, acks: -1, messages });
  }
}

// ------------------------------------------------------------------ the function
async function functionCalls() {
  const text = await (await fetch(`http://${FUNCTION_IP}:${String(FUNCTION_PORT)}/metrics`)).text();
  const m = /^function_calls_total\{method="POST"\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

/**
 * Polls the function's call counter until `target` calls past `base` arrived (or nothing moved for
 * `stallMs`): the window from the first to the last delivery, each end at the midpoint of the
 * polls around it, and the CPU each process used over it.
 */
async function watchCalls(base, target, pids, { startMs = 60_000, stallMs = 20_000 } = {}) {
  let prevT = now();
  let count = 0;
  let first;
  let last;
  let cpuStart;
  let cpuEnd;
  let movedAt = now();
  for (;;) {
    checkInterrupted();
    await sleep(POLL_MS);
    const c = (await functionCalls()) - base;
    const t = now();
    if (c !== count) movedAt = t;
    if (first === undefined && c > 0) {
      first = (prevT + t) / 2;
      cpuStart = sampleCpu(pids);
    }
    count = c;
    if (c >= target) {
      last = (prevT + t) / 2;
      cpuEnd = sampleCpu(pids);
      break;
    }
    if (t - movedAt > (first === undefined ? startMs : stallMs)) {
      last = movedAt;
      cpuEnd = sampleCpu(pids);
      break;
    }
    prevT = t;
  }
  const seconds = first === undefined ? 0 : (last - first) / 1000;
  return {
    count,
    seconds,
    rate: seconds > 0 ? count / seconds : 0,
    cpu: first === undefined ? '' : cpuShares(cpuStart, cpuEnd, seconds),
    us: first === undefined ? {} : cpuPerEvent(cpuStart, cpuEnd, count),
    complete: count >= target,
  };
}

// ------------------------------------------------------------------ statistics
function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
function summary(latencies) {
  const s = Float64Array.from(latencies).sort();
  const mean = s.reduce((x, y) => x + y, 0) / (s.length || 1);
  return { n: s.length, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN, mean };
}
const ms = (v) => (Number.isFinite(v) ? v.toFixed(2) : '-');

// ------------------------------------------------------------------ the run
const started = Date.now();
const state = await readState(env.KUBELESS_STACK_DIR);
const brokerPid = state?.daemons.find((d) => d.name === 'kafka')?.pid;
let pass = true;
const rows = [];
const latencyRows = [];
let runtime;
let recorder;
try {
  try {
    clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    // keep the usual Linux value
  }
  log(`start: ${loadText()}`);
  await kube.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await kadmin.connect();
  await producer.connect();

  // The no-op function: the real Node.js runtime, its access log to a file (it pays its own writes).
  writeFileSync(path.join(tmp, 'noop.js'), "module.exports = { noop: () => '' };\n");
  const runtimeLog = path.join(tmp, 'runtime.log');
  const fd = openSync(runtimeLog, 'w');
  runtime = track(
    spawn(process.execPath, [path.join(REPO_ROOT, 'runtimes/nodejs/dist/server.js')], {
      env: { PATH: process.env.PATH, KUBELESS_INSTALL_VOLUME: tmp, MOD_NAME: 'noop', FUNC_HANDLER: 'noop', FUNC_HOST: FUNCTION_IP, FUNC_PORT: String(FUNCTION_PORT), FUNC_TIMEOUT: '10', FUNC_RUNTIME: 'nodejs24' },
      stdio: ['ignore', fd, 'inherit'],
    }),
  );
  closeSync(fd);
  for (let i = 0; !/listening on/.test(readFileSync(runtimeLog, 'utf8')); i++) {
    if (runtime.exitCode !== null || i > 200) throw new Error('the Node.js runtime did not start');
    await sleep(50);
  }
  await publishFunction('noop', FUNCTION_IP, FUNCTION_PORT);

  // The recording function of the latency part.
  const startRecorder = (child) => listeningUrl(child, 'recorder');
  recorder = track(spawn(process.execPath, [WORKER, '--role', 'recorder', '--ip', RECORDER_IP], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const recorderUrl = await startRecorder(recorder);
  await publishFunction('recorder', RECORDER_IP, Number(new URL(recorderUrl).port));
  const take = async () => (await fetch(`${recorderUrl}/take`)).json();
  // A second one, for the ceiling's path at a fixed rate beside the unordered trigger (information).
  const recorder2 = args['latency-ceiling'] && LATENCY_MODES.includes('unordered') ? track(spawn(process.execPath, [WORKER, '--role', 'recorder', '--ip', RECORDER_IP], { stdio: ['ignore', 'pipe', 'inherit'] })) : undefined;
  const recorder2Url = recorder2 ? await startRecorder(recorder2) : '';
  const take2 = async () => (await fetch(`${recorder2Url}/take`)).json();

  const shape = `${String(N)} messages of ${String(payload(N - 1).length)} B JSON over ${String(P)} partitions`;
  log(`load shape: ${shape}; function = Node.js runtime, no-op handler, on ${FUNCTION_IP}:${String(FUNCTION_PORT)}; each side in its own process; window = first to last call seen at the function (its /metrics polled every ${String(POLL_MS)} ms)`);

  // ---------------------------------------------------------------- baselines
  // No trigger mode to compare: no baselines either (`--modes none` runs the latency part only).
  if (MODES.length > 0) {
    const topicBase = await createTopic('bench-base');
    await preProduce(topicBase, false);
    const group = uniqueName('bench-bare');
    groups.push(group);
    const w = runWorker('kafkajs', { topic: topicBase, group, messages: N, partitionsConcurrency: 16 });
    const r = await w.done;
    const rate = r.count / (r.elapsedMs / 1000);
    rows.push({ name: 'bare kafkajs consumer', rate, seconds: r.elapsedMs / 1000, count: r.count, cpu: '', shape: `${shape}; eachBatch, autoCommit, partitionsConsumedConcurrently 16, no work per message; window = first fetch request to last batch, in the consumer` });
    log(`bare kafkajs consumer: ${String(r.count)} messages in ${(r.elapsedMs / 1000).toFixed(2)} s = ${rate.toFixed(0)} msg/s (first to last batch: ${(r.fromFirstBatchMs / 1000).toFixed(2)} s)`);
  }
  const httpBaseline = async (round, headers = 'plain') => {
    const base = await functionCalls();
    const w = runWorker('http', { url: `http://${FUNCTION_IP}:${String(FUNCTION_PORT)}`, messages: N, concurrency: MAX_IN_FLIGHT, headers });
    const r = await watchCalls(base, N, { runtime: runtime.pid, client: w.child.pid });
    const own = await w.done;
    const ce = headers === 'cloudevents';
    const row = { name: `bare undici${ce ? ' + CE headers' : ''} -> runtime${round}`, http: true, rate: r.rate, seconds: r.seconds, count: r.count, cpu: r.cpu, us: r.us, shape: `${String(N)} POSTs of the same payloads${ce ? " with the kafka-trigger's 14 headers (binary CloudEvent, original kubeless event-*, user-agent; diagnostic, not a baseline of the target)" : ''}, ${String(MAX_IN_FLIGHT)} in flight, keep-alive Agent (no connection cap)${own.failed ? `, ${String(own.failed)} non-2xx` : ''}` };
    rows.push(row);
    log(`${row.name}: ${String(r.count)} calls in ${r.seconds.toFixed(2)} s = ${r.rate.toFixed(0)} calls/s (client's own clock ${(own.elapsedMs / 1000).toFixed(2)} s); cpu: ${r.cpu}; cpu us/event: ${usText(r.us)}`);
    return row;
  };

  const triggerRun = async (mode, round) => {
    const topic = await createTopic(`bench-${mode}`);
    await preProduce(topic, mode === 'key-ordered');
    const name = `tput-${mode}${round.replace(/\D+/g, '-')}`.replace(/-$/, '');
    const trigger = await startTrigger(name);
    const watching = watchCalls(await functionCalls(), N, { runtime: runtime.pid, trigger: trigger.child.pid, ...(brokerPid ? { broker: brokerPid } : {}) });
    await kube.create(triggersPath, kafkaTrigger(name, topic, 'noop', mode));
    const r = await watching;
    const tm = await triggerMetrics(trigger.port);
    await stopChild(trigger.child, 40_000);
    await kube.delete(`${triggersPath}/${name}`).catch(() => undefined);
    const detail = mode === 'ordered' ? `one at a time per partition (${String(P)} partitions)` : mode === 'key-ordered' ? `${String(KEYS)} keys, maxInFlight ${String(MAX_IN_FLIGHT)}` : `maxInFlight ${String(MAX_IN_FLIGHT)}`;
    const extra = `, ${String(tm.commits)} offset commits${tm.failed ? `, ${String(tm.failed)} failed attempts` : ''}${tm.delivered > N ? `, ${String(tm.delivered - N)} duplicates` : ''}${r.complete ? '' : `, INCOMPLETE: ${String(r.count)}/${String(N)}`}`;
    const row = { name: `kafka-trigger ${mode}${round}`, mode, rate: r.rate, seconds: r.seconds, count: r.count, cpu: r.cpu, us: r.us, shape: `${shape}; ${detail}; binary CloudEvents over endpointslice${extra}` };
    rows.push(row);
    log(`kafka-trigger ${mode}${round}: ${String(r.count)} calls in ${r.seconds.toFixed(2)} s = ${r.rate.toFixed(0)} calls/s (trigger counted ${String(tm.delivered)} delivered, ${String(tm.failed)} failed attempts, ${String(tm.commits)} offset commits); cpu: ${r.cpu}; cpu us/event: ${usText(r.us)}`);
    return row;
  };

  const ceilingRun = async (round) => {
    const topic = await createTopic('bench-ceiling');
    await preProduce(topic, false);
    const group = uniqueName('bench-ceiling');
    groups.push(group);
    const base = await functionCalls();
    const w = runWorker('ceiling', { topic, group, url: `http://${FUNCTION_IP}:${String(FUNCTION_PORT)}`, messages: N, concurrency: MAX_IN_FLIGHT, partitionsConcurrency: 16 });
    const r = await watchCalls(base, N, { runtime: runtime.pid, ceiling: w.child.pid, ...(brokerPid ? { broker: brokerPid } : {}) });
    // A ceiling that stalled would otherwise wait out its own 10-minute fallback.
    if (!r.complete) await stopChild(w.child);
    const own = await w.done.catch(() => ({ failed: 0 }));
    const row = {
      name: `ceiling: kafkajs -> undici${round}`,
      ceiling: true,
      rate: r.rate,
      seconds: r.seconds,
      count: r.count,
      cpu: r.cpu,
      us: r.us,
      shape: `${shape}; diagnostic, not a baseline of the target: a bare kafkajs consumer (eachBatch, autoCommit) handing each message to undici's dispatch with the kafka-trigger's 14 headers, ${String(MAX_IN_FLIGHT)} requests in flight, no offset commit per delivered prefix, no delivered-uncommitted window, no retries${own.failed ? `, ${String(own.failed)} failed` : ''}${r.complete ? '' : `, INCOMPLETE: ${String(r.count)}/${String(N)}`}`,
    };
    rows.push(row);
    log(`${row.name}: ${String(r.count)} calls in ${r.seconds.toFixed(2)} s = ${r.rate.toFixed(0)} calls/s; cpu: ${r.cpu}; cpu us/event: ${usText(r.us)}`);
    return row;
  };

  // The HTTP baseline and the unordered trigger in turns, round after round: a change in the
  // machine's background load then hits both alike, and each round's ratio compares runs taken
  // seconds apart. The other modes run once.
  // A warm-up pair first, not counted: a broker, runtime or trigger that just started (the test
  // suite restarts the broker) runs its first seconds on cold JIT code, at up to 4x the CPU per event.
  for (let i = 0; i < (MODES.includes('unordered') ? WARMUP_ROUNDS : 0); i++) {
    const kept = rows.length;
    await httpBaseline(' #0 (warm-up)');
    await triggerRun('unordered', ' #0 (warm-up)');
    rows.length = kept;
  }
  const pairs = [];
  for (let i = 0; i < (MODES.length > 0 ? ROUNDS : 0); i++) {
    const round = ROUNDS > 1 ? ` #${String(i + 1)}` : '';
    const http = await httpBaseline(round);
    const unordered = MODES.includes('unordered') ? await triggerRun('unordered', round) : undefined;
    // Diagnostic, each round: the same requests as the trigger sends (its headers), without Kafka:
    // how much of the gap to the baseline is the CloudEvents protocol itself (built, sent, parsed).
    const ce = unordered ? await httpBaseline(round, 'cloudevents') : undefined;
    // Diagnostic, each round: the same Kafka -> HTTP path without the trigger's guarantees.
    const ceiling = unordered ? await ceilingRun(round) : undefined;
    pairs.push({ http, unordered, ce, ceiling });
  }
  for (const mode of MODES.filter((m) => m !== 'unordered')) await triggerRun(mode, '');

  // ---------------------------------------------------------------- a slow function, with failures
  // A 50 ms function on a 4-partition topic; the same run once without failures and once with the
  // first attempt of every tenth record answering 500 (retried after a fixed 1 s backoff). A record
  // waiting for its retry must not hold the others back (issue 22): the rate with failures is
  // compared with the rate without, per mode.
  const failureRows = [];
  if (FAILURE_MODES.length > 0) {
    const slow = {};
    for (const [kind, ip] of Object.entries(SLOW_IPS)) {
      const child = track(spawn(process.execPath, [WORKER, '--role', 'slow', '--ip', ip, '--delay-ms', '50', '--fail-every', kind === 'tenth' ? '10' : '0'], { stdio: ['ignore', 'pipe', 'inherit'] }));
      const url = await listeningUrl(child, 'slow function');
      await publishFunction(`slow-${kind}`, ip, Number(new URL(url).port));
      slow[kind] = url;
    }
    for (const mode of FAILURE_MODES) {
      const rates = {};
      for (const kind of ['none', 'tenth']) {
        const topic = await createTopic(`bench-fail-${mode}-${kind}`);
        const messages = [];
        for (let j = 0; j < FAILURE_N; j++) messages.push(mode === 'key-ordered' ? { key: `k${String(j % KEYS)}`, value: payload(j) } : { partition: j % P, value: payload(j) });
        for (let i = 0; i < messages.length; i += 5000) await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 5000) });
        await fetch(`${slow[kind]}/reset`, { method: 'POST' });
        const name = `fail-${mode}-${kind}`;
        const trigger = await startTrigger(name);
        const spec = kafkaTrigger(name, topic, `slow-${kind}`, mode);
        Object.assign(spec.spec.delivery, { backoffPolicy: 'linear', backoffDelay: '1s', backoffMax: '1s' });
        await kube.create(triggersPath, spec);
        const deadline = Date.now() + 300_000;
        let st;
        for (;;) {
          checkInterrupted();
          st = await (await fetch(`${slow[kind]}/stats`)).json();
          if (st.accepted >= FAILURE_N || Date.now() > deadline) break;
          await sleep(100);
        }
        await stopChild(trigger.child, 40_000);
        await kube.delete(`${triggersPath}/${name}`).catch(() => undefined);
        const seconds = ((st.last ?? 0) - (st.first ?? 0)) / 1000;
        const rate = st.accepted / Math.max(seconds, 0.001);
        rates[kind] = rate;
        failureRows.push({ mode, kind, rate, seconds, accepted: st.accepted, failed: st.failed });
        log(`slow function, ${mode}, ${kind === 'none' ? 'no failures' : 'the first attempt of one record in ten fails'}: ${String(st.accepted)}/${String(FAILURE_N)} records in ${seconds.toFixed(2)} s = ${rate.toFixed(0)} records/s (${String(st.failed)} failed attempts)`);
      }
    }
  }

  // ---------------------------------------------------------------- latency at a fixed rate
  if (LATENCY_MODES.length > 0) log(`latency: ${loadText()}`);
  const latShape = `${String(RATE)} events/s for ${String(DURATION)} s after a ${String(WARMUP)} s warm-up, about 100 B JSON with the send time`;
  /** Latencies of `expected` events (distinct ones; second deliveries are counted in `duplicates`). */
  const collect = async (expected, from = take) => {
    const all = [];
    let duplicates = 0;
    const deadline = Date.now() + 15_000;
    for (;;) {
      const t = await from();
      all.push(...t.latencies);
      duplicates += t.duplicates ?? 0;
      if (all.length >= expected || Date.now() > deadline) {
        all.duplicates = duplicates;
        return all;
      }
      await sleep(250);
    }
  };
  await take();
  let direct;
  if (LATENCY_MODES.length > 0) {
    const w = runWorker('direct-rate', { url: recorderUrl, rate: RATE, duration: DURATION, warmup: WARMUP });
    const r = await w.done;
    direct = summary(await collect(r.measured));
    latencyRows.push({ name: 'direct undici -> recorder', direct: true, s: direct, shape: `${latShape}, one request per event (send -> receive)${r.failed ? `, ${String(r.failed)} non-2xx` : ''}` });
    log(`direct: n=${String(direct.n)} p50 ${ms(direct.p50)} ms, p99 ${ms(direct.p99)} ms, max ${ms(direct.max)} ms`);
  }
  let kafkaOnly;
  /**
   * Kafka alone: a bare kafkajs consumer (eachBatch, no HTTP) in a group of its own on the topic
   * of the unordered trigger, during the same 20 s: the same records through the same broker at the
   * same moments, so a broker GC pause or a slow fetch lands in both tails. Measured one after the
   * other, Kafka alone's p99 moved by 3-12 ms from one 20 s window to the next (its broker's GC
   * pauses), which swamped the 1 ms target. Resolves once it is joined (it saw a probe).
   */
  const startKafkaAlone = async (topic) => {
    const group = uniqueName('bench-bare-lat');
    groups.push(group);
    const c = runWorker('kafkajs-latency', { topic, group, messages: RATE * DURATION, warmup: WARMUP, duration: DURATION, partitionsConcurrency: 16 });
    const joined = new Promise((resolve) => {
      let text = '';
      c.child.stdout.on('data', (d) => {
        text += d;
        if (text.includes('joined')) resolve(undefined);
      });
    });
    const probing = setInterval(() => void producer.send({ topic, messages: [{ value: JSON.stringify({ p: 'probe' }) }] }).catch(() => undefined), 500);
    await Promise.race([joined, c.done, sleep(60_000)]);
    clearInterval(probing);
    return c;
  };
  for (const mode of LATENCY_MODES) {
    const topic = await createTopic(`bench-lat-${mode}`);
    const trigger = await startTrigger(`lat-${mode}`);
    const name = `lat-${mode}`;
    await kube.create(triggersPath, kafkaTrigger(name, topic, 'recorder', mode));
    // Joined and delivering before the measured producer starts: a probe must come through.
    await producer.send({ topic, messages: [{ value: JSON.stringify({ p: 'probe' }) }] });
    for (let i = 0; ; i++) {
      checkInterrupted();
      if ((await take()).kafka > 0) break;
      if (i > 600) throw new Error(`no delivery from the ${mode} trigger within 60 s`);
      await sleep(100);
    }
    const alone = mode === 'unordered' ? await startKafkaAlone(topic) : undefined;
    // The ceiling's path (kafkajs -> undici, no guarantees, no bookkeeping) on the same records to
    // a recorder of its own: the trigger's path minus the trigger's own work, hop for hop.
    let ceilingBeside;
    if (alone && recorder2) {
      const group = uniqueName('bench-ceiling-lat');
      groups.push(group);
      await take2();
      ceilingBeside = runWorker('ceiling', { topic, group, url: recorder2Url, messages: 1e9, concurrency: MAX_IN_FLIGHT, partitionsConcurrency: 16 });
      for (let i = 0; (await take2()).kafka === 0; i++) {
        if (i > 600) throw new Error('the ceiling beside the trigger delivered nothing within 60 s');
        await producer.send({ topic, messages: [{ value: JSON.stringify({ p: 'probe' }) }] });
        await sleep(100);
      }
      await take2();
    }
    const keyed = mode === 'key-ordered' ? { keys: KEYS } : {};
    const gc0 = brokerGc();
    const cpu0 = sampleCpu({ trigger: trigger.child.pid, ...(brokerPid ? { broker: brokerPid } : {}) });
    const w = runWorker('produce-rate', { topic, rate: RATE, duration: DURATION, warmup: WARMUP, ...keyed });
    const r = await w.done;
    const got = await collect(r.measured);
    const cpu1 = sampleCpu({ trigger: trigger.child.pid, ...(brokerPid ? { broker: brokerPid } : {}) });
    const gc = gcText(gc0, brokerGc());
    const s = summary(got);
    const us = cpuPerEvent(cpu0, cpu1, r.sent);
    if (ceilingBeside) {
      const c = summary(await collect(r.measured, take2));
      await stopChild(ceilingBeside.child, 5000);
      latencyRows.push({ name: 'kafka -> ceiling -> recorder', s: c, shape: `${latShape}, ${String(P)} partitions; the ceiling (a bare kafkajs consumer handing each record to undici, no guarantees, no bookkeeping) in its own group on the unordered trigger's topic at the same time, to a recorder of its own: the trigger's path without the trigger's own work (information)` });
      log(`ceiling path (beside unordered): n=${String(c.n)} p50 ${ms(c.p50)} ms, p99 ${ms(c.p99)} ms, max ${ms(c.max)} ms`);
    }
    if (alone) {
      const a = await alone.done;
      kafkaOnly = summary(a.latencies);
      const consumer = `${a.cpuUsPerEvent === undefined ? '' : `; cpu us/event consumer ${a.cpuUsPerEvent.toFixed(0)}`}${a.loopP99Ms === undefined ? '' : `; its event loop delay p99 ${ms(a.loopP99Ms)} ms, max ${ms(a.loopMaxMs)} ms`}`;
      latencyRows.push({ name: 'kafka -> bare kafkajs', s: kafkaOnly, shape: `${latShape}, ${String(P)} partitions; a bare kafkajs consumer (eachBatch) in its own group on the unordered trigger's topic at the same time: Kafka's own share of the same records${consumer}` });
      log(`kafka alone (beside unordered): n=${String(kafkaOnly.n)} p50 ${ms(kafkaOnly.p50)} ms, p99 ${ms(kafkaOnly.p99)} ms, max ${ms(kafkaOnly.max)} ms${consumer}`);
    }
    const tm = await triggerMetrics(trigger.port);
    await stopChild(trigger.child, 40_000);
    await kube.delete(`${triggersPath}/${name}`).catch(() => undefined);
    const lost = r.measured - s.n;
    latencyRows.push({
      name: `kafka ${mode} -> recorder`,
      mode,
      s,
      shape: `${latShape}, ${String(P)} partitions${mode === 'key-ordered' ? `, ${String(KEYS)} keys` : ''}; one produce request per 1 ms tick, produce -> receive; cpu us/event ${usText(us)}, ${String(tm.commits)} offset commits; trigger event loop delay p99 ${ms(tm.loopP99Ms)} ms, max ${ms(tm.loopMaxMs)} ms, GC ${String(tm.gcCount)} pauses (${tm.gcMs.toFixed(0)} ms, its whole life)${gc ? `; broker ${gc}` : ''}${lost > 0 ? `, ${String(lost)} not received in time` : ''}${got.duplicates ? `, ${String(got.duplicates)} duplicates` : ''}${tm.failed ? `, ${String(tm.failed)} failed attempts` : ''}`,
    });
    log(`kafka ${mode}: n=${String(s.n)} p50 ${ms(s.p50)} ms, p99 ${ms(s.p99)} ms, max ${ms(s.max)} ms; cpu us/event ${usText(us)}${gc ? `; broker ${gc}` : ''}${got.duplicates ? `; ${String(got.duplicates)} duplicates` : ''}`);
  }

  // ---------------------------------------------------------------- report
  const kafkajsRate = rows.find((r) => r.name === 'bare kafkajs consumer')?.rate ?? Infinity;
  const slowerOf = (http) => Math.min(kafkajsRate, http.rate);
  const slower = median(pairs.map((pr) => slowerOf(pr.http)));
  if (rows.length > 0) console.log(`\nthroughput (${loadText()} at the end; ${((Date.now() - started) / 1000).toFixed(0)} s so far)`);
  if (rows.length > 0) console.log(`"vs slower": against the slower baseline of the same round (other modes: the median of the rounds', ${slower.toFixed(0)}/s)`);
  if (rows.length > 0) console.log(['path'.padEnd(30), 'events/s'.padStart(9), 'window s'.padStart(9), 'vs slower'.padStart(10), '  cpu over the window (% of one core)'.padEnd(44), '  cpu us/event'.padEnd(36), '  load shape'].join(' '));
  for (const r of rows) {
    const pair = pairs.find((pr) => pr.unordered === r);
    const against = pair ? slowerOf(pair.http) : slower;
    console.log([r.name.padEnd(30), r.rate.toFixed(0).padStart(9), r.seconds.toFixed(2).padStart(9), (r.name.startsWith('bare') || r.ceiling ? '-' : `${((r.rate / against) * 100).toFixed(1)}%`).padStart(10), `  ${r.cpu || '-'}`.padEnd(44), `  ${(r.us && usText(r.us)) || '-'}`.padEnd(36), `  ${r.shape}`].join(' '));
  }
  const measured = pairs.filter((pr) => pr.unordered !== undefined);
  if (measured.length > 0) {
    const ratios = measured.map((pr) => pr.unordered.rate / slowerOf(pr.http));
    const ratio = median(ratios);
    const complete = measured.every((pr) => pr.unordered.count >= N);
    pass &&= complete;
    if (measured.length > 1) console.log(`per-round unordered / min(baselines): ${ratios.map((x) => `${(x * 100).toFixed(1)}%`).join(', ')}`);
    const ceRatios = measured.filter((pr) => pr.ce).map((pr) => pr.unordered.rate / pr.ce.rate);
    const protocol = measured.filter((pr) => pr.ce).map((pr) => pr.ce.rate / pr.http.rate);
    if (ceRatios.length > 0) {
      console.log(`diagnostic, per round: bare undici with the trigger's headers / bare undici: ${protocol.map((x) => `${(x * 100).toFixed(1)}%`).join(', ')} (median ${(median(protocol) * 100).toFixed(1)}%)`);
      console.log(`diagnostic, per round: unordered / bare undici with the trigger's headers: ${ceRatios.map((x) => `${(x * 100).toFixed(1)}%`).join(', ')} (median ${(median(ceRatios) * 100).toFixed(1)}%)`);
    }
    const withCeiling = measured.filter((pr) => pr.ceiling);
    if (withCeiling.length > 0) {
      const ceilingVsSlower = withCeiling.map((pr) => pr.ceiling.rate / slowerOf(pr.http));
      const vsCeiling = withCeiling.map((pr) => pr.unordered.rate / pr.ceiling.rate);
      console.log(`diagnostic, per round: ceiling (kafkajs -> undici without the guarantees) / min(baselines): ${ceilingVsSlower.map((x) => `${(x * 100).toFixed(1)}%`).join(', ')} (median ${(median(ceilingVsSlower) * 100).toFixed(1)}%)`);
      console.log(`diagnostic, per round: unordered / ceiling (what the delivery guarantees and the trigger's bookkeeping cost): ${vsCeiling.map((x) => `${(x * 100).toFixed(1)}%`).join(', ')} (median ${(median(vsCeiling) * 100).toFixed(1)}%)`);
    }
    console.log(`information: unordered / min(baselines) = ${(ratio * 100).toFixed(1)}%${measured.length > 1 ? ` (median of ${String(measured.length)} rounds)` : ` (${measured[0].unordered.rate.toFixed(0)} / ${slowerOf(measured[0].http).toFixed(0)})`}`);
    if (withCeiling.length > 0) {
      // The targets (issue 22): throughput against the ceiling of the same round, and the CPU the
      // trigger and the broker spend per event against the ceiling's and the broker's.
      const vsCeiling = median(withCeiling.map((pr) => pr.unordered.rate / pr.ceiling.rate));
      const cpuOf = (row, own) => (row.us?.[own] ?? NaN) + (row.us?.broker ?? 0);
      const cpuRatio = median(withCeiling.map((pr) => cpuOf(pr.unordered, 'trigger') / cpuOf(pr.ceiling, 'ceiling')));
      const okRate = vsCeiling >= TARGET_VS_CEILING && complete;
      const okCpu = cpuRatio <= TARGET_CPU_VS_CEILING;
      pass &&= okRate && okCpu;
      console.log(`RATIO unordered / ceiling = ${(vsCeiling * 100).toFixed(1)}% (median of ${String(withCeiling.length)} rounds; target >= ${String(TARGET_VS_CEILING * 100)}%): ${okRate ? 'PASS' : 'FAIL'}`);
      console.log(`CPU per event (trigger + broker) / (ceiling + broker) = ${cpuRatio.toFixed(2)}x (median; target <= ${String(TARGET_CPU_VS_CEILING)}x): ${okCpu ? 'PASS' : 'FAIL'}`);
    }
  }
  if (failureRows.length > 0) {
    console.log(`\na 50 ms function, ${String(FAILURE_N)} records over ${String(P)} partitions, maxInFlight ${String(MAX_IN_FLIGHT)}; "10%": the first attempt of one record in ten (a hash of its event id) answers 500, retried after a fixed 1 s backoff`);
    console.log(['mode'.padEnd(12), 'failures'.padEnd(10), 'records/s'.padStart(10), 'window s'.padStart(9), 'failed'.padStart(7)].join(' '));
    for (const r of failureRows) console.log([r.mode.padEnd(12), (r.kind === 'none' ? 'none' : '10%').padEnd(10), r.rate.toFixed(0).padStart(10), r.seconds.toFixed(2).padStart(9), String(r.failed).padStart(7)].join(' '));
    for (const mode of FAILURE_MODES) {
      const clean = failureRows.find((r) => r.mode === mode && r.kind === 'none');
      const failing = failureRows.find((r) => r.mode === mode && r.kind === 'tenth');
      if (!clean || !failing) continue;
      const ratio = failing.rate / clean.rate;
      const complete = clean.accepted >= FAILURE_N && failing.accepted >= FAILURE_N;
      const gated = mode === 'unordered';
      if (gated) pass &&= ratio >= TARGET_FAILING_VS_CLEAN && complete;
      console.log(`RATIO ${mode} with 10% failing / without = ${(ratio * 100).toFixed(1)}%${gated ? ` (target >= ${String(TARGET_FAILING_VS_CLEAN * 100)}%): ${ratio >= TARGET_FAILING_VS_CLEAN && complete ? 'PASS' : 'FAIL'}` : ' (information)'}`);
    }
  }
  if (direct) console.log(`\nlatency to the function at a fixed rate (ms; recording node:http function on ${RECORDER_IP})`);
  if (direct) console.log(['path'.padEnd(26), 'n'.padStart(6), 'p50'.padStart(7), 'p90'.padStart(7), 'p99'.padStart(7), 'max'.padStart(8), 'added p50'.padStart(10), 'added p99'.padStart(10), '  load shape'].join(' '));
  for (const r of latencyRows) {
    const added = r.direct ? undefined : [r.s.p50 - direct.p50, r.s.p99 - direct.p99];
    console.log(
      [
        r.name.padEnd(26),
        String(r.s.n).padStart(6),
        ms(r.s.p50).padStart(7),
        ms(r.s.p90).padStart(7),
        ms(r.s.p99).padStart(7),
        ms(r.s.max).padStart(8),
        (added ? ms(added[0]) : '-').padStart(10),
        (added ? ms(added[1]) : '-').padStart(10),
        `  ${r.shape}`,
      ].join(' '),
    );
  }
  const lat = latencyRows.find((r) => r.mode === 'unordered');
  if (lat) {
    console.log(`information: added p99 unordered over a direct call = ${ms(lat.s.p99)} - ${ms(direct.p99)} = ${ms(lat.s.p99 - direct.p99)} ms`);
    // Latency is judged against Kafka itself (issue 22): the trigger's p99 less a bare kafkajs
    // consumer's p99 on the same producer in the same run.
    if (kafkaOnly) {
      const added = lat.s.p99 - kafkaOnly.p99;
      pass &&= added <= TARGET_ADDED_OVER_KAFKA_MS;
      console.log(`ADDED p99 over Kafka alone = ${ms(lat.s.p99)} - ${ms(kafkaOnly.p99)} = ${ms(added)} ms (target <= ${String(TARGET_ADDED_OVER_KAFKA_MS)} ms): ${added <= TARGET_ADDED_OVER_KAFKA_MS ? 'PASS' : 'FAIL'}`);
    }
  }
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s; ${loadText()}`);
} finally {
  const t0 = Date.now();
  await Promise.all([...children].map((c) => stopChild(c, 5000)));
  await kadmin.deleteGroups(groups).catch((err) => log(`consumer group cleanup failed: ${String(err)}`));
  await kadmin.deleteTopics({ topics, timeout: 10_000 }).catch((err) => log(`topic cleanup failed: ${String(err)}`));
  await producer.disconnect().catch(() => undefined);
  await kadmin.disconnect().catch(() => undefined);
  await kube.delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
  kube.close();
  rmSync(tmp, { recursive: true, force: true });
  log(`cleaned up in ${((Date.now() - t0) / 1000).toFixed(1)} s: namespace ${ns}, ${String(topics.length)} topics, ${String(groups.length)} consumer groups, child processes`);
}
// Keep-alive sockets of fetch() would hold the process a few more seconds.
process.exit(pass ? 0 : 1);
