/**
 * The README's demo (`npm run demo`), steps 4-11; scripts/demo.sh runs steps 1-3 (installs and
 * builds, outside the stack's network namespace) and then this, inside it.
 *
 *   node scripts/demo/dist/main.js [--keep]
 *
 * Starts (or reuses) the local stack; installs the chart (helm/kubeless) as release `kubeless` in
 * namespace `kubeless`, so the five controllers run as pods on the stack's node from the images
 * built here, with the chart's ServiceAccounts and RBAC, its NetworkPolicy for the function pods,
 * and Pod Security `restricted` on the functions' namespace; deploys the talk's functions with the
 * real `kubeless` CLI; wires a Kafka topic, an SQS queue and an HTTP route to them; sends events;
 * reads each event back from the functions' logs by its id, failing when one does not arrive
 * within the deadline; and checks the talk's security objects for real (RBAC 403/200, the
 * restricted standard, the NetworkPolicy, mTLS from the sqs-trigger). Then stops what it started, or with `--keep` leaves it
 * running. Exit 0 on success, 1 on any failure (after cleaning up).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { CreateQueueCommand, DeleteQueueCommand, GetQueueUrlCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  CONTROLLERS,
  CONTROLLER_NAMESPACE,
  RELEASE,
  REPO_ROOT,
  STACK_AWS_CREDENTIALS,
  STACK_IMAGES,
  defaultRunDir,
  sleeperPod,
  down,
  helm,
  installRelease,
  reinstallControllerIdentities,
  stackEnv,
  status,
  stopAttached,
  uninstallRelease,
  up,
} from '@kubeless/stack';
import { DemoError, Steps, message, sayLine, seconds, type Step } from './report.js';
import { interrupt, kubectl, kubectlMaybe, kubectlShown, kubeless, kubelessMaybe, request, waitUntil } from './tools.js';

const NAMESPACE = 'demo';
/** A namespace of someone else, whose pod the NetworkPolicy keeps away from the functions. */
const OUTSIDER = 'demo-outsider';
const TOPIC = 'orders';
const QUEUE = 'jobs';
const HOST = 'foo.demo.local';
const ROUTE = '/foo';
/** Each wait's deadline: generous (a shared 2-core machine), but a missing event fails for real. `DEMO_WAIT_SECONDS` overrides. */
const WAIT_MS = (Number(process.env.DEMO_WAIT_SECONDS) || 90) * 1000;
const FUNCTIONS_DIR = 'scripts/demo/functions';

const keep = process.argv.includes('--keep');
const runDir = defaultRunDir();
const rel = (p: string): string => path.relative(REPO_ROOT, p) || '.';
const steps = new Steps({ first: 4, total: 12, t0: Number(process.env.DEMO_T0) || Date.now() });
/** Marks this run's events, so events of an earlier run on a reused stack never count. */
const run = randomBytes(3).toString('hex');

/** One line a demo function prints per event (scripts/demo/functions). */
interface EventRecord {
  function: string;
  id: string | null;
  source: string;
  type: string | null;
  topic: string | null;
  data: unknown;
}

/** An event the demo sent and expects a function to print. */
interface Expected {
  fn: string;
  /** How it was sent, for the failure message. */
  sent: string;
  match: (r: EventRecord) => boolean;
  /** The sentence printed once it arrived. */
  describe: (r: EventRecord) => string;
  seen?: EventRecord;
}

const runOf = (r: EventRecord): unknown => (typeof r.data === 'object' && r.data !== null ? (r.data as Record<string, unknown>).run : undefined);

let startedStack = false;
let installedChart = false;
let sqs: SQSClient | undefined;

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (!interrupt.signal.aborted) sayLine(`${sig}: stopping the demo and cleaning up`);
    interrupt.abort();
  });
}

function checkInterrupted(): void {
  if (interrupt.signal.aborted) throw new DemoError('interrupted');
}

async function startStack(s: Step): Promise<void> {
  const st = await status(runDir);
  if (st.up) {
    s.say(`reusing the stack already running in this checkout (${rel(runDir)}; started by \`npm run stack -- up\` or an earlier --keep)`);
  } else {
    s.say('starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler, Kafka, ElasticMQ and the node (kubelet, containerd, kube-proxy; CoreDNS and Traefik as pods) (warm: ~15-30 s)');
    startedStack = true;
    await up(runDir, { report: (line) => { s.say(`[stack] ${line}`); } });
  }
  const env = stackEnv();
  if (!startedStack) {
    // What an earlier run left (a --keep, or an interrupted run): gone before anything new starts.
    const leftover = await stopAttached(runDir, { names: [...CONTROLLERS] });
    if (leftover.length > 0) s.say(`stopped the controllers an earlier demo left running: ${leftover.join(', ')}`);
    if (await releaseInstalled()) {
      s.say(`uninstalling release ${RELEASE} (left by an earlier --keep run)`);
      await removeRelease();
    }
    await removeLeftovers(s, 'left by an earlier run');
  }
  s.say(`API server ${env.KUBE_API_SERVER}   Kafka ${env.KAFKA_BROKERS}   SQS (ElasticMQ) ${env.SQS_ENDPOINT}   Traefik ${env.TRAEFIK_WEB}`);
  s.say(`network namespace ${env.KUBELESS_NETNS}; admin kubeconfig ${rel(env.KUBECONFIG)}; component logs ${rel(path.join(runDir, 'logs'))}/`);
}

/** The chart's `tenancy.sharedIdentity`, as the README's demo section shows it: namespace demo may use the controllers' own Kafka and SQS identities for its topic and queue. */
const DEMO_TENANCY = [{ namespace: NAMESPACE, topics: [TOPIC], queues: [`.*/${QUEUE}`] }];

/** The demo's mTLS material (openssl): a CA, the sqs-trigger's client certificate, the function secure's server certificate. */
const pkiDir = path.join(runDir, 'demo-pki');
const pki = (f: string): string => path.join(pkiDir, f);
const SECURE_HOST = `secure.${NAMESPACE}.svc.cluster.local`;

function makePki(): void {
  rmSync(pkiDir, { recursive: true, force: true });
  mkdirSync(pkiDir, { recursive: true });
  const ssl = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: pkiDir, stdio: 'pipe' });
  };
  ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=kubeless-demo-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  for (const [name, ext] of [['trigger', 'extendedKeyUsage=clientAuth\n'], ['secure', `subjectAltName=DNS:${SECURE_HOST}\nextendedKeyUsage=serverAuth\n`]] as const) {
    writeFileSync(pki(`${name}.ext`), ext);
    ssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
  }
}

async function releaseInstalled(): Promise<boolean> {
  const r = await helm(['status', RELEASE, '--namespace', CONTROLLER_NAMESPACE], { env: { KUBECONFIG: stackEnv().KUBECONFIG }, timeoutMs: 30_000 });
  return r.code === 0;
}

/**
 * `helm uninstall`; then the stack's own copies of the controllers' identities, which the release
 * took over, are put back (with fresh kubeconfigs) for the tests that run controllers on them.
 */
async function removeRelease(): Promise<void> {
  await uninstallRelease(RELEASE, CONTROLLER_NAMESPACE);
  await reinstallControllerIdentities(runDir);
}

/**
 * The functions' namespace, enforcing the restricted Pod Security Standard before any function
 * exists (the talk's namespace policy), then the chart: `helm upgrade --install --wait` returns
 * once the five controller pods are Ready.
 */
async function installChart(s: Step): Promise<void> {
  await kubectlShown(['create', 'namespace', NAMESPACE]);
  await kubectlShown(['label', 'namespace', NAMESPACE, 'pod-security.kubernetes.io/enforce=restricted', 'pod-security.kubernetes.io/warn=restricted']);
  s.say(`mTLS: a CA, a client certificate for the sqs-trigger (Secret ${CONTROLLER_NAMESPACE}/demo-delivery-tls) and a server certificate for ${SECURE_HOST} (Secret ${NAMESPACE}/secure-tls), made with openssl in ${rel(pkiDir)}`);
  makePki();
  await kubectl(['create', 'namespace', CONTROLLER_NAMESPACE, '--dry-run=client', '-o', 'yaml'], { echo: false }).then((y) => kubectl(['apply', '-f', '-'], { input: y }));
  await kubectl(['delete', 'secret', 'demo-delivery-tls', '-n', CONTROLLER_NAMESPACE, '--ignore-not-found']);
  await kubectl(['create', 'secret', 'generic', 'demo-delivery-tls', '-n', CONTROLLER_NAMESPACE, `--from-file=ca.crt=${pki('ca.crt')}`, `--from-file=tls.crt=${pki('trigger.crt')}`, `--from-file=tls.key=${pki('trigger.key')}`]);
  await kubectl(['create', 'secret', 'generic', 'secure-tls', '-n', NAMESPACE, `--from-file=ca.crt=${pki('ca.crt')}`, `--from-file=tls.crt=${pki('secure.crt')}`, `--from-file=tls.key=${pki('secure.key')}`]);
  const values = {
    tenancy: { sharedIdentity: DEMO_TENANCY },
    // Only the release's trigger pods and the ingress controller's namespace may reach the function pods.
    networkPolicy: { enabled: true, namespaces: [NAMESPACE], ingressNamespace: 'traefik' },
    // The triggers re-read their status every 2 s (default 10 s), for the status step.
    kafkaTrigger: { extraEnv: [{ name: 'STATUS_INTERVAL', value: '2s' }] },
    // The sqs-trigger calls functions over https with its client certificate (and verifies them with the CA).
    sqsTrigger: { extraEnv: [{ name: 'STATUS_INTERVAL', value: '2s' }], deliveryTls: { secret: 'demo-delivery-tls' } },
  };
  s.say(`$ helm upgrade --install ${RELEASE} helm/kubeless --namespace ${CONTROLLER_NAMESPACE} --wait --take-ownership -f <values>`);
  s.say(`  values: the stack's (Kafka and ElasticMQ on the node's address, AWS credentials in a Secret, the registry mirror), plus ${JSON.stringify(values)}`);
  const t = Date.now();
  installedChart = true;
  // --take-ownership: the stack applied these controllers' identities (release kubeless) for its tests.
  await installRelease({ release: RELEASE, namespace: CONTROLLER_NAMESPACE, values, timeoutSeconds: WAIT_MS / 1000, takeOwnership: true });
  s.say(`installed; every controller pod Ready in ${seconds(Date.now() - t)}`);
  await kubectlShown(['get', 'pods', '-n', CONTROLLER_NAMESPACE, '-o', 'wide']);
  const pods = JSON.parse(await kubectl(['get', 'pods', '-n', CONTROLLER_NAMESPACE, '-l', `app.kubernetes.io/instance=${RELEASE}`, '-o', 'json'])) as { items: PodObject[] };
  for (const p of pods.items) {
    const c = p.spec.containers[0];
    s.say(`${(p.metadata.labels?.['app.kubernetes.io/component'] ?? p.metadata.name).padEnd(19)} image ${String(c?.image).padEnd(36)} ServiceAccount ${String(p.spec.serviceAccountName)}, uid ${String(p.spec.securityContext?.runAsUser)}, read-only root`);
  }
}

interface PodObject {
  metadata: { name: string; labels?: Record<string, string> };
  spec: { serviceAccountName?: string; securityContext?: { runAsUser?: number }; containers: { name: string; image?: string; ports?: { containerPort: number }[] }[] };
  status?: { podIP?: string; phase?: string };
}

async function namespaceExists(): Promise<boolean> {
  const out = await kubectl(['get', 'namespace', NAMESPACE, '--ignore-not-found', '-o', 'name']);
  return out.trim() !== '';
}

/** Deletes the demo namespace and waits until it is gone (its functions' pods stopped). */
async function deleteNamespace(s: Step, why: string): Promise<void> {
  if (!(await namespaceExists())) return;
  s.say(`deleting namespace ${NAMESPACE} (${why})`);
  await kubectl(['delete', 'namespace', NAMESPACE, '--wait=false']);
  await waitUntil(`namespace ${NAMESPACE} to be deleted`, async () => ((await namespaceExists()) ? { state: 'Terminating' } : { value: true }), { timeoutMs: WAIT_MS });
}

async function topicExists(): Promise<boolean> {
  const out = await kubeless(['topic', 'ls', '-o', 'json'], { echo: false });
  return (JSON.parse(out) as { name: string }[]).some((t) => t.name === TOPIC);
}

function sqsClient(): SQSClient {
  const env = stackEnv();
  sqs ??= new SQSClient({ region: env.SQS_REGION, endpoint: env.SQS_ENDPOINT, credentials: STACK_AWS_CREDENTIALS });
  return sqs;
}

async function queueUrl(): Promise<string | undefined> {
  try {
    return (await sqsClient().send(new GetQueueUrlCommand({ QueueName: QUEUE }))).QueueUrl;
  } catch (err) {
    if ((err as { name?: string }).name === 'QueueDoesNotExist' || /does not exist/i.test(message(err))) return undefined;
    throw err;
  }
}

/** Removes what an earlier run on this stack left (a reused stack): the namespace, the topic, the queue. */
async function removeLeftovers(s: Step, why: string): Promise<void> {
  await kubectl(['delete', 'namespace', OUTSIDER, '--ignore-not-found', '--wait=false']);
  await kubectl(['delete', 'secret', 'demo-delivery-tls', '-n', CONTROLLER_NAMESPACE, '--ignore-not-found']);
  rmSync(pkiDir, { recursive: true, force: true });
  await deleteNamespace(s, why);
  if (await topicExists()) {
    s.say(`deleting Kafka topic ${TOPIC} (${why})`);
    await kubeless(['topic', 'delete', TOPIC], { echo: false });
    await waitUntil(`topic ${TOPIC} to be deleted`, async () => ((await topicExists()) ? { state: 'still listed' } : { value: true }), { timeoutMs: WAIT_MS });
  }
  const url = await queueUrl();
  if (url !== undefined) {
    s.say(`deleting SQS queue ${QUEUE} (${why})`);
    await sqsClient().send(new DeleteQueueCommand({ QueueUrl: url }));
  }
}

async function deployFunctions(): Promise<void> {
  await kubeless(['function', 'deploy', 'foo', '--from-file', `${FUNCTIONS_DIR}/foo.py`, '--handler', 'foo.handler', '--runtime', 'python3.11', '--label', 'foo=bar,bar=baz', '-n', NAMESPACE, '--wait', '--wait-timeout', `${String(WAIT_MS / 1000)}s`]);
  checkInterrupted();
  await kubeless(['function', 'deploy', 'hello', '--from-file', `${FUNCTIONS_DIR}/hello.js`, '--handler', 'hello.handler', '--runtime', 'nodejs24', '--label', 'foo=bar,bar=baz', '-n', NAMESPACE, '--wait', '--wait-timeout', `${String(WAIT_MS / 1000)}s`]);
  checkInterrupted();
  // https only, to clients with a certificate of the demo's CA: the runtime reads FUNC_TLS_* (files of the mounted Secret).
  await kubeless(['function', 'deploy', 'secure', '--from-file', `${FUNCTIONS_DIR}/secure.py`, '--handler', 'secure.handler', '--runtime', 'python3.11', '--secrets', 'secure-tls',
    '--env', 'FUNC_TLS_CERT_FILE=/secure-tls/tls.crt,FUNC_TLS_KEY_FILE=/secure-tls/tls.key,FUNC_TLS_CLIENT_CA_FILE=/secure-tls/ca.crt', '-n', NAMESPACE, '--wait', '--wait-timeout', `${String(WAIT_MS / 1000)}s`]);
  checkInterrupted();
  await kubeless(['function', 'ls', '-n', NAMESPACE]);
  await kubectlShown(['get', 'pods', '-n', NAMESPACE, '-o', 'wide']);
}

async function wireTriggers(s: Step): Promise<string> {
  s.say(`Kafka: topic ${TOPIC}, and a KafkaTrigger selecting every function labelled foo=bar (both)`);
  await kubeless(['topic', 'create', TOPIC]);
  // earliest: the topic is new, so nothing published before the consumer groups joined is skipped.
  await kubeless(['trigger', 'kafka', 'create', TOPIC, '--trigger-topic', TOPIC, '--function-selector', 'foo=bar', '--initial-offset', 'earliest', '-n', NAMESPACE, '--wait', '--wait-timeout', `${String(WAIT_MS / 1000)}s`]);
  checkInterrupted();
  s.say(`SQS: queue ${QUEUE} on ElasticMQ (CreateQueue with @aws-sdk/client-sqs), and an SQSTrigger for secure (the sqs-trigger calls it over mTLS)`);
  const url = (await sqsClient().send(new CreateQueueCommand({ QueueName: QUEUE }))).QueueUrl;
  if (url === undefined) throw new DemoError(`CreateQueue ${QUEUE} returned no URL`);
  s.say(`created queue ${url}`);
  await kubeless(['trigger', 'sqs', 'create', QUEUE, '--queue-url', url, '--function-name', 'secure', '-n', NAMESPACE, '--wait', '--wait-timeout', `${String(WAIT_MS / 1000)}s`]);
  checkInterrupted();
  s.say(`HTTP: an Ingress for foo at http://${HOST}${ROUTE}, served by Traefik`);
  await kubeless(['trigger', 'http', 'create', 'foo', '--function-name', 'foo', '--gateway', 'traefik', '--hostname', HOST, '--path', ROUTE, '-n', NAMESPACE, '--wait', '--wait-timeout', `${String(WAIT_MS / 1000)}s`]);
  await kubectlShown(['get', 'ingress', '-n', NAMESPACE]);
  return url;
}

async function sendEvents(s: Step, url: string): Promise<Expected[]> {
  const expected: Expected[] = [];
  const fromTopic = (r: EventRecord): string => `from topic ${r.topic ?? r.source.split('#')[1] ?? '?'}`;

  s.say(`Kafka: two orders to topic ${TOPIC}; the trigger fans each out to foo and hello`);
  for (const order of [1, 2]) {
    const data = { order, item: order === 1 ? 'book' : 'lamp', run };
    await kubeless(['topic', 'publish', '--topic', TOPIC, '--key', `order-${String(order)}`, '--data', JSON.stringify(data)]);
    for (const fn of ['foo', 'hello']) {
      expected.push({
        fn,
        sent: `Kafka order ${String(order)}`,
        match: (r) => r.source.endsWith(`/kafkatriggers/${TOPIC}#${TOPIC}`) && runOf(r) === run && (r.data as { order?: unknown }).order === order,
        describe: (r) => `function ${fn} received event ${r.id ?? '?'} ${fromTopic(r)} (order ${String(order)})`,
      });
    }
  }
  checkInterrupted();

  s.say(`SQS: two jobs to queue ${QUEUE} (SendMessage); the trigger delivers them to secure, over mTLS`);
  for (const job of [1, 2]) {
    const body = JSON.stringify({ job, run });
    const out = await sqsClient().send(new SendMessageCommand({ QueueUrl: url, MessageBody: body, MessageAttributes: { 'content-type': { DataType: 'String', StringValue: 'application/json' } } }));
    const id = out.MessageId ?? '';
    s.say(`SendMessage ${body} -> MessageId ${id}`);
    expected.push({
      fn: 'secure',
      sent: `SQS job ${String(job)} (MessageId ${id})`,
      match: (r) => r.id === id,
      describe: (r) => `function secure received event ${r.id ?? '?'} from SQS queue ${QUEUE} over mTLS (job ${String(job)})`,
    });
  }
  checkInterrupted();

  const web = stackEnv().TRAEFIK_WEB;
  const eventId = `http-${run}`;
  const body = JSON.stringify({ via: 'traefik', run });
  s.say(`HTTP: POST through Traefik, as \`curl -H 'Host: ${HOST}' -H 'event-id: ${eventId}' -H 'Content-Type: application/json' -d '${body}' http://${web}${ROUTE}\``);
  const res = await waitUntil(`Traefik to route ${HOST}${ROUTE} to foo`, async () => {
    const r = await request(`http://${web}${ROUTE}`, { method: 'POST', headers: { host: HOST, 'event-id': eventId, 'content-type': 'application/json' }, body });
    return r.status === 200 ? { value: r } : { state: `HTTP ${String(r.status)} ${r.body.trim().slice(0, 80)}` };
  }, { timeoutMs: WAIT_MS });
  s.say(`  HTTP ${String(res.status)} ${res.body.trim()}`);
  expected.push({
    fn: 'foo',
    sent: `HTTP POST http://${HOST}${ROUTE} through Traefik`,
    match: (r) => r.id === eventId,
    describe: (r) => `function foo received event ${r.id ?? '?'} from Traefik (POST http://${HOST}${ROUTE}; the function saw ${r.source.replace(/^http /, '')})`,
  });
  checkInterrupted();

  s.say("direct calls through the API server's service proxy");
  for (const fn of ['foo', 'hello']) {
    const data = { via: 'kubeless function call', run };
    await kubeless(['function', 'call', fn, '-n', NAMESPACE, '--data', JSON.stringify(data)]);
    expected.push({
      fn,
      sent: `kubeless function call ${fn}`,
      match: (r) => r.source.startsWith('http ') && runOf(r) === run && (r.data as { via?: unknown }).via === data.via,
      describe: () => `function ${fn} received a call from \`kubeless function call\`, through the API server's service proxy`,
    });
  }
  return expected;
}

function parseRecords(log: string): EventRecord[] {
  const out: EventRecord[] = [];
  for (const line of log.split('\n')) {
    const i = line.indexOf('DEMO-EVENT ');
    if (i < 0) continue;
    try {
      out.push(JSON.parse(line.slice(i + 'DEMO-EVENT '.length)) as EventRecord);
    } catch {
      // A line cut by the log API: the next poll reads it whole.
    }
  }
  return out;
}

async function watchEvents(s: Step, expected: Expected[]): Promise<void> {
  const fns = [...new Set(expected.map((e) => e.fn))];
  s.say(`reading ${fns.map((f) => `\`kubeless function logs ${f} -n ${NAMESPACE}\``).join(' and ')} every 2 s until all ${String(expected.length)} events show up (deadline ${seconds(WAIT_MS)})`);
  const logs = new Map<string, string>();
  await waitUntil('every event in the functions\' logs', async () => {
    for (const fn of fns) {
      const r = await kubelessMaybe(['function', 'logs', fn, '-n', NAMESPACE], { echo: false, timeoutMs: 30_000 });
      if (r.code !== 0) continue;
      logs.set(fn, r.stdout);
      const records = parseRecords(r.stdout);
      for (const e of expected.filter((x) => x.fn === fn && x.seen === undefined)) {
        const hit = records.find(e.match);
        if (hit) {
          e.seen = hit;
          s.say(`${e.describe(hit)}   [+${seconds(s.elapsed())}]`);
        }
      }
    }
    const missing = expected.filter((e) => e.seen === undefined);
    return missing.length === 0 ? { value: true } : { state: `${String(missing.length)} missing: ${missing.map((e) => `${e.fn} <- ${e.sent}`).join('; ')}` };
  }, { timeoutMs: WAIT_MS, intervalMs: 2000 }).catch(async (err: unknown) => {
    const missing = expected.filter((e) => e.seen === undefined);
    if (missing.length === 0 || interrupt.signal.aborted) throw err;
    const lines = missing.map((e) => `function ${e.fn} never received: ${e.sent}`);
    lines.push(...(await triggerSummary().catch(() => [])));
    throw new DemoError(`${String(missing.length)} of ${String(expected.length)} events did not reach their function within ${seconds(WAIT_MS)}:\n${lines.join('\n')}\n(the triggers' logs: kubectl logs -n ${CONTROLLER_NAMESPACE} -l app.kubernetes.io/component=kafka-trigger, and sqs-trigger)`);
  });
  const hello = (logs.get('hello') ?? '').trimEnd().split('\n');
  s.say(`all ${String(expected.length)} events arrived; the last lines of \`kubeless function logs hello -n ${NAMESPACE}\`:`);
  for (const line of hello.slice(-3)) s.say(`  ${line.length > 200 ? `${line.slice(0, 200)}...` : line}`);
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface TriggerObject {
  kind: string;
  metadata: { name: string };
  status?: { conditions?: Condition[]; functions?: string[]; lag?: number; [k: string]: unknown };
}

/** One line per trigger: its Ready condition, for a failure message. */
async function triggerSummary(): Promise<string[]> {
  const list = JSON.parse(await kubectl(['get', 'kafkatriggers,sqstriggers,httptriggers', '-n', NAMESPACE, '-o', 'json'])) as { items: TriggerObject[] };
  return list.items.map((t) => {
    const ready = t.status?.conditions?.find((c) => c.type === 'Ready');
    return `${t.kind} ${t.metadata.name}: Ready=${ready?.status ?? 'unknown'} ${ready?.reason ?? ''} ${ready?.message ?? ''}`.trimEnd();
  });
}

async function showStatus(s: Step, expected: Expected[]): Promise<void> {
  const want = new Map<string, number>();
  for (const e of expected) want.set(e.fn, (want.get(e.fn) ?? 0) + 1);
  await kubeless(['function', 'top', '-n', NAMESPACE]);
  const json = JSON.parse(await kubeless(['function', 'top', '-n', NAMESPACE, '-o', 'json'], { echo: false })) as { name: string; total_calls: number; total_failures: number }[];
  for (const [fn, n] of want) {
    if (fn === 'secure') {
      // The API server's service proxy speaks plain http without a client certificate: an mTLS-only function's metrics are out of its reach.
      s.say(`${fn}: metrics not read (mTLS only: the API server's proxy has no client certificate); its ${String(n)} events are in its log`);
      continue;
    }
    const calls = json.filter((r) => r.name === fn).reduce((a, r) => a + r.total_calls, 0);
    const failures = json.filter((r) => r.name === fn).reduce((a, r) => a + r.total_failures, 0);
    s.say(`${fn}: ${String(calls)} calls (sent ${String(n)}), ${String(failures)} failures`);
    if (calls < n || failures > 0) throw new DemoError(`function ${fn}: its metrics show ${String(calls)} calls and ${String(failures)} failures; expected at least ${String(n)} calls and none failed`);
  }
  await kubeless(['trigger', 'kafka', 'list', '-n', NAMESPACE]);
  await kubeless(['trigger', 'sqs', 'list', '-n', NAMESPACE]);
  await kubeless(['trigger', 'http', 'list', '-n', NAMESPACE]);
  // The Kafka trigger re-reads its lag every STATUS_INTERVAL (2 s here): wait for it to settle at 0.
  sayLine(`$ kubectl get kafkatriggers,sqstriggers,httptriggers -n ${NAMESPACE} -o yaml   (status, summarised)`);
  const triggers = await waitUntil('the triggers\' status to show everything delivered', async () => {
    const list = JSON.parse(await kubectl(['get', 'kafkatriggers,sqstriggers,httptriggers', '-n', NAMESPACE, '-o', 'json'])) as { items: TriggerObject[] };
    const kafka = list.items.find((t) => t.kind === 'KafkaTrigger');
    const notReady = list.items.filter((t) => t.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True');
    if (notReady.length > 0) return { state: `not Ready: ${notReady.map((t) => `${t.kind} ${t.metadata.name}`).join(', ')}` };
    return kafka?.status?.lag === 0 ? { value: list.items } : { state: `KafkaTrigger lag ${String(kafka?.status?.lag)}` };
  }, { timeoutMs: 30_000 });
  for (const t of triggers) {
    const conditions = t.status?.conditions ?? [];
    const ready = conditions.find((c) => c.type === 'Ready');
    const extra: string[] = [];
    if (t.status?.functions) extra.push(`functions [${t.status.functions.join(', ')}]`);
    if (t.status?.lag !== undefined) extra.push(`lag ${String(t.status.lag)}`);
    for (const [k, v] of Object.entries(t.status ?? {})) {
      if (!['conditions', 'functions', 'lag', 'observedGeneration'].includes(k) && (typeof v === 'string' || typeof v === 'number')) extra.push(`${k} ${String(v)}`);
    }
    s.say(`${t.kind} ${t.metadata.name}: Ready=${ready?.status ?? '?'} (${ready?.reason ?? ''}${ready?.message ? `: ${ready.message}` : ''})${extra.length > 0 ? `; ${extra.join(', ')}` : ''}`);
    s.say(`  ${conditions.filter((c) => c.type !== 'Ready').map((c) => `${c.type}=${c.status}`).join(' ')}`);
  }
}

/** One https POST to the function secure's pod, verifying its certificate for its Service name, with or without the client certificate. */
function httpsCall(ip: string, withCert: boolean): Promise<string> {
  return new Promise((resolve) => {
    const req = https.request(
      {
        host: ip,
        servername: SECURE_HOST,
        port: 8080,
        method: 'POST',
        path: '/',
        ca: readFileSync(pki('ca.crt')),
        ...(withCert ? { cert: readFileSync(pki('trigger.crt')), key: readFileSync(pki('trigger.key')) } : {}),
        headers: { 'content-type': 'application/json' },
        agent: false,
        timeout: 5000,
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => {
          resolve(`HTTP ${String(res.statusCode)} ${body.trim()}`);
        });
        res.on('error', (err) => {
          resolve(`refused (${err.message})`);
        });
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      resolve(`refused (${err.code ?? err.message})`);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(JSON.stringify({ via: 'demo mTLS check', run }));
  });
}

/**
 * What the talk shows with Kubernetes objects, checked against the stack rather than read from
 * the objects: each check fails the demo when the cluster does not enforce it.
 */
async function securityChecks(s: Step, delivered: number): Promise<void> {
  const results: string[] = [];
  // RBAC: the chart's user roles. An ordinary user sees nothing until bound to kubeless-edit in the namespace.
  const asAlice = ['get', 'functions', '-n', NAMESPACE, '--as', 'alice'];
  const denied = await kubectlMaybe(asAlice);
  if (denied.code === 0 || !/forbidden/i.test(denied.stderr)) throw new DemoError(`RBAC: user alice could list functions before any binding: ${denied.stdout}${denied.stderr}`);
  sayLine(`  ${denied.stderr.trim().split('\n')[0] ?? ''}`);
  await kubectlShown(['create', 'rolebinding', 'alice-edit', `--clusterrole=${RELEASE}-edit`, '--user=alice', '-n', NAMESPACE]);
  const allowed = await waitUntil('alice to list functions once bound', async () => {
    const r = await kubectlMaybe(asAlice, { echo: false });
    return r.code === 0 ? { value: r.stdout } : { state: r.stderr.trim() };
  }, { timeoutMs: 30_000 });
  await kubectlShown(asAlice);
  const elsewhere = await kubectlMaybe(['get', 'functions', '-n', CONTROLLER_NAMESPACE, '--as', 'alice'], { echo: false });
  if (elsewhere.code === 0) throw new DemoError(`RBAC: alice, bound in ${NAMESPACE} only, could list functions in ${CONTROLLER_NAMESPACE}`);
  const listed = allowed.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0]).join(', ');
  results.push(`RBAC        user alice: 403 Forbidden on functions in ${NAMESPACE}; bound to ClusterRole ${RELEASE}-edit there: 200 (${listed}); still 403 in ${CONTROLLER_NAMESPACE}`);

  // Pod Security restricted: the function pods run under it; a pod that breaks it is refused.
  const pods = JSON.parse(await kubectl(['get', 'pods', '-n', NAMESPACE, '-l', 'created-by=kubeless', '-o', 'json'])) as { items: PodObject[] };
  const fooPod = pods.items.find((p) => p.metadata.labels?.function === 'foo');
  if (!fooPod?.status?.podIP) throw new DemoError('no running pod of function foo');
  const uid = (await kubectlShown(['exec', '-n', NAMESPACE, fooPod.metadata.name, '-c', 'foo', '--', 'sh', '-c', 'id -u; touch /x 2>&1 || true'])).trim().split('\n');
  if (uid[0] !== '1000' || !(uid[1] ?? '').includes('Read-only file system')) throw new DemoError(`foo's container runs as uid ${String(uid[0])} (${String(uid[1])}); expected uid 1000 on a read-only root`);
  const refused = await kubectlMaybe(['run', 'root-check', `--image=${STACK_IMAGES.busybox}`, '-n', NAMESPACE, '--dry-run=server', '--', 'sleep', '1']);
  const why = /violates PodSecurity "restricted:latest": [^\n]*/.exec(refused.stderr)?.[0];
  if (refused.code === 0 || why === undefined) throw new DemoError(`Pod Security: a plain (root) pod was not refused in ${NAMESPACE}: ${refused.stderr}`);
  sayLine(`  ${why.length > 160 ? `${why.slice(0, 160)}...` : why}`);
  results.push(`PodSecurity namespace ${NAMESPACE} enforces restricted: ${String(pods.items.length)} function pods run (foo as uid 1000, read-only root); a plain pod is refused (${why.split(': ')[1]?.split(' ')[0] ?? ''} ...)`);

  // NetworkPolicy: the chart's, enforced by the stack's kube-network-policies.
  const port = fooPod.spec.containers[0]?.ports?.[0]?.containerPort ?? 8080;
  await kubectlShown(['create', 'namespace', OUTSIDER]);
  await kubectl(['apply', '-f', '-', '--server-side'], { input: JSON.stringify(sleeperPod(OUTSIDER, 'client')) });
  await kubectl(['wait', '--for=condition=Ready', 'pod/client', '-n', OUTSIDER, '--timeout=60s']);
  const t = Date.now();
  const attempt = await kubectlMaybe(['exec', '-n', OUTSIDER, 'client', '--', 'sh', '-c', `printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${fooPod.status.podIP} ${String(port)}`]);
  if (!attempt.stderr.includes('timed out')) throw new DemoError(`NetworkPolicy: a pod in ${OUTSIDER} reached foo: ${attempt.stdout}${attempt.stderr}`);
  sayLine(`  ${attempt.stderr.trim().split('\n')[0] ?? ''} (${seconds(Date.now() - t)})`);
  await kubectlShown(['get', 'networkpolicy', '-n', NAMESPACE]);
  results.push(`NetworkPolicy ${RELEASE}-functions: a pod in ${OUTSIDER} timed out on foo (${fooPod.status.podIP}:${String(port)}); the kafka-trigger and sqs-trigger pods and the Traefik pod (namespace traefik) delivered all their events through it (${String(delivered)} events in all)`);
  await kubectl(['delete', 'namespace', OUTSIDER, '--wait=false']);

  // mTLS: secure answers only a client with a certificate of the demo's CA, as the sqs-trigger has.
  const securePod = (JSON.parse(await kubectl(['get', 'pods', '-n', NAMESPACE, '-l', 'function=secure', '-o', 'json'])) as { items: PodObject[] }).items[0];
  const secureIp = securePod?.status?.podIP;
  if (!secureIp) throw new DemoError('no running pod of function secure');
  const noCert = await httpsCall(secureIp, false);
  const withCert = await httpsCall(secureIp, true);
  sayLine(`  https://${SECURE_HOST}:8080 (pod ${secureIp}) without a client certificate: ${noCert}`);
  sayLine(`  with the sqs-trigger's certificate: ${withCert}`);
  if (!noCert.startsWith('refused') || !withCert.startsWith('HTTP 200')) throw new DemoError(`mTLS: expected a refusal without a client certificate and 200 with one; got "${noCert}" and "${withCert}"`);
  results.push(`mTLS        function secure serves https only and requires a client certificate: none -> ${noCert}; the trigger's -> ${withCert.split(' ').slice(0, 2).join(' ')}; the sqs-trigger pod delivered its jobs to it with that certificate`);

  s.say('checked:');
  for (const line of results) s.say(`  ${line}`);
}

async function stopAll(s: Step): Promise<void> {
  if (startedStack) {
    // The controllers are pods of the stack's node: they stop with it.
    await down(runDir, { report: (line) => { s.say(`[stack] ${line}`); } });
    return;
  }
  // A stack this demo did not start stays up; only the demo's own objects and release go.
  if (installedChart && (await releaseInstalled())) {
    const t = Date.now();
    await removeRelease();
    s.say(`helm uninstall ${RELEASE}: the controller pods are gone (${seconds(Date.now() - t)}); the stack's own controller identities are back for its tests`);
  }
  if ((await status(runDir)).up) await removeLeftovers(s, 'the demo is over');
}

function printKeep(): void {
  const env = stackEnv();
  process.stdout.write(`
The demo stays up (--keep): the stack, release ${RELEASE} (its five controller pods in namespace ${CONTROLLER_NAMESPACE}: kubectl logs -n ${CONTROLLER_NAMESPACE} deploy/${RELEASE}-kafka-trigger) and the functions in namespace ${NAMESPACE}.
Use it from a shell inside the stack's network namespace (KUBECONFIG and KAFKA_BROKERS are set there):

  npm run stack -- shell
  node cli/bin/kubeless.js function ls -n ${NAMESPACE}
  node cli/bin/kubeless.js function call foo -n ${NAMESPACE} --data '{"hey":"kubecon"}'
  node cli/bin/kubeless.js topic publish --topic ${TOPIC} --data '{"order":3}'
  node cli/bin/kubeless.js function logs hello -n ${NAMESPACE}
  node cli/bin/kubeless.js function top -n ${NAMESPACE}
  kubectl get kubeless -n ${NAMESPACE}
  curl -H 'Host: ${HOST}' -H 'Content-Type: application/json' -d '{"hey":"traefik"}' http://${env.TRAEFIK_WEB}${ROUTE}

Stop everything (the controllers too) with: npm run stack -- down
`);
}

async function main(): Promise<number> {
  let failed: unknown;
  let where = '';
  try {
    await steps.run('start the local stack', startStack);
    await steps.run(`install the chart: the five controllers as pods in namespace ${CONTROLLER_NAMESPACE} (helm upgrade --install --wait)`, installChart);
    await steps.run(`deploy the talk's functions in namespace ${NAMESPACE}: foo (Python) and hello (Node.js), labelled foo=bar,bar=baz, and secure (Python, mTLS only)`, () => deployFunctions());
    const url = await steps.run('wire a Kafka topic, an SQS queue and an HTTP route to them', wireTriggers);
    const expected = await steps.run('send events: Kafka messages, SQS messages, an HTTP request through Traefik, direct calls', (s) => sendEvents(s, url));
    await steps.run('watch each function receive its events (from `kubeless function logs`)', (s) => watchEvents(s, expected));
    await steps.run('metrics (`kubeless function top`) and the triggers\' status', (s) => showStatus(s, expected));
    await steps.run("the talk's security checks, for real: RBAC, Pod Security restricted, the NetworkPolicy, mTLS", (s) => securityChecks(s, expected.length));
  } catch (err) {
    failed = err;
    where = steps.current;
  }
  const keepUp = keep && failed === undefined;
  if (keepUp) {
    await steps.run('leave it running (--keep)', async (s) => {
      s.say(`release ${RELEASE} stays installed: \`helm status ${RELEASE} -n ${CONTROLLER_NAMESPACE}\`; \`npm run stack -- down\` stops everything`);
      await Promise.resolve();
    }, 12);
  } else {
    try {
      const title = startedStack ? 'stop the stack (the controller pods with it)' : "uninstall the release and remove the demo's namespaces, topic and queue (the stack was already running: it stays up)";
      await steps.run(title, stopAll, 12);
    } catch (err) {
      failed ??= err;
      where ||= steps.current;
    }
  }
  if (failed !== undefined) {
    process.stderr.write(`\ndemo FAILED at ${where}:\n  ${message(failed).split('\n').join('\n  ')}\n`);
    if (!(failed instanceof DemoError) && failed instanceof Error && failed.stack) process.stderr.write(`${failed.stack}\n`);
    process.stderr.write(`logs: kubectl logs -n ${CONTROLLER_NAMESPACE} -l app.kubernetes.io/instance=${RELEASE} (controllers), ${rel(path.join(runDir, 'logs'))}/ (stack components)\n`);
    return 1;
  }
  if (keepUp) printKeep();
  return 0;
}

process.exitCode = await main();
sqs?.destroy();
