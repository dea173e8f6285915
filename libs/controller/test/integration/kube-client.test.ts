/**
 * KubeClient against the real API server: `list` follows `continue` tokens until the collection
 * is complete, and `watch` delivers events and resumes from a resourceVersion.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withNamespace } from '@kubeless/stack';
import type { KubeObject, WatchEvent } from '../../src/index.js';
import { adminClient, until } from './kit.js';

const client = adminClient('kubeless-kit-test/kube-client');
let ns: { name: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  ns = await withNamespace('kit-client');
});
afterAll(async () => {
  await ns.cleanup();
  client.close();
});

const cms = (): string => `/api/v1/namespaces/${ns.name}/configmaps`;

/** Creates ConfigMaps `prefix-0..n-1`, `parallel` at a time. */
async function createConfigMaps(prefix: string, n: number, labels: Record<string, string>, parallel = 16): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) {
        const i = next++;
        await client.create(cms(), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `${prefix}-${String(i)}`, labels }, data: { i: String(i) } });
      }
    }),
  );
}

describe('KubeClient', () => {
  it('lists every page of a collection larger than the page size (500)', async () => {
    const n = 510;
    await createConfigMaps('page', n, { kit: 'pages' });
    // The API server really pages this collection: one request returns at most `limit` and a token.
    const first = await client.request<{ items: unknown[]; metadata?: { continue?: string } }>('GET', cms(), { query: { labelSelector: 'kit=pages', limit: 500 } });
    expect(first.items).toHaveLength(500);
    expect(first.metadata?.continue).toBeTruthy();

    const all = await client.list(cms(), { labelSelector: 'kit=pages' });
    const names = new Set(all.items.map((o) => o.metadata?.name));
    expect(all.items).toHaveLength(n);
    expect(names.size).toBe(n);
    expect(names.has('page-0') && names.has(`page-${String(n - 1)}`)).toBe(true);
    expect(all.metadata?.continue ?? '').toBe('');
    expect(Number(all.metadata?.resourceVersion)).toBeGreaterThan(0);
  });

  it('watches: delivers ADDED, MODIFIED and DELETED in order, and resumes from a resourceVersion', async () => {
    const start = await client.list(cms(), { labelSelector: 'kit=watch' });
    const events: WatchEvent[] = [];
    let ended: unknown = 'open';
    const stop = await client.watch(cms(), { labelSelector: 'kit=watch', resourceVersion: start.metadata?.resourceVersion }, (e) => events.push(e), (err) => (ended = err));
    const path = `${cms()}/watched`;
    await client.create(cms(), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'watched', labels: { kit: 'watch' } }, data: { v: '1' } });
    const updated = await client.mergePatch<KubeObject>(path, { data: { v: '2' } });
    await client.delete(path);
    const seen = (): string[] => events.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type} ${String((e.object as { data?: { v?: string } }).data?.v)}`);
    await until('three events', () => seen().length >= 3, 15_000);
    expect(seen()).toEqual(['ADDED 1', 'MODIFIED 2', 'DELETED 2']);
    expect(ended).toBe('open');
    stop();

    // A second watch from the update's resourceVersion gets only what came after it.
    const replay: WatchEvent[] = [];
    const stop2 = await client.watch(cms(), { labelSelector: 'kit=watch', resourceVersion: updated.metadata?.resourceVersion }, (e) => replay.push(e), () => undefined);
    await until('the replayed delete', () => replay.some((e) => e.type === 'DELETED'), 15_000);
    stop2();
    expect(replay.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type} ${e.object.metadata?.name ?? ''}`)).toEqual(['DELETED watched']);
  });

  it('ends a watch with the server-side timeout, and reports an expired resourceVersion as an error event', async () => {
    // timeoutSeconds: the server closes the stream cleanly; onDone gets no error.
    const done = new Promise<unknown>((resolve) => {
      void client.watch(cms(), { labelSelector: 'kit=none', timeoutSeconds: 1 }, () => undefined, resolve);
    });
    expect(await done).toBeUndefined();

    // A resourceVersion older than the API server keeps: an ERROR event with a 410 Status.
    const errors: WatchEvent[] = [];
    const expired = new Promise<unknown>((resolve) => {
      void client.watch(cms(), { resourceVersion: '1' }, (e) => errors.push(e), resolve);
    });
    await until('an ERROR event', () => errors.some((e) => e.type === 'ERROR'), 15_000);
    expect(errors.find((e) => e.type === 'ERROR')?.object.code).toBe(410);
    expect(await expired).toBeUndefined();
  });
});
