#!/usr/bin/env node
/**
 * SQS benchmark (SPEC §10, issue 6): how fast the sqs-trigger drains a queue into a no-op function,
 * against a bare receive/delete loop on the same ElasticMQ, in the same run. Same message count,
 * payload, batch size and number of concurrent long polls on both sides, each side in its own
 * process:
 *   - bare: `receivers` loops of ReceiveMessage(10, long poll) + DeleteMessageBatch, nothing else;
 *   - trigger: the sqs-trigger controller (services/sqs-trigger/dist/main.js) with an SQSTrigger of
 *     the same `receivers` and batch size, delivering every message as a CloudEvent over HTTP to a
 *     no-op function (an HTTP server on a pod IP, published through a Service + EndpointSlice), and
 *     deleting it after the 2xx.
 * Each queue is filled first; the rate is messages / (last done - first received). Rounds alternate
 * the sides (the machine is shared with ElasticMQ, the API server and Kafka, so single runs drift);
 * the ratio is of the medians. Target: the trigger reaches >= 70% of the bare loop.
 *
 * Runs inside the stack's network namespace (pod IPs exist only there):
 *   npm run stack -- up && npm run build
 *   npm run -s stack -- exec node test/bench/sqs.mjs [--messages 10000] [--receivers 8] [--max-in-flight 100] [--payload 256] [--rounds 3] [--warmup 1]
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { readFileSync } from 'node:fs';
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
import { REPO_ROOT, freePort, readStackEnv, uniqueName } from '../stack/dist/index.js';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '10000' },
    receivers: { type: 'string', default: '8' },
    'max-in-flight': { type: 'string', default: '100' },
    payload: { type: 'string', default: '256' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    'bare-worker': { type: 'string' },
  },
});
const N = Number(args.messages);
const R = Number(args.receivers);
const M = Number(args['max-in-flight']);
const PAYLOAD = Number(args.payload);
const ROUNDS = Number(args.rounds);
const WARMUP = Number(args.warmup);
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
  await Promise.all(
    Array.from({ length: R }, async () => {
      while (done < N) {
        const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'], MessageAttributeNames: ['All'] }));
        const ms = out.Messages ?? [];
        if (ms.length === 0) continue;
        first ||= Date.now();
        await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: ms.map((m, i) => ({ Id: `d${String(i)}`, ReceiptHandle: m.ReceiptHandle })) }));
        done += ms.length;
        last = Date.now();
      }
    }),
  );
  const cpu = process.cpuUsage();
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
    spec: { runtime: 'nodejs20', handler: 'h.f', function: 'module.exports = { f: () => "" }', timeout: '10' },
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
  log(`load shape: ${String(N)} messages of ${String(PAYLOAD)} B, queue filled first, ${String(R)} concurrent long polls of 10 on each side, trigger maxInFlight ${String(M)}, one ElasticMQ ${env.SQS_ENDPOINT}`);

  // The trigger as its own process, started once and idle until a round creates its SQSTrigger.
  const port = await freePort();
  ctrl = spawn(process.execPath, [path.join(REPO_ROOT, 'services/sqs-trigger/dist/main.js')], {
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
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
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

  // Rounds alternate the two sides, so drift of the shared machine hits both alike.
  const bareRates = [];
  const trigRates = [];
  // Warm-up rounds (ElasticMQ's JIT, the controller's) run both sides but are not counted.
  for (let round = 1 - WARMUP; round <= ROUNDS; round++) {
    const counted = round >= 1;
    // 1. The bare receive/delete loop, in its own process.
    const bareQueue = await createQueue('bench-bare');
    queues.push(bareQueue);
    await fill(bareQueue);
    const bare = await new Promise((resolve, reject) => {
      const p = spawn(process.execPath, [new URL(import.meta.url).pathname, '--bare-worker', bareQueue, '--messages', String(N), '--receivers', String(R)], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } });
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`bare worker exited ${String(code)}`))));
    });
    const bareRate = bare.done / (bare.elapsedMs / 1000);
    if (counted) bareRates.push(bareRate);
    log(`${counted ? 'round ' + String(round) : 'warm-up'} bare receive/delete: ${String(bare.done)} messages in ${(bare.elapsedMs / 1000).toFixed(2)} s = ${bareRate.toFixed(0)} msg/s; process CPU ${(bare.cpuMs / 1000).toFixed(1)} s`);

    // 2. The trigger into the no-op function.
    const trigQueue = await createQueue('bench-trigger');
    queues.push(trigQueue);
    await fill(trigQueue);
    received = 0;
    firstAt = 0;
    lastAt = 0;
    const name = `bench-${String(round + WARMUP)}`;
    const cpuBefore = cpuMs(ctrl.pid);
    await admin.create(`/apis/kubeless.io/v1beta1/namespaces/${ns}/sqstriggers`, {
      apiVersion: 'kubeless.io/v1beta1',
      kind: 'SQSTrigger',
      metadata: { name, namespace: ns },
      spec: { queueUrl: trigQueue, functionName: 'noop', receivers: R, batchSize: 10, delivery: { maxInFlight: M, ordering: 'unordered' } },
    });
    const deadline = Date.now() + 600_000;
    while (received < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    // Deleted, not just delivered: the queue must drain.
    while ((await depth(trigQueue)) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const trigCpu = cpuMs(ctrl.pid) - cpuBefore;
    const trigMs = lastAt - firstAt;
    const trigRate = received / (trigMs / 1000);
    if (counted) trigRates.push(trigRate);
    log(`${counted ? 'round ' + String(round) : 'warm-up'} trigger -> no-op function: ${String(received)} deliveries in ${(trigMs / 1000).toFixed(2)} s = ${trigRate.toFixed(0)} msg/s (queue drained: ${String((await depth(trigQueue)) === 0)}); controller CPU ${(trigCpu / 1000).toFixed(1)} s; round ratio ${(trigRate / bareRate).toFixed(2)}`);
    await admin.delete(`/apis/kubeless.io/v1beta1/namespaces/${ns}/sqstriggers/${name}`);
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  log(`median bare ${median(bareRates).toFixed(0)} msg/s, median trigger ${median(trigRates).toFixed(0)} msg/s`);
  log(`RATIO trigger/bare = ${(median(trigRates) / median(bareRates)).toFixed(2)} (target >= 0.70)`);
} finally {
  ctrl?.kill('SIGTERM');
  fnServer.closeAllConnections();
  fnServer.close();
  for (const q of queues) await sqs.send(new DeleteQueueCommand({ QueueUrl: q })).catch(() => undefined);
  await admin.delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
  admin.close();
  sqs.destroy();
}
