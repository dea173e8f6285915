/**
 * The chart's default NetworkPolicy, enforced on the stack's node by a real engine
 * (kube-network-policies, test/stack/src/node/config.ts): the talk's "only the trigger
 * controllers and the ingress may reach a function", as users run it.
 *
 * A release of the chart with `networkPolicy.enabled`, in its own namespace, watching one of its
 * own, where a function runs as a pod. A pod of another namespace times out on the function's
 * port; the stack's Traefik pod (namespace traefik, the policy's ingress namespace) routes an HTTP
 * trigger to it, and the release's Kafka and SQS trigger pods deliver to it. A DNS-only egress policy on the function: names resolve, the API server and Kafka
 * time out, and removing the policy restores both. `helm upgrade` with the policy turned off
 * removes it, and the other namespace gets through.
 *
 * Not tested: "the internet range". The stack's network namespace has no route out, and tests
 * send nothing to addresses outside the stack; the API server and Kafka are the destinations
 * outside the pod network here.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { CreateQueueCommand, DeleteQueueCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STACK_AWS_CREDENTIALS, eventually, installRelease, kubectl, kubectlOk, sleeperPod, stackEnv, uninstallRelease, withNamespace } from '@kubeless/stack';
import { functionPods, kubelessOk, sinkValues, tempFiles, untilTraefik, viaTraefik } from '../e2e/helpers.js';

const run = randomBytes(3).toString('hex');
const release = `kubeless-np-${run}`;
const topic = `chart-np-${run}`;
const env = stackEnv();
const kafka = new Kafka({ clientId: 'chart-np-test', brokers: env.KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING });
const sqs = new SQSClient({ region: env.SQS_REGION, endpoint: env.SQS_ENDPOINT, credentials: STACK_AWS_CREDENTIALS });

interface Ns {
  name: string;
  cleanup: () => Promise<void>;
}
let sys: Ns;
let app: Ns;
let other: Ns;
/** The namespace of the stack's ingress controller, Traefik (a pod there, behind a Service). */
const INGRESS_NAMESPACE = 'traefik';
const host = `sink-${run}.np.test`;
let queueUrl = '';
let fnIp = '';

// Logs what it is sent (`SINK <data>`); `probe <host> <port>` answers what a TCP connection from the
// function's pod gets: the address the name resolved to, then connected, timeout or the error code.
const dir = tempFiles('chart-np', {
  'sink.js': `const dns = require('node:dns/promises');
const net = require('node:net');
async function probe(host, port) {
  let address;
  try { address = (await dns.lookup(host)).address; } catch (e) { return 'unresolved ' + e.code; }
  const result = await new Promise((resolve) => {
    const s = net.connect({ host: address, port, timeout: 3000 });
    s.once('connect', () => { s.destroy(); resolve('connected'); });
    s.once('timeout', () => { s.destroy(); resolve('timeout'); });
    s.once('error', (e) => resolve(e.code));
  });
  return address + ' ' + result;
}
module.exports = { handler: async (event) => {
  const data = String(event.data);
  if (data.startsWith('probe ')) { const [, host, port] = data.split(' '); return probe(host, Number(port)); }
  console.log('SINK ' + data);
  return 'ok';
} };
`,
});

/** An HTTP request from the client pod of `namespace` to the function's pod: its status line, or `nc: timed out`. */
async function httpFrom(namespace: string): Promise<string> {
  const r = await kubectl(['exec', 'client', '-n', namespace, '--', 'sh', '-c', `printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${fnIp} 8080 2>&1 | head -1`]);
  return r.stdout.trim();
}

const TIMED_OUT = 'nc: timed out';
const OK = 'HTTP/1.1 200';

/** What the function's pod gets on a TCP connection to host:port (see sink.js). */
async function probe(host: string, port: number | string): Promise<string> {
  return (await kubelessOk(['function', 'call', 'sink', '--data', `probe ${host} ${String(port)}`, '-n', app.name])).trim();
}

/** The values the sink logged (`SINK <value>`). */
async function received(): Promise<Set<string>> {
  return new Set((await sinkValues(app.name, 'sink')).keys());
}

beforeAll(async () => {
  [sys, app, other] = await Promise.all([withNamespace('chart-np-sys'), withNamespace('chart-np-app'), withNamespace('chart-np-other')]);
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `chart-np-${run}` }))).QueueUrl ?? '';
  await installRelease({ release, namespace: sys.name, watchNamespace: app.name, values: { networkPolicy: { enabled: true, ingressNamespace: INGRESS_NAMESPACE } } });
  const n = ['-n', app.name];
  await kubelessOk(['function', 'deploy', 'sink', '--from-file', path.join(dir, 'sink.js'), '--handler', 'sink.handler', '--runtime', 'nodejs24', ...n, '--wait']);
  await Promise.all([
    kubelessOk(['trigger', 'kafka', 'create', 'sink', '--trigger-topic', topic, '--function-name', 'sink', '--initial-offset', 'earliest', ...n, '--wait']),
    kubelessOk(['trigger', 'sqs', 'create', 'sink', '--queue-url', queueUrl, '--function-name', 'sink', ...n, '--wait']),
    kubelessOk(['trigger', 'http', 'create', 'sink', '--function-name', 'sink', '--gateway', 'traefik', '--hostname', host, ...n, '--wait']),
    kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(sleeperPod(other.name, 'client')) }),
  ]);
  await kubectlOk(['wait', '-n', other.name, '--for=condition=Ready', 'pod/client', '--timeout=60s']);
  fnIp = String((await functionPods(app.name, 'sink'))[0]?.status?.podIP ?? '');
}, 300_000);

afterAll(async () => {
  await uninstallRelease(release, sys.name).catch(() => undefined);
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
  if (queueUrl) await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => undefined);
  sqs.destroy();
  await Promise.all([app, sys, other].map((ns) => ns.cleanup()));
  rmSync(dir, { recursive: true, force: true });
});

describe("the chart's NetworkPolicy, enforced", () => {
  it("selects the function pod in the watched namespace; another namespace times out, the Traefik pod (the ingress namespace) gets through", async () => {
    const np = JSON.parse(await kubectlOk(['get', 'networkpolicy', `${release}-functions`, '-n', app.name, '-o', 'json']));
    expect(np.spec.policyTypes).toEqual(['Ingress']);
    expect(fnIp).toMatch(/^10\.244\./);
    expect(await eventually('the other namespace denied', async () => ((await httpFrom(other.name)) === TIMED_OUT ? TIMED_OUT : undefined), 20_000)).toBe(TIMED_OUT);
    // Traefik is a pod in namespace traefik: its connection to the function is subject to the policy too.
    const traefik = JSON.parse(await kubectlOk(['get', 'pods', '-n', INGRESS_NAMESPACE, '-o', 'json'])).items;
    expect(traefik.map((p: any) => p.status.podIP)).toEqual([expect.stringMatching(/^10\.244\./)]);
    const res = await untilTraefik(`${host} routed`, () => viaTraefik(host, '/', { method: 'POST', body: 'through-traefik', headers: { 'content-type': 'text/plain' } }), (r) => r.status === 200, 30_000);
    expect(res.body).toBe('ok');
    expect(await eventually('the routed request in the log', async () => ((await received()).has('through-traefik') ? 'logged' : undefined), 10_000)).toBe('logged');
  }, 60_000);

  it("delivers through it from the release's Kafka and SQS trigger pods", async () => {
    const values = Array.from({ length: 20 }, (_, i) => `m-${String(i)}`);
    const producer = kafka.producer();
    await producer.connect();
    try {
      await producer.send({ topic, acks: -1, messages: values.map((v) => ({ value: `kafka-${v}` })) });
    } finally {
      await producer.disconnect();
    }
    for (let i = 0; i < values.length; i += 10) {
      await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: values.slice(i, i + 10).map((v, j) => ({ Id: String(j), MessageBody: `sqs-${v}` })) }));
    }
    const want = values.flatMap((v) => [`kafka-${v}`, `sqs-${v}`]);
    const got = await eventually('every message delivered', async () => {
      const r = await received();
      return want.every((v) => r.has(v)) ? r : undefined;
    }, 90_000);
    expect(want.filter((v) => !got.has(v))).toEqual([]);
    // They came from pods (the release's), not from host processes, which policies never see.
    const triggers = JSON.parse(await kubectlOk(['get', 'pods', '-n', sys.name, '-l', 'app.kubernetes.io/component in (kafka-trigger,sqs-trigger)', '-o', 'json'])).items;
    expect(triggers.map((p: any) => p.status.podIP)).toEqual([expect.stringMatching(/^10\.244\./), expect.stringMatching(/^10\.244\./)]);
  }, 120_000);

  it('a DNS-only egress policy on the function: names resolve, the API server and Kafka time out; removing it restores both', async () => {
    const [kafkaHost, kafkaPort] = env.KAFKA_NODE_BROKERS.split(',')[0]?.split(':') ?? [];
    const api = 'kubernetes.default.svc.cluster.local';
    expect(await probe(api, 443)).toBe('10.96.0.1 connected');
    expect(await probe(String(kafkaHost), String(kafkaPort))).toBe(`${String(kafkaHost)} connected`);
    const policy = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'sink-dns-only', namespace: app.name },
      spec: { podSelector: { matchLabels: { function: 'sink' } }, policyTypes: ['Egress'], egress: [{ ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] }] },
    };
    await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(policy) });
    expect(await eventually('the API server denied', async () => ((await probe(api, 443)) === '10.96.0.1 timeout' ? 'denied' : undefined), 20_000)).toBe('denied');
    expect(await probe(String(kafkaHost), String(kafkaPort))).toBe(`${String(kafkaHost)} timeout`);
    await kubectlOk(['delete', 'networkpolicy', 'sink-dns-only', '-n', app.name]);
    expect(await eventually('the API server again', async () => ((await probe(api, 443)) === '10.96.0.1 connected' ? 'connected' : undefined), 20_000)).toBe('connected');
    expect(await probe(String(kafkaHost), String(kafkaPort))).toBe(`${String(kafkaHost)} connected`);
  }, 120_000);

  it('is removed by `helm upgrade` with networkPolicy.enabled=false, and the other namespace gets through', async () => {
    await installRelease({ release, namespace: sys.name, watchNamespace: app.name, values: { networkPolicy: { enabled: false, ingressNamespace: INGRESS_NAMESPACE } } });
    expect((await kubectl(['get', 'networkpolicy', `${release}-functions`, '-n', app.name])).code).not.toBe(0);
    expect(await eventually('the other namespace allowed', async () => ((await httpFrom(other.name)).startsWith(OK) ? 'allowed' : undefined), 20_000)).toBe('allowed');
  }, 240_000);
});
