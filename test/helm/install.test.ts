/**
 * The chart installed for real (issue 21, step 1): `helm upgrade --install --wait` puts the five
 * controllers on the stack's node as pods, from the images built here, with the chart's
 * ServiceAccounts, RBAC, probes, PodDisruptionBudgets and security contexts. A release of its own,
 * in its own namespace, watching one namespace of its own (the chart's single-namespace mode), so
 * it never meets the controllers other test files start.
 *
 * As users run it: the function is a real pod deployed by the release's function controller
 * through the `kubeless` CLI, the Kafka trigger reaches it by its Service's DNS name, and what the
 * function received is read back from its log. The release starts at the previous chart version
 * (fixtures/kubeless-0.1.0.tgz, packaged from the chart as of a3ac3f4) and is upgraded to this
 * one under load, as operators upgrade.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, installRelease, kubectl, kubectlOk, releaseHistory, stackEnv, stackValues, uninstallRelease, withNamespace } from '@kubeless/stack';
import { kubelessOk, sinkValues, tempFiles } from '../e2e/helpers.js';

/** The controllers of the previous chart version (installed first) and of this one (after the upgrade). */
const PREVIOUS_CONTROLLERS = ['function-controller', 'http-trigger', 'kafka-trigger', 'sqs-trigger'];
const CONTROLLERS = [...PREVIOUS_CONTROLLERS, 'cronjob-trigger'];
const APP_VERSION = '0.1.0';
/** The previous chart version, as published: its schema predates kubelessConfig.installEnv. */
const PREVIOUS_CHART = path.join(import.meta.dirname, 'fixtures', 'kubeless-0.1.0.tgz');
const CHART_VERSION = /^version: (\S+)$/m.exec(readFileSync(path.join(import.meta.dirname, '..', '..', 'helm', 'kubeless', 'Chart.yaml'), 'utf8'))?.[1];
const run = randomBytes(3).toString('hex');
// The fullname is the release name when it contains the chart's name.
const release = `kubeless-${run}`;
const topic = `chart-${run}`;
const PARTITIONS = 4;

type Json = any;
let sys: { name: string; cleanup: () => Promise<void> };
let app: { name: string; cleanup: () => Promise<void> };
const kafka = new Kafka({ clientId: 'chart-install-test', brokers: stackEnv().KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING });

const dir = tempFiles('chart-install', {
  'sink.js': "module.exports = { handler: (event) => { console.log('SINK ' + String(event.data)); return 'ok'; } };\n",
});

const controllerPods = async (): Promise<Json[]> => (JSON.parse(await kubectlOk(['get', 'pods', '-n', sys.name, '-l', 'app.kubernetes.io/name=kubeless', '-o', 'json']))).items;

const ready = (p: Json): boolean => p.metadata.deletionTimestamp === undefined && p.status.conditions?.some((c: Json) => c.type === 'Ready' && c.status === 'True') === true;

/** The controllers of the release, each with one Ready pod: component -> pod (the previous chart's four until the upgrade test). */
async function readyControllers(components: string[] = PREVIOUS_CONTROLLERS): Promise<Map<string, Json> | undefined> {
  const byComponent = new Map<string, Json>();
  for (const p of await controllerPods()) if (ready(p)) byComponent.set(p.metadata.labels['app.kubernetes.io/component'], p);
  return components.every((c) => byComponent.has(c)) ? byComponent : undefined;
}

/** The values the sink function logged (`SINK <value>`), from its pod's whole log. */
async function received(): Promise<Set<string>> {
  return new Set((await sinkValues(app.name, 'sink')).keys());
}


/** Deliveries beyond the first of the values that start with `prefix`. */
async function duplicates(prefix: string): Promise<number> {
  let extra = 0;
  for (const [v, n] of await sinkValues(app.name, 'sink')) if (v.startsWith(prefix)) extra += n - 1;
  return extra;
}

/** Sends `<prefix>-<i>` for i < count, round-robin over the partitions, in batches of 1000 (or `batch`, one every 500 ms). */
async function produce(prefix: string, count: number, batch?: number): Promise<string[]> {
  const producer = kafka.producer();
  await producer.connect();
  const values = Array.from({ length: count }, (_, i) => `${prefix}-${String(i)}`);
  const size = batch ?? 1000;
  try {
    for (let i = 0; i < count; i += size) {
      if (batch !== undefined && i > 0) await new Promise((resolve) => setTimeout(resolve, 500));
      await producer.send({ topic, acks: -1, messages: values.slice(i, i + size).map((value, j) => ({ value, partition: (i + j) % PARTITIONS })) });
    }
  } finally {
    await producer.disconnect();
  }
  return values;
}

const missing = (want: string[], got: Set<string>): string[] => want.filter((v) => !got.has(v));

/** Waits until every value in `sent` reached the sink; on a timeout, says what is missing and what the trigger and its pod say. */
async function allDelivered(sent: string[], timeoutMs: number): Promise<Set<string>> {
  try {
    return await eventually(`all ${String(sent.length)} delivered`, async () => {
      const r = await received();
      return missing(sent, r).length === 0 ? r : undefined;
    }, timeoutMs);
  } catch (err) {
    const lost = missing(sent, await received());
    const status = await kubectl(['get', 'kafkatrigger', 'sink', '-n', app.name, '-o', 'jsonpath={.status.conditions}']);
    const logs = await kubectl(['logs', '-n', sys.name, '-l', 'app.kubernetes.io/component=kafka-trigger', '--tail=40', '--all-containers']);
    throw new Error(`${(err as Error).message}: ${String(lost.length)} missing (first ${lost.slice(0, 5).join(', ')}); trigger status ${status.stdout}; kafka-trigger log: ${logs.stdout.slice(-4000)}`);
  }
}

beforeAll(async () => {
  [sys, app] = await Promise.all([withNamespace('chart-sys'), withNamespace('chart-app')]);
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
  const previousValues = stackValues(stackEnv(), app.name);
  delete previousValues.kubelessConfig;
  await installRelease({ release, namespace: sys.name, watchNamespace: app.name, chart: PREVIOUS_CHART, baseValues: previousValues });
});

afterAll(async () => {
  await uninstallRelease(release, sys.name).catch(() => undefined);
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
  await Promise.all([app.cleanup(), sys.cleanup()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('helm install on the stack', () => {
  it('runs four Ready controller pods (the previous chart version) from the images built here, as the chart says, on the node', async () => {
    const pods = await readyControllers();
    expect(pods).toBeDefined();
    for (const c of PREVIOUS_CONTROLLERS) {
      const p = pods?.get(c);
      const container = p.spec.containers[0];
      expect({ c, image: container.image }).toEqual({ c, image: `kubeless/${c}:${APP_VERSION}` });
      expect(p.spec.serviceAccountName).toBe(`${release}-${c}`);
      expect(p.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
      expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
      expect(container.readinessProbe).toBeDefined();
      // The kubelet ran it from an image in containerd (a digest), not a host process.
      expect(p.status.containerStatuses[0].imageID).toMatch(/sha256:[0-9a-f]{64}$/);
      expect(p.spec.nodeName).toBe('kubeless-node');
    }
    const pdbs = (JSON.parse(await kubectlOk(['get', 'pdb', '-n', sys.name, '-o', 'json']))).items;
    expect(pdbs.map((p: Json) => p.metadata.name).sort()).toEqual(PREVIOUS_CONTROLLERS.map((c) => `${release}-${c}`).sort());
  });

  it("deploys a function through the release's function controller; its Kafka trigger loses nothing of 10,000 messages while the trigger's pod is force-deleted, and repeats only its commit window", async () => {
    const n = ['-n', app.name];
    await kubelessOk(['function', 'deploy', 'sink', '--from-file', path.join(dir, 'sink.js'), '--handler', 'sink.handler', '--runtime', 'nodejs24', ...n, '--wait']);
    await kubelessOk(['trigger', 'kafka', 'create', 'sink', '--trigger-topic', topic, '--function-name', 'sink', '--initial-offset', 'earliest', ...n, '--wait']);
    const before = (await readyControllers())?.get('kafka-trigger');
    const sent = await produce('a', 10_000);
    await eventually('the first 1,000 delivered', async () => (await received()).size >= 1000 || undefined, 60_000);
    await kubectlOk(['delete', 'pod', '-n', sys.name, before.metadata.name, '--force', '--grace-period=0']);
    const got = await allDelivered(sent, 180_000);
    expect(missing(sent, got)).toEqual([]);
    // Duplicates within the commit window only: in ordered mode (the default) one record in flight
    // per partition plus those finished within the last commit delay (20 ms plus a round trip) at
    // this sink's pace; measured 0 here.
    expect(await duplicates('a-')).toBeLessThanOrEqual(25 * PARTITIONS);
    // A replacement pod took over.
    const after = await eventually('a new kafka-trigger pod Ready', async () => {
      const p = (await readyControllers())?.get('kafka-trigger');
      return p && p.metadata.name !== before.metadata.name ? p : undefined;
    });
    expect(after.metadata.name).not.toBe(before.metadata.name);
  }, 300_000);

  it('rolls the controllers on `helm upgrade` from the previous chart version to this one, with changed values; the trigger loses nothing sent across the roll and repeats nothing beyond its window', async () => {
    const before = await readyControllers();
    // Sent in 20 batches over about 10 s, while the upgrade replaces every controller pod.
    const sending = produce('b', 5000, 500);
    await installRelease({ release, namespace: sys.name, watchNamespace: app.name, values: { logLevel: 'debug' } });
    const history = await releaseHistory(release, sys.name);
    expect(CHART_VERSION).not.toBe('0.1.0');
    expect(history.map((h) => [h.revision, h.chart])).toEqual([[1, 'kubeless-0.1.0'], [2, `kubeless-${String(CHART_VERSION)}`]]);
    expect(history.at(-1)).toMatchObject({ revision: 2, status: 'deployed' });
    // Every controller of the previous version rolled, and the cronjob-trigger (new in this version) runs as the others do.
    expect(before).toBeDefined();
    const after = await eventually('every controller rolled', async () => {
      const now = await readyControllers(CONTROLLERS);
      return now && PREVIOUS_CONTROLLERS.every((c) => now.get(c).metadata.name !== before?.get(c).metadata.name) ? now : undefined;
    });
    for (const c of CONTROLLERS) {
      expect(after.get(c).spec.containers[0].env).toContainEqual({ name: 'LOG_LEVEL', value: 'debug' });
      expect({ c, image: after.get(c).spec.containers[0].image }).toEqual({ c, image: `kubeless/${c}:${APP_VERSION}` });
      expect(after.get(c).spec.serviceAccountName).toBe(`${release}-${c}`);
    }
    const sent = await sending;
    const got = await allDelivered(sent, 180_000);
    expect(missing(sent, got)).toEqual([]);
    // A rolling update stops the old pod gracefully: it drains and commits before leaving the
    // group, so at most the record in flight per partition comes again (measured 0).
    expect(await duplicates('b-')).toBeLessThanOrEqual(PARTITIONS);
  }, 300_000);

  it('keeps the Functions, the triggers and the CRDs on `helm uninstall`, and removes the controllers', async () => {
    await uninstallRelease(release, sys.name);
    // The Deployments are gone at once; their pods stop within their grace period.
    await eventually('the controller pods gone', async () => (await controllerPods()).length === 0 || undefined, 60_000);
    // The release's own objects are gone: its ServiceAccounts and the Roles it held in the watched namespace.
    expect((await kubectlOk(['get', 'serviceaccounts,roles,rolebindings,poddisruptionbudgets', '-n', sys.name, '-l', 'app.kubernetes.io/name=kubeless', '-o', 'name'])).trim()).toBe('');
    expect((await kubectlOk(['get', 'roles,rolebindings', '-n', app.name, '-l', 'app.kubernetes.io/name=kubeless', '-o', 'name'])).trim()).toBe('');
    expect(await kubectlOk(['get', 'function', 'sink', '-n', app.name, '-o', 'name'])).toBe('function.kubeless.io/sink\n');
    expect(await kubectlOk(['get', 'kafkatrigger', 'sink', '-n', app.name, '-o', 'name'])).toBe('kafkatrigger.kubeless.io/sink\n');
    for (const crd of ['functions', 'httptriggers', 'kafkatriggers', 'sqstriggers', 'cronjobtriggers']) {
      expect((await kubectl(['get', 'crd', `${crd}.kubeless.io`])).code).toBe(0);
    }
  }, 180_000);
});
