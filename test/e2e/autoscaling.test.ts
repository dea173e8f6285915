/**
 * Autoscaling on events, against the real stack (issue 23, part 2): a KafkaTrigger and an
 * SQSTrigger with `autoscaling.minReplicas: 0` scale their function's real Deployment (pods of the
 * nodejs runtime image on the stack's node) through its scale subresource, from the load they
 * measure. The real function controller and the two trigger controllers run in process, on their
 * ServiceAccounts' tokens (the chart's RBAC: `deployments/scale` patch, `deployments` get,
 * `horizontalpodautoscalers` list).
 *
 * Each scenario: with no traffic the Deployment goes to 0 (the Function reports ScaledToZero); a
 * backlog is published; the first event activates the function and everything is delivered once
 * it is Ready (each Kafka offset exactly once, counted in the logs of every pod that served it);
 * replicas rise above 1 while the backlog is high, and return to 0 after the cool-down.
 * How much faster the backlog drains, and the activation time, are measured by
 * `npm run bench:autoscale`, not here.
 */
import path from 'node:path';
import { rmSync } from 'node:fs';
import { CreateQueueCommand, DeleteQueueCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { KubeClient, type KubeObject } from '@kubeless/controller';
import { STACK_AWS_CREDENTIALS, createTopic, eventually, kubectl, kubectlOk, produce, stackEnv, startFunctionController, startKafkaTrigger, startSqsTrigger, uniqueName, withNamespace, type RunningKafkaTrigger as RunningController } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubelessOk, tempFiles } from './helpers.js';

interface Deployment {
  spec?: { replicas?: number };
}
interface Trigger {
  status?: { lag?: number; autoscaling?: { function: string; replicas: number; desiredReplicas: number; metric: number }[]; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

const KAFKA_RECORDS = 800;
const SQS_MESSAGES = 200;
const AUTOSCALING = { minReplicas: 0, maxReplicas: 4, cooldown: '20s', pollingInterval: '1s' };

let ns: { name: string; cleanup: () => Promise<void> };
let fc: Awaited<ReturnType<typeof startFunctionController>>;
let kafkaTrigger: RunningController;
let sqsTrigger: RunningController;
const client = KubeClient.fromKubeconfig(stackEnv().KUBECONFIG, { userAgent: 'kubeless-test/autoscaling' });
const sqs = new SQSClient({ region: stackEnv().SQS_REGION, endpoint: stackEnv().SQS_ENDPOINT, credentials: STACK_AWS_CREDENTIALS });
const topic = uniqueName('autoscale');
let queueUrl = '';

// Each event takes 100 ms and logs its id: a backlog lasts long enough to watch replicas rise.
const dir = tempFiles('autoscale', {
  'slow.js': "module.exports = { handler: async (event) => { await new Promise((r) => setTimeout(r, 100)); console.log('AUTOSCALE', event['event-id']); return 'ok'; } };\n",
});

const deployment = (fn: string): Promise<Deployment> => client.get<Deployment & KubeObject>(`/apis/apps/v1/namespaces/${ns.name}/deployments/${fn}`);
const trigger = (plural: string, name: string): Promise<Trigger> => client.get<Trigger & KubeObject>(`/apis/kubeless.io/v1beta1/namespaces/${ns.name}/${plural}/${name}`);

/**
 * What each pod (each container run) of a function logged, as last read: a pod the autoscaler
 * removes takes its logs with it, and on a busy machine that can happen while the backlog is still
 * draining (replicas go down once the load has asked for fewer for a whole cool-down), so ids are
 * kept from every pod ever read, not only from the pods that exist at the last read (ci55, ci60).
 */
const logged = new Map<string, Map<string, Map<string, number>>>();

/** Every `AUTOSCALE <id>` line of the function's pods, past and present, counted per id. */
async function deliveredIds(fn: string): Promise<Map<string, number>> {
  const pods = (JSON.parse(await kubectlOk(['get', 'pods', '-n', ns.name, '-l', `function=${fn}`, '-o', 'json'])) as { items: { metadata: { name: string }; status?: { containerStatuses?: { restartCount?: number }[] } }[] }).items;
  const byRun = logged.get(fn) ?? new Map<string, Map<string, number>>();
  logged.set(fn, byRun);
  for (const p of pods) {
    const restarts = p.status?.containerStatuses?.[0]?.restartCount ?? 0;
    // A restarted container's earlier run is read once, under its own key.
    const runs: [string, string[]][] = [[`${p.metadata.name}#${String(restarts)}`, []]];
    if (restarts > 0 && !byRun.has(`${p.metadata.name}#${String(restarts - 1)}`)) runs.push([`${p.metadata.name}#${String(restarts - 1)}`, ['--previous']]);
    for (const [key, extra] of runs) {
      // A pod that went away between the list and its logs keeps what was last read of it.
      const r = await kubectl(['logs', '-n', ns.name, p.metadata.name, '--tail=-1', ...extra]);
      if (r.code !== 0) continue;
      const counts = new Map<string, number>();
      for (const l of r.stdout.split('\n')) {
        const m = /AUTOSCALE (\S+)/.exec(l);
        if (m?.[1]) counts.set(m[1], (counts.get(m[1]) ?? 0) + 1);
      }
      byRun.set(key, counts);
    }
  }
  const total = new Map<string, number>();
  for (const counts of byRun.values()) for (const [id, c] of counts) total.set(id, (total.get(id) ?? 0) + c);
  return total;
}

/** How many ids each pod run logged, as last read: which pods took the deliveries. */
function loggedPerPod(fn: string): string {
  return [...(logged.get(fn) ?? new Map<string, Map<string, number>>())].map(([k, c]) => `${k}: ${String(c.size)}`).join(', ') || 'none';
}

/**
 * A probe for `want` distinct deliveries to `fn`; while short of them it throws what it saw (the
 * count, the replicas, the trigger's conditions), which the timeout's error then carries.
 */
function delivered(fn: string, want: number, plural: string, name: string, controller: RunningController): () => Promise<true> {
  // The pods and the controller's counters are read at most every 5 s: the probe runs every 250 ms
  // on a busy machine, and they only explain a timeout.
  let detail = '';
  let detailAt = 0;
  return async () => {
    const n = (await deliveredIds(fn)).size;
    if (n >= want) return true;
    const d = await deployment(fn);
    const st = (await trigger(plural, name)).status;
    const conditions = st?.conditions?.map((c) => `${c.type}=${c.status}${c.reason ? ` (${c.reason})` : ''}`);
    if (Date.now() - detailAt >= 5000) {
      detail = `pods ${await podsOf(fn)}; logged per pod ${loggedPerPod(fn)}; controller ${await controllerFigures(controller)}`;
      detailAt = Date.now();
    }
    throw new Error(
      `${String(n)} of ${String(want)} delivered; ${String(d.spec?.replicas ?? 0)} replica(s) wanted; lag ${String(st?.lag ?? '-')}; autoscaling ${JSON.stringify(st?.autoscaling ?? [])}; trigger ${conditions?.join(', ') ?? 'without conditions'}; ${detail} (${String(Math.round((Date.now() - detailAt) / 1000))} s ago)`,
    );
  };
}

/** The function's pods with their phase, and when they are being deleted (a pod ends before its logs are counted). */
async function podsOf(fn: string): Promise<string> {
  const r = await kubectl(['get', 'pods', '-n', ns.name, '-l', `function=${fn}`, '-o', 'jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.metadata.deletionTimestamp};{end}']);
  return r.code === 0 ? r.stdout.trim() || 'none' : `unknown (${r.stderr.trim()})`;
}

/**
 * What the trigger controller itself counted (its reconciles and status writes, deliveries and
 * failed attempts, commits): tells a status that stopped being written from a backlog delivered
 * where the test cannot see it.
 */
async function controllerFigures(c: RunningController): Promise<string> {
  const text = await c.registry.metrics();
  const wanted = /^kubeless_(reconcile_total|status_writes_total|workqueue_retries_total|delivery_delivered_total|delivery_failed_attempts_total|delivery_dropped_total|kafka_offset_commits_total|kafka_consumer_lag)\{/u;
  return text
    .split('\n')
    .filter((l) => wanted.test(l))
    .map((l) => l.replace(/namespace="[^"]*",?/u, ''))
    .join(' | ');
}

/** Waits for the Deployment to stand at `replicas`, and the trigger's status to say so. */
async function scaledTo(fn: string, plural: string, name: string, replicas: number, timeoutMs: number): Promise<void> {
  await eventually(`${fn} at ${String(replicas)} replica(s)`, async () => ((await deployment(fn)).spec?.replicas === replicas ? true : undefined), timeoutMs);
  await eventually(`${name}'s status shows ${String(replicas)}`, async () => ((await trigger(plural, name)).status?.autoscaling?.find((a) => a.function === fn)?.replicas === replicas ? true : undefined), 10_000);
}

/** Samples the Deployment every 250 ms until `until` settles; returns the most replicas seen. */
async function watchReplicas<T>(fn: string, until: Promise<T>): Promise<{ most: number; result: T }> {
  let most = 0;
  const stop = new AbortController();
  const sampling = (async () => {
    while (!stop.signal.aborted) {
      most = Math.max(most, (await deployment(fn)).spec?.replicas ?? 0);
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  try {
    const result = await until;
    return { most: Math.max(most, (await deployment(fn)).spec?.replicas ?? 0), result };
  } finally {
    stop.abort();
    await sampling;
  }
}

beforeAll(async () => {
  ns = await withNamespace('autoscale');
  fc = await startFunctionController(ns.name, 'kubeless-test/autoscaling');
  [kafkaTrigger, sqsTrigger] = await Promise.all([startKafkaTrigger(ns.name, { endpointMode: 'endpointslice' }), startSqsTrigger(ns.name, { endpointMode: 'endpointslice' })]);
  const n = ['-n', ns.name];
  await Promise.all(
    // Two pods start at once on the suite's busy node: the CLI's 60 s default ran out once in CI (ci47).
    ['lagged', 'queued'].map((fn) => kubelessOk(['function', 'deploy', fn, '--from-file', path.join(dir, 'slow.js'), '--handler', 'slow.handler', '--runtime', 'nodejs24', ...n, '--wait'], { timeoutMs: 120_000 })),
  );
  await createTopic(topic, 4);
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: topic }))).QueueUrl ?? '';
  await Promise.all([
    client.create(`/apis/kubeless.io/v1beta1/namespaces/${ns.name}/kafkatriggers`, {
      apiVersion: 'kubeless.io/v1beta1',
      kind: 'KafkaTrigger',
      metadata: { name: 'lagged', namespace: ns.name },
      spec: { topic, functionName: 'lagged', initialOffset: 'earliest', autoscaling: { ...AUTOSCALING, targetPerReplica: 100 } },
    }),
    client.create(`/apis/kubeless.io/v1beta1/namespaces/${ns.name}/sqstriggers`, {
      apiVersion: 'kubeless.io/v1beta1',
      kind: 'SQSTrigger',
      metadata: { name: 'queued', namespace: ns.name },
      spec: { queueUrl, functionName: 'queued', delivery: { maxInFlight: 2 }, autoscaling: { ...AUTOSCALING, targetPerReplica: 25 } },
    }),
  ]);
}, 180_000);

afterAll(async () => {
  await Promise.all([kafkaTrigger.stop(), sqsTrigger.stop()]);
  await fc.stop();
  if (queueUrl) await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => undefined);
  sqs.destroy();
  await ns.cleanup();
  client.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('autoscaling on events, with scale to zero', () => {
  it.concurrent('a KafkaTrigger scales its function to zero without traffic, activates it for a backlog, delivers every offset once, rises above one replica and returns to zero', async () => {
    await scaledTo('lagged', 'kafkatriggers', 'lagged', 0, 60_000);
    await eventually('the Function reports ScaledToZero', async () => {
      const f = await client.get<{ status?: { conditions?: { type: string; status: string; reason?: string }[] } } & KubeObject>(`/apis/kubeless.io/v1beta1/namespaces/${ns.name}/functions/lagged`);
      return f.status?.conditions?.find((c) => c.type === 'DeploymentReady' && c.reason === 'ScaledToZero' && c.status === 'True');
    }, 10_000);
    await produce(topic, Array.from({ length: KAFKA_RECORDS }, (_, i) => ({ key: String(i), value: `r${String(i)}` })));
    const { most } = await watchReplicas(
      'lagged',
      eventually('the backlog delivered', delivered('lagged', KAFKA_RECORDS, 'kafkatriggers', 'lagged', kafkaTrigger), 120_000),
    );
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(4);
    // Every offset once, over every pod that served the backlog (including any already scaled away).
    const ids = await deliveredIds('lagged');
    expect(ids.size).toBe(KAFKA_RECORDS);
    expect([...ids.values()].filter((c) => c !== 1)).toEqual([]);
    const st = (await trigger('kafkatriggers', 'lagged')).status;
    expect(st?.conditions?.find((c) => c.type === 'Autoscaling')).toMatchObject({ status: 'True', reason: 'Scaling' });
    await eventually('lag 0', async () => ((await trigger('kafkatriggers', 'lagged')).status?.lag === 0 ? true : undefined), 20_000);
    await scaledTo('lagged', 'kafkatriggers', 'lagged', 0, 60_000);
  }, 240_000);

  it.concurrent('an SQSTrigger scales its function to zero without traffic, activates it for a backlog, rises above one replica and returns to zero', async () => {
    await scaledTo('queued', 'sqstriggers', 'queued', 0, 60_000);
    for (let i = 0; i < SQS_MESSAGES; i += 10) {
      await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: Array.from({ length: 10 }, (_, j) => ({ Id: String(j), MessageBody: `m${String(i + j)}` })) }));
    }
    const { most } = await watchReplicas(
      'queued',
      eventually('the queue delivered', delivered('queued', SQS_MESSAGES, 'sqstriggers', 'queued', sqsTrigger), 120_000),
    );
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(4);
    expect((await deliveredIds('queued')).size).toBe(SQS_MESSAGES);
    await scaledTo('queued', 'sqstriggers', 'queued', 0, 60_000);
    const st = (await trigger('sqstriggers', 'queued')).status;
    expect(st?.autoscaling).toEqual([expect.objectContaining({ function: 'queued', replicas: 0, desiredReplicas: 0, metric: 0 })]);
  }, 240_000);
});
