#!/usr/bin/env node
/**
 * SQS benchmark (issue 6): how fast the sqs-trigger drains a queue into a no-op function, against a
 * bare receive/delete loop on the same ElasticMQ, in the same run, each side in its own process.
 * What it measures and how to read its ratio: docs/benchmarks.md#sqs.
 *
 *   npm run stack -- up && npm run build
 *   npm run -s stack -- exec node test/bench/sqs.mjs [--messages 10000] [--receivers 8] [--max-in-flight <receivers x 10>] [--payload 256] [--rounds 5] [--warmup 1]
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
  SendMessageBatchCommand,
} from '@aws-sdk/client-sqs';
import { KubeClient } from '../../libs/controller/dist/index.js';
import { REPO_ROOT, freePort, stackIdentityGrants, readStackEnv, uniqueName } from '../stack/dist/index.js';
import { median } from './stats.mjs';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '10000' },
    receivers: { type: 'string', default: '8' },
    'max-in-flight': { type: 'string' },
    payload: { type: 'string', default: '256' },
    rounds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    /** Write V8 CPU profiles of the trigger and the bare loops into this directory. */
    profile: { type: 'string' },
    /** Extra node flags for the trigger process (e.g. GC tuning), space-separated. */
    'trigger-node-flags': { type: 'string', default: '' },
    'bare-worker': { type: 'string' },
  },
});
const N = Number(args.messages);
const R = Number(args.receivers);
const M = Number(args['max-in-flight'] ?? R * 10);
const PAYLOAD = Number(args.payload);
const ROUNDS = Number(args.rounds);
const WARMUP = Number(args.warmup);
const profileFlags = args.profile ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(args.profile)] : [];
const env = readStackEnv();
const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };
const sqsClient = () =>
  new SQSClient({
    region: env.SQS_REGION,
    endpoint: env.SQS_ENDPOINT,
    credentials,
    requestHandler: { requestTimeout: 30_000, httpAgent: new http.Agent({ keepAlive: true, maxSockets: 256 }) },
  });

// ------------------------------------------------------------------ bare receive/delete loop (own process)
if (args['bare-worker']) {
  const url = args['bare-worker'];
  const sqs = sqsClient();
  let done = 0;
  let first = 0;
  let last = 0;
  let cpuAtFirst;
  await Promise.all(
    Array.from({ length: R }, async () => {
      while (done < N) {
        const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'], MessageAttributeNames: ['All'] }));
        const ms = out.Messages ?? [];
        if (ms.length === 0) continue;
        if (!first) {
          first = Date.now();
          cpuAtFirst = process.cpuUsage();
        }
        await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: ms.map((m, i) => ({ Id: `d${String(i)}`, ReceiptHandle: m.ReceiptHandle })) }));
        done += ms.length;
        last = Date.now();
      }
    }),
  );
  // CPU of the loop itself, from the first receive (module loading and start-up excluded).
  const cpu = process.cpuUsage(cpuAtFirst);
  process.stdout.write(JSON.stringify({ done, elapsedMs: last - first, cpuMs: (cpu.user + cpu.system) / 1000 }) + '\n');
  sqs.destroy();
  process.exit(0);
}

// ------------------------------------------------------------------ driver
const log = (line) => process.stdout.write(`[bench] ${line}\n`);
const sqs = sqsClient();
const admin = KubeClient.fromKubeconfig(env.KUBECONFIG, { userAgent: 'kubeless-bench/sqs' });
const ns = uniqueName('bench-sqs');
const body = 'x'.repeat(PAYLOAD);

async function createQueue(prefix) {
  return (await sqs.send(new CreateQueueCommand({ QueueName: uniqueName(prefix), Attributes: { VisibilityTimeout: '30' } }))).QueueUrl;
}

async function fill(url) {
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < N) {
        const start = next;
        next += 10;
        const n = Math.min(10, N - start);
        await sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: Array.from({ length: n }, (_, j) => ({ Id: `e${String(j)}`, MessageBody: body })) }));
      }
    }),
  );
}

/** CPU time (user + system) of a process so far, in ms (Linux /proc; clock ticks of 10 ms). */
function cpuMs(pid) {
  try {
    const f = readFileSync(`/proc/${String(pid)}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

/** This stack's ElasticMQ (its config file is under the stack's directory), for its CPU per message. */
function elasticmqPid() {
  const dir = process.env.KUBELESS_STACK_DIR ?? path.join(REPO_ROOT, '.stack');
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/u.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (cmd.includes('elasticmq') && cmd.includes(`${dir}/elasticmq.conf`)) return Number(d);
    } catch {
      /* gone */
    }
  }
  return undefined;
}

/** Busy and total CPU time of the whole machine so far (/proc/stat, ticks). */
function machineTicks() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/u).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/**
 * A window of measurement: wall time, the machine's busy cores, and the CPU of the given
 * processes (`self` = this driver, whose no-op function server serves the trigger side).
 */
function window(pids) {
  const t0 = performance.now();
  const m0 = machineTicks();
  const c0 = pids.map((p) => (p === 'self' ? process.cpuUsage() : cpuMs(p)));
  const load0 = os.loadavg()[0];
  return () => {
    const ms = performance.now() - t0;
    const m1 = machineTicks();
    const cpu = pids.map((p, i) => {
      if (p === 'self') {
        const u = process.cpuUsage(c0[i]);
        return (u.user + u.system) / 1000;
      }
      return cpuMs(p) - c0[i];
    });
    const cores = os.cpus().length;
    return { ms, cpu, busyCores: ((m1.busy - m0.busy) / Math.max(1, m1.total - m0.total)) * cores, cores, load: [load0, os.loadavg()[0]] };
  };
}

const usPer = (ms, n) => `${((ms * 1000) / n).toFixed(0)} us/msg`;
const loadShape = (w) => `machine ${w.busyCores.toFixed(2)}/${String(w.cores)} cores busy, load avg ${w.load[0].toFixed(1)}->${w.load[1].toFixed(1)}`;

async function depth(url) {
  const a = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }))).Attributes ?? {};
  return Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0);
}

// The no-op function: answers 204 at once, counts what it got.
let received = 0;
let firstAt = 0;
let lastAt = 0;
const fnIp = '10.244.249.1';
const fnServer = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    received++;
    firstAt ||= Date.now();
    lastAt = Date.now();
    res.writeHead(204).end();
  });
});
fnServer.keepAliveTimeout = 60_000;
await new Promise((resolve) => fnServer.listen(0, fnIp, resolve));
const fnPort = fnServer.address().port;

const queues = [];
let ctrl;
try {
  await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await admin.create(`/apis/kubeless.io/v1beta1/namespaces/${ns}/functions`, {
    apiVersion: 'kubeless.io/v1beta1',
    kind: 'Function',
    metadata: { name: 'noop', namespace: ns },
    spec: { runtime: 'nodejs24', handler: 'h.f', function: 'module.exports = { f: () => "" }', timeout: '10' },
  });
  await admin.create(`/api/v1/namespaces/${ns}/services`, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'noop', namespace: ns, labels: { 'created-by': 'kubeless', function: 'noop' } },
    spec: { ports: [{ name: 'http-function-port', port: 8080, targetPort: fnPort, protocol: 'TCP' }] },
  });
  await admin.create(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'noop-bench', namespace: ns, labels: { 'created-by': 'kubeless', 'kubernetes.io/service-name': 'noop', 'endpointslice.kubernetes.io/managed-by': 'kubeless-bench' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: [fnIp], conditions: { ready: true } }],
    ports: [{ name: 'http-function-port', port: fnPort, protocol: 'TCP' }],
  });
  log(`load shape: ${String(N)} messages of ${String(PAYLOAD)} B, queue filled first, ${String(R)} concurrent long polls of 10 on each side, at most ${String(M)} messages in flight on the trigger side (${String(R * 10)} on the bare side), one ElasticMQ ${env.SQS_ENDPOINT}`);

  // The trigger as its own process, started once and idle until a round creates its SQSTrigger.
  const port = await freePort();
  ctrl = spawn(process.execPath, [...profileFlags, ...args['trigger-node-flags'].split(' ').filter(Boolean), path.join(REPO_ROOT, 'services/sqs-trigger/dist/main.js')], {
    env: {
      PATH: process.env.PATH,
      KUBECONFIG: env.KUBECONFIG,
      POD_NAMESPACE: ns,
      WATCH_NAMESPACE: ns,
      LEADER_ELECT: 'false',
      HEALTH_PORT: String(port),
      HEALTH_HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      SQS_ENDPOINT: env.SQS_ENDPOINT,
      SQS_REGION: env.SQS_REGION,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      ENDPOINT_MODE: 'endpointslice',
      // The chart's tenancy grant for this namespace (the shared identity is refused otherwise).
      SHARED_IDENTITY_GRANTS: stackIdentityGrants(ns),
      // The benchmark's functions are published by hand (an EndpointSlice of this manager), as the tests' are.
      TRUSTED_ENDPOINTSLICE_MANAGERS: 'kubeless-bench',
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

  const mq = elasticmqPid();
  log(`ElasticMQ pid ${String(mq ?? 'not found')}; ${String(os.cpus().length)} cores; CPU per message counts each side's own process(es) and ElasticMQ over the whole run of that side`);

  /** The bare receive/delete loop, in its own process. */
  async function runBare(label) {
    const bareQueue = await createQueue('bench-bare');
    queues.push(bareQueue);
    await fill(bareQueue);
    let w;
    const bare = await new Promise((resolve, reject) => {
      const p = spawn(process.execPath, [...profileFlags, new URL(import.meta.url).pathname, '--bare-worker', bareQueue, '--messages', String(N), '--receivers', String(R)], { stdio: ['ignore', 'pipe', 'inherit'] });
      w = window([mq]);
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`bare worker exited ${String(code)}`))));
    });
    const win = w();
    const rate = bare.done / (bare.elapsedMs / 1000);
    log(`${label} bare receive/delete: ${String(bare.done)} messages in ${(bare.elapsedMs / 1000).toFixed(2)} s = ${rate.toFixed(0)} msg/s; loop CPU ${usPer(bare.cpuMs, bare.done)}, ElasticMQ ${usPer(win.cpu[0], bare.done)}; ${loadShape(win)}`);
    return { rate, cpuUs: (bare.cpuMs * 1000) / bare.done };
  }

  /** The trigger into the no-op function. */
  async function runTrigger(label, name) {
    const trigQueue = await createQueue('bench-trigger');
    queues.push(trigQueue);
    await fill(trigQueue);
    received = 0;
    firstAt = 0;
    lastAt = 0;
    const w = window([ctrl.pid, 'self', mq]);
    await admin.create(`/apis/kubeless.io/v1beta1/namespaces/${ns}/sqstriggers`, {
      apiVersion: 'kubeless.io/v1beta1',
      kind: 'SQSTrigger',
      metadata: { name, namespace: ns },
      spec: { queueUrl: trigQueue, functionName: 'noop', receivers: R, batchSize: 10, delivery: { maxInFlight: M, ordering: 'unordered' } },
    });
    const deadline = Date.now() + 600_000;
    while (received < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // Deleted, not just delivered: the queue must drain.
    while ((await depth(trigQueue)) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    const drainedAt = Date.now();
    const win = w();
    const rate = received / ((drainedAt - firstAt) / 1000);
    log(
      `${label} trigger -> no-op function: ${String(received)} deliveries in ${((lastAt - firstAt) / 1000).toFixed(2)} s, queue drained after ${((drainedAt - firstAt) / 1000).toFixed(2)} s = ${rate.toFixed(0)} msg/s; trigger CPU ${usPer(win.cpu[0], received)}, no-op function (bench driver) ${usPer(win.cpu[1], received)}, ElasticMQ ${usPer(win.cpu[2], received)}; ${loadShape(win)}`,
    );
    await admin.delete(`/apis/kubeless.io/v1beta1/namespaces/${ns}/sqstriggers/${name}`);
    return { rate, cpuUs: (win.cpu[0] * 1000) / received };
  }

  const bareRates = [];
  const trigRates = [];
  const ratios = [];
  const trigCpu = [];
  const bareCpu = [];
  // Warm-up rounds (ElasticMQ's JIT, the controller's) run both sides but are not counted.
  for (let round = 1 - WARMUP; round <= ROUNDS; round++) {
    const counted = round >= 1;
    const label = counted ? `round ${String(round)}` : 'warm-up';
    const name = `bench-${String(round + WARMUP)}`;
    // Alternate which side goes first, so a trend in the machine's load favours neither.
    let bare;
    let trig;
    if (round % 2 === 0) {
      trig = await runTrigger(label, name);
      bare = await runBare(label);
    } else {
      bare = await runBare(label);
      trig = await runTrigger(label, name);
    }
    log(`${label} ratio trigger/bare ${(trig.rate / bare.rate).toFixed(2)}; CPU per message trigger/bare loop ${(trig.cpuUs / bare.cpuUs).toFixed(2)}`);
    if (counted) {
      bareRates.push(bare.rate);
      trigRates.push(trig.rate);
      ratios.push(trig.rate / bare.rate);
      trigCpu.push(trig.cpuUs);
      bareCpu.push(bare.cpuUs);
    }
  }
  log(`per-round ratios ${ratios.map((r) => r.toFixed(2)).join(', ')}`);
  // When the machine is saturated each process gets about the same share of a core, so the rate
  // ratio tends to the inverse of the CPU-per-message ratio of the two processes.
  log(`CPU per message (medians): trigger ${median(trigCpu).toFixed(0)} us, bare loop ${median(bareCpu).toFixed(0)} us; bare/trigger ${(median(bareCpu) / median(trigCpu)).toFixed(2)} (the ratio to expect when both are CPU-starved)`);
  log(`median bare ${median(bareRates).toFixed(0)} msg/s, median trigger ${median(trigRates).toFixed(0)} msg/s`);
  log(`RATIO trigger/bare: median of per-round ratios ${median(ratios).toFixed(2)}, ratio of medians ${(median(trigRates) / median(bareRates)).toFixed(2)} (target >= 0.70)`);
} finally {
  if (ctrl && ctrl.exitCode === null) {
    const exited = new Promise((resolve) => ctrl.once('exit', resolve));
    ctrl.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  }
  fnServer.closeAllConnections();
  fnServer.close();
  for (const q of queues) await sqs.send(new DeleteQueueCommand({ QueueUrl: q })).catch(() => undefined);
  await admin.delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
  admin.close();
  sqs.destroy();
}
