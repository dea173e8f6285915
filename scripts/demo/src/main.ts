/**
 * The README's demo (`npm run demo`), steps 4-11; scripts/demo.sh runs steps 1-3 (installs and
 * builds, outside the stack's network namespace) and then this, inside it.
 *
 *   node scripts/demo/dist/main.js [--keep]
 *
 * Starts (or reuses) the local stack and the four controllers, each on its own ServiceAccount;
 * deploys the talk's functions with the real `kubeless` CLI; wires a Kafka topic, an SQS queue and
 * an HTTP route to them; sends events; and reads each event back from the functions' logs by its
 * id, failing when one does not arrive within the deadline. Then stops what it started, or with
 * `--keep` leaves it running. Exit 0 on success, 1 on any failure (after cleaning up).
 */
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { CreateQueueCommand, DeleteQueueCommand, GetQueueUrlCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  CONTROLLERS,
  CONTROLLER_NAMESPACE,
  REPO_ROOT,
  STACK_AWS_CREDENTIALS,
  attachProcesses,
  controllerKubeconfigPath,
  controllerServiceAccount,
  defaultRunDir,
  down,
  freePort,
  spawnController,
  stackEnv,
  status,
  stopAttached,
  up,
  type ControllerName,
  type ControllerProcess,
  type DaemonRecord,
} from '@kubeless/stack';
import { DemoError, Steps, message, sayLine, seconds, type Step } from './report.js';
import { interrupt, kubectl, kubectlShown, kubeless, kubelessMaybe, request, waitUntil } from './tools.js';

const NAMESPACE = 'demo';
const TOPIC = 'orders';
const QUEUE = 'jobs';
const HOST = 'foo.demo.local';
const ROUTE = '/foo';
/** Each wait's deadline: generous (a shared 2-core machine), but a missing event fails for real. `DEMO_WAIT_SECONDS` overrides. */
const WAIT_MS = (Number(process.env.DEMO_WAIT_SECONDS) || 90) * 1000;
const FUNCTIONS_DIR = 'scripts/demo/functions';

const keep = process.argv.includes('--keep');
const runDir = defaultRunDir();
const logDir = path.join(runDir, 'demo');
const rel = (p: string): string => path.relative(REPO_ROOT, p) || '.';
const steps = new Steps({ first: 4, total: 11, t0: Number(process.env.DEMO_T0) || Date.now() });
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
const controllers: ControllerProcess[] = [];
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
    if (leftover.length > 0) s.say(`stopped the controllers an earlier --keep run left running: ${leftover.join(', ')}`);
    await removeLeftovers(s, 'left by an earlier run');
  }
  s.say(`API server ${env.KUBE_API_SERVER}   Kafka ${env.KAFKA_BROKERS}   SQS (ElasticMQ) ${env.SQS_ENDPOINT}   Traefik ${env.TRAEFIK_WEB}`);
  s.say(`network namespace ${env.KUBELESS_NETNS}; admin kubeconfig ${rel(env.KUBECONFIG)}; component logs ${rel(path.join(runDir, 'logs'))}/`);
}

/** `--set-json tenancy.sharedIdentity=...` of the chart, as the README's demo section shows it. */
const DEMO_TENANCY = [{ namespace: 'demo', topics: ['orders'], queues: ['.*/jobs'] }];

async function startControllers(s: Step): Promise<void> {
  mkdirSync(logDir, { recursive: true });
  const records: DaemonRecord[] = [];
  const health = new Map<ControllerName, number>();
  for (const name of CONTROLLERS) {
    const log = path.join(logDir, `${name}.log`);
    const fd = openSync(log, 'w');
    const port = await freePort();
    health.set(name, port);
    // The triggers run with the chart's defaults plus the one tenancy value the README documents:
    // namespace demo may use the controllers' own Kafka and SQS identities for its topic and queue.
    const triggerEnv: Record<string, string> = name === 'function-controller' ? {} : { STATUS_INTERVAL: '2s', SHARED_IDENTITY_GRANTS: JSON.stringify(DEMO_TENANCY) };
    try {
      // Detached (their own process group): a --keep run leaves them running, and `npm run stack -- down` stops them.
      const p = spawnController(name, { detached: true, stdio: ['ignore', fd, fd], identity: `${name}-demo`, env: { HEALTH_PORT: String(port), LOG_LEVEL: 'info', ...triggerEnv } });
      controllers.push(p);
      records.push({ name, pid: p.child.pid ?? 0, cmdline: [process.execPath, path.join(REPO_ROOT, 'services', name, 'dist', 'main.js')], log });
    } finally {
      closeSync(fd);
    }
  }
  await attachProcesses(runDir, records);
  await Promise.all(
    controllers.map(async (c) => {
      const started = Date.now();
      const log = path.join(logDir, `${c.name}.log`);
      await waitUntil(`${c.name} to be ready`, async () => {
        if (c.child.exitCode !== null || c.child.signalCode !== null) return { fail: `it exited (${String(c.child.exitCode ?? c.child.signalCode)})` };
        const r = await request(`http://127.0.0.1:${String(health.get(c.name))}/readyz`);
        return r.status === 200 ? { value: true } : { state: `/readyz ${String(r.status)} ${r.body.trim()}` };
      }, { timeoutMs: WAIT_MS, intervalMs: 300 }).catch((err: unknown) => {
        throw new DemoError(`${message(err)}\nlast lines of ${rel(log)}:\n${tail(log, 10)}`);
      });
      s.say(`${c.name.padEnd(19)} pid ${String(c.child.pid).padEnd(7)} ready in ${seconds(Date.now() - started).padEnd(6)} as ServiceAccount ${CONTROLLER_NAMESPACE}/${controllerServiceAccount(c.name)}   log ${rel(log)}`);
    }),
  );
  s.say(`each on a TokenRequest token of its own ServiceAccount (${rel(path.dirname(controllerKubeconfigPath(runDir, 'function-controller')))}/<controller>.kubeconfig), with the chart's RBAC`);
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).map((l) => `  ${l}`).join('\n');
  } catch {
    return '  (no log)';
  }
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
  await kubectlShown(['create', 'namespace', NAMESPACE]);
  await kubeless(['function', 'deploy', 'foo', '--from-file', `${FUNCTIONS_DIR}/foo.py`, '--handler', 'foo.handler', '--runtime', 'python3.11', '--label', 'foo=bar,bar=baz', '-n', NAMESPACE, '--wait', '--wait-timeout', `${String(WAIT_MS / 1000)}s`]);
  checkInterrupted();
  await kubeless(['function', 'deploy', 'hello', '--from-file', `${FUNCTIONS_DIR}/hello.js`, '--handler', 'hello.handler', '--runtime', 'nodejs24', '--label', 'foo=bar,bar=baz', '-n', NAMESPACE, '--wait', '--wait-timeout', `${String(WAIT_MS / 1000)}s`]);
  checkInterrupted();
  await kubeless(['function', 'ls', '-n', NAMESPACE]);
  await kubectlShown(['get', 'pods', '-n', NAMESPACE, '-l', 'foo=bar', '-o', 'wide']);
}

async function wireTriggers(s: Step): Promise<string> {
  s.say(`Kafka: topic ${TOPIC}, and a KafkaTrigger selecting every function labelled foo=bar (both)`);
  await kubeless(['topic', 'create', TOPIC]);
  // earliest: the topic is new, so nothing published before the consumer groups joined is skipped.
  await kubeless(['trigger', 'kafka', 'create', TOPIC, '--trigger-topic', TOPIC, '--function-selector', 'foo=bar', '--initial-offset', 'earliest', '-n', NAMESPACE, '--wait', '--wait-timeout', `${String(WAIT_MS / 1000)}s`]);
  checkInterrupted();
  s.say(`SQS: queue ${QUEUE} on ElasticMQ (CreateQueue with @aws-sdk/client-sqs), and an SQSTrigger for hello`);
  const url = (await sqsClient().send(new CreateQueueCommand({ QueueName: QUEUE }))).QueueUrl;
  if (url === undefined) throw new DemoError(`CreateQueue ${QUEUE} returned no URL`);
  s.say(`created queue ${url}`);
  await kubeless(['trigger', 'sqs', 'create', QUEUE, '--queue-url', url, '--function-name', 'hello', '-n', NAMESPACE, '--wait', '--wait-timeout', `${String(WAIT_MS / 1000)}s`]);
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

  s.say(`SQS: two jobs to queue ${QUEUE} (SendMessage); the trigger delivers them to hello`);
  for (const job of [1, 2]) {
    const body = JSON.stringify({ job, run });
    const out = await sqsClient().send(new SendMessageCommand({ QueueUrl: url, MessageBody: body, MessageAttributes: { 'content-type': { DataType: 'String', StringValue: 'application/json' } } }));
    const id = out.MessageId ?? '';
    s.say(`SendMessage ${body} -> MessageId ${id}`);
    expected.push({
      fn: 'hello',
      sent: `SQS job ${String(job)} (MessageId ${id})`,
      match: (r) => r.id === id,
      describe: (r) => `function hello received event ${r.id ?? '?'} from SQS queue ${QUEUE} (job ${String(job)})`,
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
    throw new DemoError(`${String(missing.length)} of ${String(expected.length)} events did not reach their function within ${seconds(WAIT_MS)}:\n${lines.join('\n')}\n(the triggers' logs are in ${rel(logDir)}/)`);
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
  const json = JSON.parse(await kubeless(['function', 'top', '-n', NAMESPACE, '-o', 'json'], { echo: false })) as { name: string; totalCalls: number; totalFailures: number }[];
  for (const [fn, n] of want) {
    const calls = json.filter((r) => r.name === fn).reduce((a, r) => a + r.totalCalls, 0);
    const failures = json.filter((r) => r.name === fn).reduce((a, r) => a + r.totalFailures, 0);
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

async function stopAll(s: Step): Promise<void> {
  await Promise.all(
    controllers.map(async (c) => {
      const t = Date.now();
      const timer = setTimeout(() => c.child.kill('SIGKILL'), 40_000);
      await c.stop('SIGTERM');
      clearTimeout(timer);
      s.say(`${c.name.padEnd(19)} stopped (SIGTERM) in ${seconds(Date.now() - t)}, exit ${String(await c.exited)}`);
    }),
  );
  await stopAttached(runDir, { names: controllers.map((c) => c.name) });
  if (startedStack) {
    await down(runDir, { report: (line) => { s.say(`[stack] ${line}`); } });
  } else if (controllers.length > 0 || (await status(runDir)).up) {
    // A stack this demo did not start stays up; only the demo's own objects go.
    await removeLeftovers(s, 'the demo is over');
  }
}

function printKeep(): void {
  const env = stackEnv();
  process.stdout.write(`
The demo stays up (--keep): the stack, the four controllers (logs in ${rel(logDir)}/) and the functions in namespace ${NAMESPACE}.
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
    await steps.run('start the four controllers, each under its own ServiceAccount', startControllers);
    await steps.run(`deploy the talk's functions in namespace ${NAMESPACE}: foo (Python) and hello (Node.js), labelled foo=bar,bar=baz`, () => deployFunctions());
    const url = await steps.run('wire a Kafka topic, an SQS queue and an HTTP route to them', wireTriggers);
    const expected = await steps.run('send events: Kafka messages, SQS messages, an HTTP request through Traefik, direct calls', (s) => sendEvents(s, url));
    await steps.run('watch each function receive its events (from `kubeless function logs`)', (s) => watchEvents(s, expected));
    await steps.run('metrics (`kubeless function top`) and the triggers\' status', (s) => showStatus(s, expected));
  } catch (err) {
    failed = err;
    where = steps.current;
  }
  const keepUp = keep && failed === undefined;
  if (keepUp) {
    await steps.run('leave it running (--keep)', async (s) => {
      for (const c of controllers) c.child.unref();
      s.say('controllers keep running, attached to the stack: `npm run stack -- status` lists them, `npm run stack -- down` stops them');
      await Promise.resolve();
    }, 11);
  } else {
    try {
      const title = startedStack ? 'stop the controllers and the stack' : "stop the controllers and remove the demo's namespace, topic and queue (the stack was already running: it stays up)";
      await steps.run(title, stopAll, 11);
    } catch (err) {
      failed ??= err;
      where ||= steps.current;
    }
  }
  if (failed !== undefined) {
    process.stderr.write(`\ndemo FAILED at ${where}:\n  ${message(failed).split('\n').join('\n  ')}\n`);
    if (!(failed instanceof DemoError) && failed instanceof Error && failed.stack) process.stderr.write(`${failed.stack}\n`);
    process.stderr.write(`logs: ${rel(logDir)}/ (controllers), ${rel(path.join(runDir, 'logs'))}/ (stack components)\n`);
    return 1;
  }
  if (keepUp) printKeep();
  return 0;
}

process.exitCode = await main();
sqs?.destroy();
