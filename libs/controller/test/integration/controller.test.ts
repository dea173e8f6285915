/**
 * The reconcile runner (Controller) against the real API server, on a kind of the test's own:
 * status is written only when it changed (the writes counted in the audit log and on a watch of
 * the object), a TerminalError marks the object Ready=False with its reason and a Warning Event
 * and is not retried, a bug (RangeError) marks it InternalError and is not retried, and anything
 * else is retried with backoff until it succeeds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@kubeless/observability';
import { eventually, withNamespace } from '@kubeless/stack';
import { Controller, EventRecorder, Informer, TerminalError, collectionPath, objectPath, setCondition, type KubeObject, type Reconcilable, type WatchEvent } from '../../src/index.js';
import { adminClient, auditMark, auditedRequests, sleep, testCrd, type TestCrd } from './kit.js';

type Widget = Reconcilable & { spec?: { mode?: 'ok' | 'terminal' | 'bug' | 'flaky'; msg?: string }; status?: Reconcilable['status'] & { echo?: string } };

const AGENT = `kubeless-kit-test/controller-${String(process.pid)}-${String(Date.now())}`;
const admin = adminClient('kubeless-kit-test/controller-admin');
const client = adminClient(AGENT);
const logger = createLogger({ name: 'kit-controller-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });
let crd: TestCrd;
let ns: { name: string; cleanup: () => Promise<void> };
const running: { informer: Informer<Widget>; controller: Controller<Widget> }[] = [];
const calls = new Map<string, number>();
const count = (name: string): number => calls.get(name) ?? 0;

const reconcile = (obj: Widget): Promise<undefined> => {
  const name = obj.metadata?.name ?? '';
  const n = (calls.get(name) ?? 0) + 1;
  calls.set(name, n);
  const spec = obj.spec ?? {};
  if (spec.mode === 'terminal') throw new TerminalError('BadSpec', 'spec.mode says terminal');
  if (spec.mode === 'bug') throw new RangeError('widget index 7 out of range');
  if (spec.mode === 'flaky' && n <= 2) throw new Error(`flaky attempt ${String(n)}`);
  obj.status ??= {};
  obj.status.echo = spec.msg ?? '';
  setCondition((obj.status.conditions ??= []), { type: 'Ready', status: 'True', reason: 'Reconciled', message: spec.msg ?? '' });
  return Promise.resolve(undefined);
};

/** A controller of the widgets labelled `kit=<group>`. */
async function run(group: string, options: { resyncPeriodMs?: number; ignoreStatusOnlyUpdates?: boolean }): Promise<void> {
  const informer = new Informer<Widget>(client, crd.resource, { namespace: ns.name, labelSelector: `kit=${group}` });
  const controller = new Controller<Widget>({
    name: `kit-test-${group}`,
    resource: crd.resource,
    client,
    informer,
    logger,
    recorder: new EventRecorder(client, { component: 'kit-test' }).record,
    reconcile,
    ...options,
  });
  informer.start();
  await informer.waitForSync(AbortSignal.timeout(30_000));
  controller.start();
  running.push({ informer, controller });
}

let auditFrom = 0;

beforeAll(async () => {
  auditFrom = await auditMark();
  crd = testCrd(admin);
  ns = await withNamespace('kit-controller');
  await crd.create();
  // Every cached object reconciled again every 200 ms, and on its own status writes: plenty of
  // chances to write needlessly.
  await run('steady', { resyncPeriodMs: 200 });
  // Reconciled only on spec changes: the number of calls is the number of attempts.
  await run('errors', { ignoreStatusOnlyUpdates: true });
});
afterAll(async () => {
  for (const r of running) {
    await r.controller.stop();
    await r.informer.stop();
  }
  await crd.remove();
  await ns.cleanup();
  client.close();
  admin.close();
});

const path = (name: string): string => objectPath(crd.resource, ns.name, name);
const get = (name: string): Promise<Widget> => admin.get<Widget>(path(name));
const create = (name: string, group: string, spec: Widget['spec']): Promise<Widget> =>
  admin.create<Widget>(collectionPath(crd.resource, ns.name), { apiVersion: `${crd.resource.group}/v1`, kind: crd.resource.kind, metadata: { name, labels: { kit: group } }, spec });
const ready = (w: Widget): { status: string; reason?: string; message?: string } | undefined => w.status?.conditions?.find((c) => c.type === 'Ready');
/** The status writes of the controller's client on `name`, from the audit log. */
const statusWrites = async (name: string): Promise<number> =>
  (await auditedRequests(AGENT, auditFrom)).filter((e) => e.stage === 'ResponseComplete' && e.verb === 'patch' && e.requestURI.startsWith(`${path(name)}/status`)).length;
const eventsAbout = async (w: KubeObject): Promise<(KubeObject & { reason?: string; type?: string; count?: number; message?: string; involvedObject?: { kind?: string } })[]> =>
  (await admin.list(`/api/v1/namespaces/${ns.name}/events`, { fieldSelector: `involvedObject.uid=${w.metadata?.uid ?? ''}` })).items;

describe('Controller', () => {
  it('writes status only when it changed, with observedGeneration', async () => {
    const created = await create('steady', 'steady', { mode: 'ok', msg: 'one' });
    const events: WatchEvent[] = [];
    const stopWatch = await admin.watch(
      collectionPath(crd.resource, ns.name),
      { fieldSelector: 'metadata.name=steady', resourceVersion: created.metadata?.resourceVersion },
      (e) => events.push(e),
      () => undefined,
    );
    const modified = (): number => events.filter((e) => e.type === 'MODIFIED').length;
    try {
      await eventually('steady Ready', async () => {
        const w = await get('steady');
        return w.status?.observedGeneration === 1 && ready(w)?.status === 'True' && w.status.echo === 'one';
      });
      const converged = await get('steady');
      const before = count('steady');
      await sleep(1200);
      // Reconciled again and again (resync, and its own status write's update event)...
      expect(count('steady')).toBeGreaterThanOrEqual(before + 3);
      // ...but written once: one status change, one MODIFIED. A reconcile that ran before its own
      // write reached the cache may send the same status again (a no-op for the API server, no
      // event): at most one such repeat, where writing regardless would be one per reconcile.
      expect(await statusWrites('steady')).toBeLessThanOrEqual(2);
      expect(modified()).toBe(1);
      expect((await get('steady')).metadata?.resourceVersion).toBe(converged.metadata?.resourceVersion);

      await admin.mergePatch(path('steady'), { spec: { msg: 'two' } });
      await eventually('steady sees two', async () => {
        const w = await get('steady');
        return w.status?.observedGeneration === 2 && w.status.echo === 'two' && ready(w)?.message === 'two';
      });
      const writes = await statusWrites('steady');
      await sleep(600);
      expect(await statusWrites('steady')).toBeLessThanOrEqual(writes + 1);
      // The spec change, then one status write.
      expect(modified()).toBe(3);
    } finally {
      stopWatch();
    }
  });

  it('marks a TerminalError Ready=False with its reason and a Warning Event, and does not retry it', async () => {
    const w = await create('broken', 'errors', { mode: 'terminal' });
    await eventually('broken marked', async () => ready(await get('broken'))?.reason === 'BadSpec' || undefined);
    const marked = await get('broken');
    expect(ready(marked)).toMatchObject({ status: 'False', reason: 'BadSpec', message: 'spec.mode says terminal' });
    expect(marked.status?.observedGeneration).toBe(1);
    const ev = await eventually('the Warning Event', async () => (await eventsAbout(w)).find((e) => e.reason === 'BadSpec'));
    expect(ev).toMatchObject({ type: 'Warning', message: 'spec.mode says terminal', involvedObject: { kind: crd.resource.kind } });

    // Not retried: one attempt, still one a second later (retries with backoff start at 5 ms).
    await sleep(1000);
    expect(count('broken')).toBe(1);
    expect(await statusWrites('broken')).toBe(1);

    // Not sticky: a fixed spec converges.
    await admin.mergePatch(path('broken'), { spec: { mode: 'ok', msg: 'fixed' } });
    await eventually('broken fixed', async () => ready(await get('broken'))?.status === 'True' || undefined);
  });

  it('treats a RangeError as a bug: Ready=False InternalError, not retried', async () => {
    await create('buggy', 'errors', { mode: 'bug' });
    await eventually('buggy marked', async () => ready(await get('buggy'))?.reason === 'InternalError' || undefined);
    expect(ready(await get('buggy'))).toMatchObject({ status: 'False', message: 'widget index 7 out of range' });
    await sleep(1000);
    expect(count('buggy')).toBe(1);
    expect(await statusWrites('buggy')).toBe(1);
  });

  it('retries any other error with backoff until it succeeds, recording it as a Warning', async () => {
    const w = await create('flaky', 'errors', { mode: 'flaky', msg: 'third time' });
    await eventually('flaky Ready', async () => ready(await get('flaky'))?.status === 'True' || undefined);
    expect(count('flaky')).toBe(3);
    const warnings = await eventually('two Warnings', async () => {
      const found = (await eventsAbout(w)).filter((e) => e.reason === 'ReconcileError');
      return found.length === 2 && found;
    });
    expect(warnings.map((e) => e.message).sort()).toEqual(['flaky attempt 1', 'flaky attempt 2']);
  });
});
