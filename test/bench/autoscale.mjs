#!/usr/bin/env node
/**
 * Autoscaling benchmark (issue 23): how much faster a backlog drains when the trigger scales its
 * function on the load than with the function held at one replica, in the same run, and how long an
 * event to a function scaled to zero waits for its activation. What it measures and why its
 * function is CPU-bound: docs/benchmarks.md#autoscale.
 *
 *   npm run stack -- up && npm run build
 *   npm run -s stack -- exec node test/bench/autoscale.mjs [--records 1000] [--max-replicas 4] [--activations 3] [--kinds kafka,sqs]
 * The shape is `--records 20000` (about 17 minutes per fixed side at 20 events/s).
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { CreateQueueCommand, DeleteQueueCommand, GetQueueAttributesCommand, SQSClient, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import kafkajs from './kafkajs.mjs';
import { KubeClient } from '../../libs/controller/dist/index.js';
import { STACK_AWS_CREDENTIALS, readStackEnv, spawnController, uniqueName, withNamespace } from '../stack/dist/index.js';
import { median } from './stats.mjs';

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '1000' },
    'max-replicas': { type: 'string', default: '4' },
    activations: { type: 'string', default: '3' },
    kinds: { type: 'string', default: 'kafka,sqs' },
  },
});
const RECORDS = Number(args.records);
const MAX = Number(args['max-replicas']);
const ACTIVATIONS = Number(args.activations);
const KINDS = args.kinds.split(',');

const env = readStackEnv();
const client = KubeClient.fromKubeconfig(env.KUBECONFIG, { userAgent: 'kubeless-bench/autoscale' });
const kafka = new kafkajs.Kafka({ clientId: 'bench-autoscale', brokers: env.KAFKA_BROKERS.split(','), logLevel: kafkajs.logLevel.NOTHING });
const admin = kafka.admin();
const sqs = new SQSClient({ region: env.SQS_REGION, endpoint: env.SQS_ENDPOINT, credentials: STACK_AWS_CREDENTIALS });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const CPU_50MS = 'module.exports = { handler: (event) => { const end = Date.now() + 50; while (Date.now() < end) { /* 50 ms of CPU */ } return "ok"; } };';

async function until(what, probe, timeoutMs, everyMs = 250) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${String(timeoutMs)} ms`);
    await sleep(everyMs);
  }
}

const ns = await withNamespace('bench-autoscale');
const base = `/apis/kubeless.io/v1beta1/namespaces/${ns.name}`;
const deployPath = (fn) => `/apis/apps/v1/namespaces/${ns.name}/deployments/${fn}`;
const controllers = [
  spawnController('function-controller', { watchNamespace: ns.name, podNamespace: ns.name }),
  spawnController('kafka-trigger', { watchNamespace: ns.name, podNamespace: ns.name, env: { STATUS_INTERVAL: '1s', ENDPOINT_MODE: 'endpointslice' } }),
  spawnController('sqs-trigger', { watchNamespace: ns.name, podNamespace: ns.name, env: { STATUS_INTERVAL: '1s', ENDPOINT_MODE: 'endpointslice' } }),
];
const created = [];
// Interrupted: the controllers go too (they are children, not detached).
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    for (const c of controllers) c.child.kill('SIGTERM');
    process.exit(130);
  });
}

async function deployFunction(name) {
  await client.create(`${base}/functions`, { apiVersion: 'kubeless.io/v1beta1', kind: 'Function', metadata: { name, namespace: ns.name }, spec: { runtime: 'nodejs24', handler: 'f.handler', function: CPU_50MS } });
  await until(`function ${name} Ready`, async () => (await client.get(`${base}/functions/${name}`)).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'), 180_000, 500);
}

async function replicas(fn) {
  const d = await client.get(deployPath(fn));
  return { want: d.spec?.replicas ?? 1, ready: d.status?.readyReplicas ?? 0 };
}

/** Scales the function to `n` by hand and waits for its pods (between the two sides of a pair). */
async function scaleTo(fn, n) {
  await client.request('PATCH', `${deployPath(fn)}/scale`, { body: { spec: { replicas: n } }, contentType: 'application/merge-patch+json', query: { fieldManager: 'kubeless-bench' } });
  await until(`${fn} at ${String(n)}`, async () => {
    const r = await replicas(fn);
    return r.want === n && r.ready === n;
  }, 120_000, 500);
}

/** Samples the replicas every 500 ms while `work` runs; returns the most seen. */
async function mostReplicas(fn, work) {
  let most = 0;
  let done = false;
  const sampling = (async () => {
    while (!done) {
      most = Math.max(most, (await replicas(fn)).want);
      await sleep(500);
    }
  })();
  try {
    const result = await work;
    return { most, result };
  } finally {
    done = true;
    await sampling;
  }
}

async function kafkaLag(groupId, topic) {
  const [committed, ends] = await Promise.all([admin.fetchOffsets({ groupId, topics: [topic] }), admin.fetchTopicOffsets(topic)]);
  let lag = 0;
  for (const e of ends) {
    const c = Number(committed[0]?.partitions.find((p) => p.partition === e.partition)?.offset ?? -1);
    lag += Number(e.high) - (c >= 0 ? c : Number(e.low));
  }
  return lag;
}

/** A topic with `n` records, a KafkaTrigger on it (with `autoscaling` when given): seconds until all are committed. */
async function drainKafka(fn, name, n, autoscaling) {
  const topic = uniqueName(`as-${name}`);
  await admin.createTopics({ topics: [{ topic, numPartitions: 4, replicationFactor: 1 }], waitForLeaders: true });
  const producer = kafka.producer();
  await producer.connect();
  for (let i = 0; i < n; i += 1000) await producer.send({ topic, acks: -1, messages: Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({ key: String(i + j), value: `e${String(i + j)}` })) });
  await producer.disconnect();
  const start = performance.now();
  await client.create(`${base}/kafkatriggers`, {
    apiVersion: 'kubeless.io/v1beta1',
    kind: 'KafkaTrigger',
    metadata: { name, namespace: ns.name },
    spec: { topic, functionName: fn, initialOffset: 'earliest', delivery: { ordering: 'unordered', maxInFlight: MAX }, ...(autoscaling ? { autoscaling } : {}) },
  });
  created.push(`${base}/kafkatriggers/${name}`);
  const groupId = `kubeless.${ns.name}.${name}.${fn}`;
  await until(`${name} drained`, async () => (await kafkaLag(groupId, topic)) === 0, 3_600_000, 250);
  const seconds = (performance.now() - start) / 1000;
  await client.delete(`${base}/kafkatriggers/${name}`);
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  return seconds;
}

async function queueDepth(url) {
  const a = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }))).Attributes ?? {};
  return Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0);
}

async function drainSqs(fn, name, n, autoscaling) {
  const url = (await sqs.send(new CreateQueueCommand({ QueueName: uniqueName(`as-${name}`) }))).QueueUrl ?? '';
  for (let i = 0; i < n; i += 10) {
    await sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: Array.from({ length: Math.min(10, n - i) }, (_, j) => ({ Id: String(j), MessageBody: `e${String(i + j)}` })) }));
  }
  const start = performance.now();
  await client.create(`${base}/sqstriggers`, {
    apiVersion: 'kubeless.io/v1beta1',
    kind: 'SQSTrigger',
    metadata: { name, namespace: ns.name },
    spec: { queueUrl: url, functionName: fn, delivery: { maxInFlight: MAX }, ...(autoscaling ? { autoscaling } : {}) },
  });
  created.push(`${base}/sqstriggers/${name}`);
  await until(`${name} drained`, async () => (await queueDepth(url)) === 0, 3_600_000, 250);
  const seconds = (performance.now() - start) / 1000;
  await client.delete(`${base}/sqstriggers/${name}`);
  await sqs.send(new DeleteQueueCommand({ QueueUrl: url })).catch(() => undefined);
  return { seconds, url };
}

const rows = [];
const verdicts = [];
try {
  await admin.connect();
  await deployFunction('busy');
  await deployFunction('sleepy');
  const scaling = { minReplicas: 1, maxReplicas: MAX, targetPerReplica: 20, cooldown: '15s', pollingInterval: '1s' };
  for (const kind of KINDS) {
    const drain = kind === 'kafka' ? (name, a) => drainKafka('busy', name, RECORDS, a) : async (name, a) => (await drainSqs('busy', name, RECORDS, a)).seconds;
    await scaleTo('busy', 1);
    const fixed = await drain(`${kind}-fixed`, undefined);
    await scaleTo('busy', 1);
    const { most, result: scaled } = await mostReplicas('busy', drain(`${kind}-scaled`, scaling));
    const speedup = fixed / scaled;
    rows.push(`${kind.padEnd(5)} ${String(RECORDS)} events of 50 ms CPU: one replica ${fixed.toFixed(1)} s (${(RECORDS / fixed).toFixed(1)}/s); autoscaled up to ${String(MAX)} (reached ${String(most)}) ${scaled.toFixed(1)} s (${(RECORDS / scaled).toFixed(1)}/s)`);
    verdicts.push(`SPEEDUP ${kind} autoscaled / one replica: ${speedup.toFixed(2)}x (reached ${String(most)} replicas) ${speedup > 1.2 && most > 1 ? 'PASS' : 'FAIL'}`);
  }

  // Activation from zero: one event to a function its trigger scaled to zero.
  const zero = { minReplicas: 0, maxReplicas: 1, cooldown: '5s', pollingInterval: '1s' };
  for (const kind of KINDS) {
    const times = [];
    const topic = uniqueName('as-zero');
    let url = '';
    if (kind === 'kafka') {
      await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
      await client.create(`${base}/kafkatriggers`, { apiVersion: 'kubeless.io/v1beta1', kind: 'KafkaTrigger', metadata: { name: 'zero', namespace: ns.name }, spec: { topic, functionName: 'sleepy', initialOffset: 'earliest', autoscaling: zero } });
      created.push(`${base}/kafkatriggers/zero`);
    } else {
      url = (await sqs.send(new CreateQueueCommand({ QueueName: topic }))).QueueUrl ?? '';
      await client.create(`${base}/sqstriggers`, { apiVersion: 'kubeless.io/v1beta1', kind: 'SQSTrigger', metadata: { name: 'zero', namespace: ns.name }, spec: { queueUrl: url, functionName: 'sleepy', autoscaling: zero } });
      created.push(`${base}/sqstriggers/zero`);
    }
    const producer = kafka.producer();
    await producer.connect();
    for (let i = 0; i < ACTIVATIONS; i++) {
      await until('sleepy at zero', async () => {
        const r = await replicas('sleepy');
        return r.want === 0 && r.ready === 0;
      }, 180_000, 500);
      const t0 = performance.now();
      if (kind === 'kafka') {
        await producer.send({ topic, acks: -1, messages: [{ value: `wake ${String(i)}` }] });
        await until('the event committed', async () => (await kafkaLag(`kubeless.${ns.name}.zero.sleepy`, topic)) === 0, 180_000, 100);
      } else {
        await sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: [{ Id: '0', MessageBody: `wake ${String(i)}` }] }));
        await until('the message deleted', async () => (await queueDepth(url)) === 0, 180_000, 100);
      }
      times.push((performance.now() - t0) / 1000);
    }
    await producer.disconnect();
    await client.delete(`${base}/${kind === 'kafka' ? 'kafkatriggers' : 'sqstriggers'}/zero`);
    if (url) await sqs.send(new DeleteQueueCommand({ QueueUrl: url })).catch(() => undefined);
    else await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    rows.push(`${kind.padEnd(5)} activation from zero, publish to delivery (committed/deleted): ${times.map((t) => t.toFixed(1)).join(', ')} s, median ${median(times).toFixed(1)} s`);
  }
} finally {
  for (const p of created) await client.delete(p).catch(() => undefined);
  await Promise.all(controllers.map((c) => c.stop()));
  await admin.disconnect().catch(() => undefined);
  sqs.destroy();
  await ns.cleanup();
  client.close();
}
for (const r of rows) console.log(r);
for (const v of verdicts) console.log(v);
process.exitCode = verdicts.some((v) => v.endsWith('FAIL')) ? 1 : 0;
