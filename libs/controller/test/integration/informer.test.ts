/**
 * The Informer's supervision against the real API server: cut off through a proxy (connections
 * reset, then refused), it restarts on its backoff and resumes its watch from the resourceVersion it
 * had; when that resourceVersion has expired meanwhile (the kind was deleted and re-created, so
 * the API server's watch cache starts after it), the watch ends in a 410 Gone and it relists.
 * Checked on the cache and on the requests in the audit log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withNamespace } from '@kubeless/stack';
import { Informer, collectionPath, objectPath, type KubeObject } from '../../src/index.js';
import { ApiProxy, adminClient, auditMark, auditedRequests, sleep, testCrd, type TestCrd, until } from './kit.js';

const admin = adminClient('kubeless-kit-test/informer-admin');
const AGENT = `kubeless-kit-test/informer-${String(process.pid)}-${String(Date.now())}`;
const proxy = new ApiProxy();
let crd: TestCrd;
let ns: { name: string; cleanup: () => Promise<void> };
let informer: Informer;
const deleted: string[] = [];

let auditFrom = 0;

beforeAll(async () => {
  auditFrom = await auditMark();
  crd = testCrd(admin);
  ns = await withNamespace('kit-informer');
  await Promise.all([crd.create(), proxy.start()]);
  const client = adminClient(AGENT, proxy.kubeConfig());
  informer = new Informer(client, crd.resource, { namespace: ns.name, minBackoffMs: 100, maxBackoffMs: 1000 });
  informer.on('delete', (o) => deleted.push(o.metadata?.name ?? ''));
});
afterAll(async () => {
  await informer.stop();
  await proxy.stop();
  await crd.remove();
  await ns.cleanup();
  admin.close();
});

const create = (name: string): Promise<KubeObject> =>
  admin.create(collectionPath(crd.resource, ns.name), { apiVersion: `${crd.resource.group}/v1`, kind: crd.resource.kind, metadata: { name }, spec: { n: name } });
const cached = (): string[] =>
  informer
    .list(ns.name)
    .map((o) => o.metadata?.name ?? '')
    .sort();
const listsSince = async (iso: string): Promise<number> =>
  (await auditedRequests(AGENT, auditFrom)).filter((e) => e.verb === 'list' && e.stage === 'ResponseComplete' && e.requestReceivedTimestamp >= iso).length;

describe('Informer', () => {
  it('restarts after a connection error and resumes its watch from its resourceVersion (no relist)', async () => {
    await create('before');
    informer.start();
    await informer.waitForSync(AbortSignal.timeout(30_000));
    expect(cached()).toEqual(['before']);

    await proxy.stop();
    // While it is cut off (its watch reset, its reconnects refused), the world changes.
    await create('during');
    await admin.delete(objectPath(crd.resource, ns.name, 'before'));
    await sleep(800);
    expect(cached()).toEqual(['before']);
    const back = new Date().toISOString();
    await proxy.start();

    await until('the cache catches up', () => cached().join() === 'during', 20_000);
    expect(deleted).toEqual(['before']);
    expect(informer.synced).toBe(true);
    // It watches on: a later change arrives too.
    await create('after');
    await until('a change after the restart', () => cached().join() === 'after,during', 10_000);
    // Caught up by the watch from the old resourceVersion, not by listing again.
    expect(await listsSince(back)).toBe(0);
  });

  it('backs off exponentially while its watch keeps failing', async () => {
    // Every connection is reset at once: each restart is one connection (a watch from its
    // resourceVersion). Backoff 100 ms doubling to 1 s: about 5 attempts in 2.5 s, not 20 or more.
    proxy.rejecting = true;
    await proxy.stop();
    await proxy.start();
    await sleep(500);
    const from = proxy.connections;
    await sleep(2500);
    const attempts = proxy.connections - from;
    proxy.rejecting = false;
    expect(attempts).toBeGreaterThanOrEqual(1);
    expect(attempts).toBeLessThanOrEqual(8);
    // And it still recovers.
    await create('later');
    await until('recovered', () => cached().join() === 'after,during,later', 20_000);
  });

  it('relists after a 410 Gone: its resourceVersion expired while it was cut off', async () => {
    await proxy.stop();
    // A re-created kind gets a new watch cache that starts now: the informer's resourceVersion is
    // older than anything it holds.
    await crd.remove();
    await crd.create();
    await create('fresh');
    const back = new Date().toISOString();
    await proxy.start();

    await until('the cache holds only the new object', () => cached().join() === 'fresh', 20_000);
    expect(deleted.slice(1).sort()).toEqual(['after', 'during', 'later']);
    expect(await listsSince(back)).toBeGreaterThanOrEqual(1);
    expect(informer.synced).toBe(true);
  });
});
