/**
 * Controllers with leader election on, as the chart runs them, through API server outages
 * (issue 19): the API server SIGKILLed for 20 s and started again, then paused (SIGSTOP) for
 * longer than the lease duration and resumed. Two replicas of each of the four controllers. After
 * each outage, within 30 s: a Function created is deployed, a new KafkaTrigger and a new
 * SQSTrigger deliver and show Ready, and a new HTTPTrigger is routed; no two replicas of a
 * controller ever lead at once (from their own log lines: a leader stops acting when it cannot renew within the
 * renew deadline, before a follower may take over). A replica that lost its Lease exits; this
 * test restarts exited processes as the kubelet would.
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { grantLeases, pauseComponent, restartComponent, spawnController, stackEnv, uniqueName, withNamespace, type ControllerName } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder, createTopic, eventually, kafkaTrigger, kafkaTestClient as kubeClient, produce, registerFunction, kafkaTriggersPath as triggersPath } from '@kubeless/stack';
import { createQueue, sendMessages, sqsTrigger, sqsTriggersPath } from '@kubeless/stack';

// A 4 s margin between the renew deadline and the lease duration (the chart has 5 s): a leader's
// step-down timer may fire late on a loaded 2-core machine.
const LEASE = { LEASE_DURATION: '8s', LEASE_RENEW_DEADLINE: '4s', LEASE_RETRY_PERIOD: '1s' };

interface Leadership {
  replica: string;
  from: number;
  to: number;
}

/** One replica as the kubelet runs it: restarted after it exits, its leadership read from its logs. */
class Replica {
  readonly starts: number[] = [];
  readonly exits: { at: number; code: number | null }[] = [];
  readonly #spans: Leadership[] = [];
  #child: ChildProcess | undefined;
  #stopping = false;

  constructor(
    readonly controller: ControllerName,
    readonly identity: string,
    readonly namespace: string,
  ) {}

  start(): void {
    const child = spawnController(this.controller, {
      watchNamespace: this.namespace,
      podNamespace: this.namespace,
      identity: this.identity,
      stdio: ['ignore', 'pipe', 'inherit'],
      // EndpointSlice mode: the recording functions are the test's own servers, behind hand-made slices.
      env: { ...LEASE, ENDPOINT_MODE: 'endpointslice', LEADER_ELECT: 'true', LOG_LEVEL: 'info', STATUS_INTERVAL: '1s' },
    }).child;
    this.#child = child;
    this.starts.push(Date.now());
    let open: number | undefined;
    const close = (at: number): void => {
      if (open !== undefined) this.#spans.push({ replica: `${this.identity}#${String(this.starts.length)}`, from: open, to: at });
      open = undefined;
    };
    if (child.stdout) {
      createInterface({ input: child.stdout }).on('line', (line) => {
        let entry: { time?: number | string; msg?: string };
        try {
          entry = JSON.parse(line) as { time?: number | string; msg?: string };
        } catch {
          return;
        }
        // The logger writes ISO times; epoch milliseconds are accepted too.
        const at = typeof entry.time === 'number' ? entry.time : typeof entry.time === 'string' ? Date.parse(entry.time) : Date.now();
        if (entry.msg === 'became leader') open = at;
        else if (entry.msg?.startsWith('lost leadership') || entry.msg === 'released leadership') close(at);
      });
    }
    child.once('exit', (code) => {
      close(Date.now());
      this.exits.push({ at: Date.now(), code });
      if (!this.#stopping) {
        setTimeout(() => {
          this.start();
        }, 1000).unref();
      }
    });
  }

  get spans(): Leadership[] {
    return [...this.#spans];
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    const child = this.#child;
    if (child?.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}

/** No two spans overlap: at most one replica led at any moment. */
function overlaps(spans: Leadership[]): string[] {
  const sorted = [...spans].sort((a, b) => a.from - b.from);
  const out: string[] = [];
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (prev && cur && cur.from < prev.to) out.push(`${prev.replica} led until ${new Date(prev.to).toISOString()} but ${cur.replica} from ${new Date(cur.from).toISOString()}`);
  }
  return out;
}

describe('leader election through API server outages', () => {
  const client = kubeClient();
  let ns: { name: string; cleanup: () => Promise<void> };
  const replicas: Replica[] = [];
  const recorders: Recorder[] = [];
  const run = stackEnv().KUBELESS_STACK_DIR;

  beforeAll(async () => {
    ns = await withNamespace('leader');
    await grantLeases('function-controller', ns.name);
    for (const c of ['kafka-trigger', 'sqs-trigger', 'http-trigger'] as const) await grantLeases(c, ns.name);
    for (const [controller, id] of [
      ['function-controller', 'fc-a'],
      ['function-controller', 'fc-b'],
      ['kafka-trigger', 'kt-a'],
      ['kafka-trigger', 'kt-b'],
      ['sqs-trigger', 'sq-a'],
      ['sqs-trigger', 'sq-b'],
      ['http-trigger', 'ht-a'],
      ['http-trigger', 'ht-b'],
    ] as const) {
      const r = new Replica(controller, id, ns.name);
      r.start();
      replicas.push(r);
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    for (const r of recorders) await r.close();
    await ns.cleanup();
    // The stack's own kube-controller-manager backs off for up to a minute after the outages: start
    // it afresh, and leave once a new namespace gets its default ServiceAccount, so the next file
    // finds the stack at work.
    await restartComponent(run, 'kube-controller-manager');
    const probe = await withNamespace('leader-after');
    await eventually('kube-controller-manager at work again', async () => (await client.get(`/api/v1/namespaces/${probe.name}/serviceaccounts/default`).then(() => true, () => false)) || undefined, 90_000);
    await probe.cleanup();
    client.close();
  }, 120_000);

  /** Ready=True on a kubeless object, within `ms`. */
  const readyWithin = (what: string, path: string, ms: number): Promise<unknown> =>
    eventually(`${what} Ready`, async () => {
      const t = await client.get<{ status?: { conditions?: { type: string; status: string }[] } } & { metadata?: object }>(path);
      return t.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
    }, ms);

  /** Within 30 s: a new Function deployed, a new KafkaTrigger and SQSTrigger delivering and Ready, a new HTTPTrigger routed. */
  async function everythingReconciles(tag: string): Promise<void> {
    const fn = `fn-${tag}`;
    await client.create(`/apis/kubeless.io/v1beta1/namespaces/${ns.name}/functions`, {
      apiVersion: 'kubeless.io/v1beta1',
      kind: 'Function',
      metadata: { name: fn, namespace: ns.name },
      spec: { runtime: 'nodejs22', handler: 'index.hello', function: "module.exports = { hello: () => 'hi' }" },
    });
    const recorder = new Recorder();
    recorders.push(recorder);
    await registerFunction(client, ns.name, `target-${tag}`, recorder);
    const topic = uniqueName(`leader-${tag}`);
    await createTopic(topic, 1);
    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, `t-${tag}`, { topic, functionName: `target-${tag}`, initialOffset: 'earliest' }));
    const queueUrl = await createQueue(`leader-${tag}`);
    await client.create(sqsTriggersPath(ns.name), sqsTrigger(ns.name, `q-${tag}`, { queueUrl, functionName: `target-${tag}` }));
    await client.create(`/apis/kubeless.io/v1beta1/namespaces/${ns.name}/httptriggers`, {
      apiVersion: 'kubeless.io/v1beta1',
      kind: 'HTTPTrigger',
      metadata: { name: `h-${tag}`, namespace: ns.name },
      spec: { 'function-name': fn, gateway: 'traefik', 'host-name': `${tag}.leader.local` },
    });
    await produce(topic, [{ value: `kafka after ${tag}` }]);
    await sendMessages(queueUrl, [{ body: `sqs after ${tag}` }]);
    const started = Date.now();
    const left = (): number => Math.max(1000, 30_000 - (Date.now() - started));
    await eventually(`${fn} deployed`, async () => {
      const d = await client.get(`/apis/apps/v1/namespaces/${ns.name}/deployments/${fn}`).catch(() => undefined);
      const f = await client.get<{ status?: { observedGeneration?: number } } & { metadata?: object }>(`/apis/kubeless.io/v1beta1/namespaces/${ns.name}/functions/${fn}`);
      return d !== undefined && f.status?.observedGeneration === 1;
    }, left());
    const body = (r: { body: Buffer }): string => r.body.toString();
    await eventually(`t-${tag} and q-${tag} delivering`, () => Promise.resolve(recorder.received.some((r) => body(r) === `kafka after ${tag}`) && recorder.received.some((r) => body(r) === `sqs after ${tag}`)), left());
    await readyWithin(`t-${tag}`, `${triggersPath(ns.name)}/t-${tag}`, left());
    await readyWithin(`q-${tag}`, `${sqsTriggersPath(ns.name)}/q-${tag}`, left());
    await readyWithin(`h-${tag}`, `/apis/kubeless.io/v1beta1/namespaces/${ns.name}/httptriggers/h-${tag}`, left());
  }

  it('reconciles before any outage', async () => {
    await everythingReconciles('before');
  }, 90_000);

  it('keeps working after the API server is killed for 20 s and started again', async () => {
    await restartComponent(run, 'kube-apiserver', { kill: true, downMs: 20_000 });
    await eventually('API server ready', async () => (await client.request('GET', '/readyz').then(() => true, () => false)) || undefined, 60_000);
    await everythingReconciles('killed');
  }, 180_000);

  it('keeps working after the API server is paused for longer than the lease duration', async () => {
    await pauseComponent(run, 'kube-apiserver', 10_000);
    await everythingReconciles('paused');
  }, 180_000);

  it('never had two leaders of one controller at once', () => {
    for (const controller of ['function-controller', 'kafka-trigger', 'sqs-trigger', 'http-trigger'] as const) {
      const spans = replicas.filter((r) => r.controller === controller).flatMap((r) => r.spans);
      expect(spans.length, `${controller} had a leader`).toBeGreaterThan(0);
      expect(overlaps(spans), `${controller}: ${JSON.stringify(spans.map((x) => [x.replica, new Date(x.from).toISOString(), new Date(x.to).toISOString()]))}`).toEqual([]);
    }
  });
});
