import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import { ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { Kafka, logLevel } from 'kafkajs';
import { mendKafkajsIdleLoop } from '@kubeless/kafka-trigger';
import { readCmdline, startDaemon, stopDaemon, type DaemonRecord } from './procs.js';
import { STACK_ROOT, type Binaries } from './paths.js';
import { waitFor } from './wait.js';
import { NODE } from './node/config.js';

const run = promisify(execFile);

/** Ports chosen for one stack run. */
export interface StackPorts {
  /** kube-scheduler's health endpoint (HTTPS on 127.0.0.1). */
  scheduler: number;
  /** The registry mirror function pods install their dependencies through (on the node's address). */
  mirror: number;
  /** The image registry containerd pulls from (127.0.0.1). */
  registry: number;
  etcd: number;
  etcdPeer: number;
  apiserver: number;
  kafka: number;
  kafkaController: number;
  /** A SASL_PLAINTEXT listener (PLAIN and SCRAM-SHA-256/512, user KAFKA_SASL_USER). */
  kafkaSasl: number;
  /** A PLAINTEXT listener on the node's address, for pods (the chart-installed kafka-trigger). */
  kafkaNode: number;
  /** ElasticMQ, on the node's address: pods and the processes of the namespace reach it alike. */
  sqs: number;
}

export interface ComponentContext {
  runDir: string;
  pkiDir: string;
  logDir: string;
  ports: StackPorts;
  bin: Binaries;
}

/** Why a starting component is not coming: it exited; with its log's last lines, for CI logs. */
const deadMessage = (rec: DaemonRecord) => (): string | undefined => {
  // By PID (gone or a zombie), not by command line: twice a starting component that was running
  // was taken for dead by the command-line check, and left running, unrecorded, when `up` failed.
  if (readCmdline(rec.pid) !== undefined) return undefined;
  let lines = '';
  try {
    lines = readFileSync(rec.log, 'utf8').trimEnd().split('\n').slice(-15).join('\n');
  } catch {
    // no log yet
  }
  return `${rec.name} exited; see ${rec.log}${lines ? `; its last lines:\n${lines}` : ''}`;
};

// ---------------------------------------------------------------- etcd

export async function startEtcd(ctx: ComponentContext): Promise<DaemonRecord> {
  const { etcd, etcdPeer } = ctx.ports;
  const rec = startDaemon(
    'etcd',
    ctx.bin.etcd,
    [
      '--name=kubeless-stack',
      `--data-dir=${path.join(ctx.runDir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${String(etcd)}`,
      `--advertise-client-urls=http://127.0.0.1:${String(etcd)}`,
      `--listen-peer-urls=http://127.0.0.1:${String(etcdPeer)}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${String(etcdPeer)}`,
      `--initial-cluster=kubeless-stack=http://127.0.0.1:${String(etcdPeer)}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
      '--quota-backend-bytes=4294967296',
    ],
    { log: path.join(ctx.logDir, 'etcd.log') },
  );
  await waitFor(
    'etcd',
    async () => {
      const res = await fetch(`http://127.0.0.1:${String(etcd)}/health`);
      const body = (await res.json()) as { health?: string };
      return body.health === 'true';
    },
    { timeoutMs: 30_000, alive: deadMessage(rec) },
  );
  return rec;
}

// ---------------------------------------------------------------- kube-apiserver

const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  # Metadata for every request: who called which verb on which resource. RBAC roles of the
  # controllers are derived from this log.
  - level: Metadata
`;

/** GET `pathname` on the API server as the admin; resolves with status and body. */
export async function apiGet(ctx: Pick<ComponentContext, 'pkiDir' | 'ports'>, pathname: string): Promise<{ status: number; body: string }> {
  return apiRequest(ctx, 'GET', pathname);
}

/**
 * A raw request to the API server as the admin. Used where @kubernetes/client-node's typed
 * serializer would drop fields (it drops `x-kubernetes-*` keys of CRD schemas).
 */
export async function apiRequest(
  ctx: Pick<ComponentContext, 'pkiDir' | 'ports'>,
  method: string,
  pathname: string,
  body?: { contentType: string; data: string },
): Promise<{ status: number; body: string }> {
  const pki = (f: string): Buffer => readFileSync(path.join(ctx.pkiDir, f));
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: ctx.ports.apiserver,
        path: pathname,
        method,
        ca: pki('ca.crt'),
        cert: pki('admin.crt'),
        key: pki('admin.key'),
        timeout: 5000,
        headers: body ? { 'content-type': body.contentType, 'content-length': Buffer.byteLength(body.data) } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body?.data);
  });
}

export async function startApiserver(ctx: ComponentContext): Promise<DaemonRecord> {
  const { apiserver, etcd } = ctx.ports;
  const pki = (f: string): string => path.join(ctx.pkiDir, f);
  const policy = path.join(ctx.runDir, 'audit-policy.yaml');
  await writeFile(policy, AUDIT_POLICY);
  const rec = startDaemon(
    'kube-apiserver',
    ctx.bin.kubeApiserver,
    [
      `--etcd-servers=http://127.0.0.1:${String(etcd)}`,
      // Inside the stack's network namespace only: pods reach it as kubernetes.default (10.96.0.1)
      // through kube-proxy, at the node's address, which the `kubernetes` Service's endpoints name.
      '--bind-address=0.0.0.0',
      `--secure-port=${String(apiserver)}`,
      `--advertise-address=${NODE.ip}`,
      '--endpoint-reconciler-type=lease',
      `--cert-dir=${path.join(ctx.runDir, 'apiserver')}`,
      `--tls-cert-file=${pki('apiserver.crt')}`,
      `--tls-private-key-file=${pki('apiserver.key')}`,
      `--client-ca-file=${pki('ca.crt')}`,
      '--authorization-mode=Node,RBAC',
      `--kubelet-certificate-authority=${pki('ca.crt')}`,
      `--kubelet-client-certificate=${pki('kube-apiserver-kubelet-client.crt')}`,
      `--kubelet-client-key=${pki('kube-apiserver-kubelet-client.key')}`,
      '--kubelet-preferred-address-types=InternalIP',
      `--service-account-issuer=https://127.0.0.1:${String(apiserver)}`,
      `--service-account-key-file=${pki('sa.pub')}`,
      `--service-account-signing-key-file=${pki('sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      `--audit-policy-file=${policy}`,
      `--audit-log-path=${path.join(ctx.logDir, 'audit.log')}`,
      '--audit-log-maxsize=200',
      '--audit-log-maxbackup=1',
      '--max-requests-inflight=1000',
      '--max-mutating-requests-inflight=500',
      '--profiling=false',
      '--v=1',
    ],
    { log: path.join(ctx.logDir, 'kube-apiserver.log') },
  );
  await waitFor('kube-apiserver /readyz', async () => (await apiGet(ctx, '/readyz')).status === 200, {
    timeoutMs: 90_000,
    alive: deadMessage(rec),
  });
  await waitFor('kube-apiserver default namespace', async () => (await apiGet(ctx, '/api/v1/namespaces/default')).status === 200, {
    timeoutMs: 30_000,
    alive: deadMessage(rec),
  });
  return rec;
}

// ---------------------------------------------------------------- kube-controller-manager

/**
 * Controllers for GC, namespaces, Deployments -> ReplicaSets -> Pods, DaemonSets (the
 * NetworkPolicy engine), endpoints, default
 * ServiceAccounts, and the node's not-ready taint (removed once the kubelet reports Ready, so the
 * scheduler places pods there). No taint-based eviction: a paused API server must not evict pods.
 */
export const KCM_CONTROLLERS = [
  'node-lifecycle-controller',
  'garbage-collector-controller',
  'namespace-controller',
  'deployment-controller',
  'replicaset-controller',
  'daemonset-controller',
  'endpointslice-controller',
  'endpoints-controller',
  'serviceaccount-controller',
  'root-ca-certificate-publisher-controller',
];

export async function startControllerManager(ctx: ComponentContext, kubeconfig: string): Promise<DaemonRecord> {
  const rec = startDaemon(
    'kube-controller-manager',
    ctx.bin.kubeControllerManager,
    [
      `--kubeconfig=${kubeconfig}`,
      '--secure-port=0',
      '--leader-elect=false',
      '--use-service-account-credentials=false',
      `--controllers=${KCM_CONTROLLERS.join(',')}`,
      `--root-ca-file=${path.join(ctx.pkiDir, 'ca.crt')}`,
      '--concurrent-gc-syncs=10',
      '--v=1',
    ],
    { log: path.join(ctx.logDir, 'kube-controller-manager.log') },
  );
  // Ready when its serviceaccount controller has made the default ServiceAccount.
  await waitFor(
    'kube-controller-manager',
    async () => (await apiGet(ctx, '/api/v1/namespaces/default/serviceaccounts/default')).status === 200,
    { timeoutMs: 60_000, alive: deadMessage(rec) },
  );
  return rec;
}

// ---------------------------------------------------------------- Kafka

const KAFKA_LOG4J = `status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = OUT
logger.raft.name = kafka.server.KafkaRaftServer
logger.raft.level = INFO
`;

/** Start-up-lean JVM settings for short-lived helpers (ElasticMQ, Kafka's one-shot tools). */
const JAVA_OPTS = ['-XX:+UseSerialGC', '-Djava.awt.headless=true', '-XX:TieredStopAtLevel=1', '-Xshare:auto'];
/**
 * The broker runs as Kafka ships it (kafka-run-class.sh): G1 with a 20 ms pause goal and the full
 * JIT. With the lean settings above its young collections stopped it for 25-60 ms on the shared
 * 2-core machine every few seconds at 1,000 events/s (the p99 of "Kafka alone" in the benchmark),
 * and C1-only code made every offset commit several times dearer.
 */
const KAFKA_JAVA_OPTS = ['-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-XX:InitiatingHeapOccupancyPercent=35', '-XX:+ExplicitGCInvokesConcurrent', '-Djava.awt.headless=true', '-Xshare:auto'];

/** The SASL user of the stack's Kafka (PLAIN and SCRAM); a test credential, not a secret. */
export const KAFKA_SASL_USER = { username: 'kubeless', password: 'kubeless-test-password' } as const;

export async function startKafka(ctx: ComponentContext): Promise<DaemonRecord> {
  const { kafka, kafkaController, kafkaSasl, kafkaNode } = ctx.ports;
  const { username, password } = KAFKA_SASL_USER;
  const dir = path.join(ctx.runDir, 'kafka');
  await mkdir(dir, { recursive: true });
  const props = path.join(dir, 'server.properties');
  const log4j = path.join(dir, 'log4j2.properties');
  await writeFile(log4j, KAFKA_LOG4J);
  await writeFile(
    props,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${String(kafkaController)}`,
      // NODE: the same broker for pods, on the node's address (only inside the stack's namespace).
      `listeners=PLAINTEXT://127.0.0.1:${String(kafka)},CONTROLLER://127.0.0.1:${String(kafkaController)},SASL_PLAINTEXT://127.0.0.1:${String(kafkaSasl)},NODE://${NODE.ip}:${String(kafkaNode)}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${String(kafka)},SASL_PLAINTEXT://127.0.0.1:${String(kafkaSasl)},NODE://${NODE.ip}:${String(kafkaNode)}`,
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,NODE:PLAINTEXT',
      'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
      `listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${username}="${password}";`,
      'listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
      'listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      `log.dirs=${path.join(dir, 'data')}`,
      'num.partitions=1',
      'default.replication.factor=1',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'transaction.state.log.num.partitions=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'num.network.threads=2',
      'num.io.threads=2',
      'num.recovery.threads.per.data.dir=1',
      'auto.create.topics.enable=true',
      'delete.topic.enable=true',
      '',
    ].join('\n'),
  );
  const cp = `${ctx.bin.kafkaLibs}/*`;
  const heap = ['-Xms256m', '-Xmx768m', `-Dlog4j2.configurationFile=${log4j}`];
  await run('java', [...heap, ...JAVA_OPTS, '-cp', cp, 'kafka.tools.StorageTool', 'format', '-t', 'a2VidWxlc3Mtc3RhY2stMQ', '-c', props, '--ignore-formatted', '--add-scram', `SCRAM-SHA-256=[name=${username},password=${password}]`, '--add-scram', `SCRAM-SHA-512=[name=${username},password=${password}]`], {
    timeout: 120_000,
  });
  const javaOpts = process.env.KUBELESS_KAFKA_JAVA_OPTS?.split(' ').filter(Boolean) ?? KAFKA_JAVA_OPTS;
  const rec = startDaemon('kafka', 'java', [...heap, ...javaOpts, '-cp', cp, 'kafka.Kafka', props], { log: path.join(ctx.logDir, 'kafka.log') });
  // The trigger's mended kafkajs: no 1 ms idle loop, no TimeoutNegativeWarning in the stack's output.
  mendKafkajsIdleLoop();
  const client = new Kafka({ clientId: 'kubeless-stack', brokers: [`127.0.0.1:${String(kafka)}`], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
  await waitFor(
    'kafka',
    async () => {
      const admin = client.admin();
      try {
        await admin.connect();
        await admin.listTopics();
        return true;
      } finally {
        await admin.disconnect();
      }
    },
    { timeoutMs: 90_000, intervalMs: 500, alive: deadMessage(rec) },
  );
  return rec;
}

// ---------------------------------------------------------------- ElasticMQ

export const SQS_REGION = 'us-east-1';

export async function startElasticmq(ctx: ComponentContext): Promise<DaemonRecord> {
  const { sqs } = ctx.ports;
  const conf = path.join(ctx.runDir, 'elasticmq.conf');
  await writeFile(
    conf,
    `include classpath("application.conf")
node-address { protocol = http, host = "${NODE.ip}", port = ${String(sqs)}, context-path = "" }
rest-sqs { enabled = true, bind-port = ${String(sqs)}, bind-hostname = "${NODE.ip}", sqs-limits = strict }
rest-stats { enabled = false }
generate-node-address = false
aws { region = "${SQS_REGION}", accountId = "000000000000" }
`,
  );
  const rec = startDaemon(
    'elasticmq',
    'java',
    ['-Xms64m', '-Xmx256m', ...JAVA_OPTS, `-Dconfig.file=${conf}`, '-cp', `${ctx.bin.elasticmqLibs}/*`, 'org.elasticmq.server.Main'],
    { log: path.join(ctx.logDir, 'elasticmq.log') },
  );
  const client = new SQSClient({
    region: SQS_REGION,
    endpoint: `http://${NODE.ip}:${String(sqs)}`,
    credentials: { accessKeyId: 'stack', secretAccessKey: 'stack' },
    maxAttempts: 1,
  });
  try {
    await waitFor('elasticmq', async () => (await client.send(new ListQueuesCommand({}))).$metadata.httpStatusCode === 200, {
      timeoutMs: 60_000,
      intervalMs: 300,
      alive: deadMessage(rec),
    });
  } finally {
    client.destroy();
  }
  return rec;
}

// ---------------------------------------------------------------- kube-scheduler

/** A GET over HTTPS without checking the certificate (a component's self-signed health endpoint). */
function insecureStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = https.get(url, { rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => {
      resolve(0);
    });
    req.on('timeout', () => req.destroy());
  });
}

/**
 * The real scheduler, which binds every pod to the stack's node as in a cluster (its own
 * identity, system:kube-scheduler, and the default RBAC for it). Ready when /readyz answers.
 */
export async function startScheduler(ctx: ComponentContext, kubeconfig: string): Promise<DaemonRecord> {
  const config = path.join(ctx.runDir, 'kube-scheduler.yaml');
  await writeFile(
    config,
    JSON.stringify({
      apiVersion: 'kubescheduler.config.k8s.io/v1',
      kind: 'KubeSchedulerConfiguration',
      clientConnection: { kubeconfig },
      leaderElection: { leaderElect: false },
    }),
  );
  const rec = startDaemon(
    'kube-scheduler',
    ctx.bin.kubeScheduler,
    [`--config=${config}`, '--bind-address=127.0.0.1', `--secure-port=${String(ctx.ports.scheduler)}`, `--cert-dir=${path.join(ctx.runDir, 'kube-scheduler')}`, '--v=1'],
    { log: path.join(ctx.logDir, 'kube-scheduler.log') },
  );
  await waitFor('kube-scheduler', async () => (await insecureStatus(`https://127.0.0.1:${String(ctx.ports.scheduler)}/readyz`)) === 200, {
    timeoutMs: 60_000,
    alive: deadMessage(rec),
  });
  return rec;
}

// ---------------------------------------------------------------- the registry mirror

/**
 * The registry mirror function pods install dependencies through (mirror/mirror.ts): its
 * server outside the stack's network namespace (named by netns.sh as KUBELESS_OUTSIDE_NETNS), on
 * a unix socket, and a bridge to it on the node's address inside. Ready when a request through
 * both gets the mirror's own answer.
 */
/** Where pods reach the registry mirror. */
export function mirrorUrl(ports: Pick<StackPorts, 'mirror'>): string {
  return `http://${NODE.ip}:${String(ports.mirror)}`;
}

/**
 * The machine's trust store for the mirror's upstream fetches (NODE_EXTRA_CA_CERTS): Node's own
 * CA list misses a CA the machine adds (a TLS-inspecting proxy), and a caller's environment may not
 * name the store (`env -i`, CI): SSL_CERT_FILE, else Debian's bundle, when present.
 */
function machineTrustStore(): Record<string, string> {
  if (process.env.NODE_EXTRA_CA_CERTS) return {};
  const file = [process.env.SSL_CERT_FILE, '/etc/ssl/certs/ca-certificates.crt'].find((f): f is string => f !== undefined && f !== '' && existsSync(f));
  return file ? { NODE_EXTRA_CA_CERTS: file } : {};
}

export async function startMirror(ctx: ComponentContext): Promise<DaemonRecord[]> {
  const socket = path.join(ctx.runDir, 'mirror.sock');
  const main = path.join(STACK_ROOT, 'dist', 'mirror', 'main.js');
  const publicBase = mirrorUrl(ctx.ports);
  const serveArgs = [main, 'serve', '--socket', socket, '--public', publicBase];
  const outside = process.env.KUBELESS_OUTSIDE_NETNS;
  const log = path.join(ctx.logDir, 'registry-mirror.log');
  const env = { ...process.env, ...machineTrustStore() };
  const server = outside
    ? // `ip netns exec` executes node in place: the record keeps node's command line.
      { ...startDaemon('registry-mirror', 'ip', ['netns', 'exec', outside, process.execPath, ...serveArgs], { log, env }), cmdline: [process.execPath, ...serveArgs] }
    : startDaemon('registry-mirror', process.execPath, serveArgs, { log, env });
  let bridge: DaemonRecord | undefined;
  try {
    await waitFor('registry mirror', () => Promise.resolve(existsSync(socket)), { timeoutMs: 15_000, alive: deadMessage(server) });
    const b = startDaemon('registry-bridge', process.execPath, [main, 'bridge', '--socket', socket, '--listen', `${NODE.ip}:${String(ctx.ports.mirror)}`], {
      log: path.join(ctx.logDir, 'registry-bridge.log'),
    });
    bridge = b;
    await waitFor(
      'registry mirror bridge',
      async () => {
        const res = await fetch(`${publicBase}/-/kubeless-stack`).catch(() => undefined);
        return res?.status === 404;
      },
      { timeoutMs: 15_000, alive: () => deadMessage(b)() ?? deadMessage(server)() },
    );
  } catch (err) {
    // Not yet in the stack's records: stop them here.
    await Promise.all([server, bridge].map((r) => (r ? stopDaemon(r) : Promise.resolve())));
    throw err;
  }
  return [server, bridge];
}

// ---------------------------------------------------------------- the image registry

/** The stack's image registry (registry/registry.ts) over the image archives; ready when /v2/ answers. */
export async function startRegistry(ctx: ComponentContext): Promise<DaemonRecord> {
  const rec = startDaemon(
    'registry',
    process.execPath,
    [path.join(STACK_ROOT, 'dist', 'registry', 'main.js'), '--dir', ctx.bin.imagesDir, '--listen', `127.0.0.1:${String(ctx.ports.registry)}`],
    { log: path.join(ctx.logDir, 'registry.log') },
  );
  await waitFor('image registry', async () => (await fetch(`http://127.0.0.1:${String(ctx.ports.registry)}/v2/`).catch(() => undefined))?.status === 200, {
    timeoutMs: 30_000,
    alive: deadMessage(rec),
  });
  return rec;
}

/** Reads a component log's last lines, for error messages. */
export async function tail(file: string, lines = 20): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
