/**
 * applyOwned and deleteIfOwned against the real API server: a new child is created, an owned one
 * updated or left alone when its hash matches, a foreign one never touched, a rejected one
 * reported; only an owned child is deleted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withNamespace } from '@kubeless/stack';
import { applyOwned, controllerRef, deleteIfOwned, isNotFound, resourceFor, type KubeObject } from '../../src/index.js';
import { adminClient, auditMark, auditedRequests } from './kit.js';

const AGENT = 'kubeless-kit-test/apply';
const client = adminClient(AGENT);
const FIELD_MANAGER = 'kubeless-kit-test';
const HASH = 'kit.test.kubeless.io/spec-hash';
const CM = resourceFor('v1', 'ConfigMap');
let ns: { name: string; cleanup: () => Promise<void> };
let owner: KubeObject;

beforeAll(async () => {
  ns = await withNamespace('kit-apply');
  // The owner: any object with a uid (a ConfigMap here); garbage collection plays no part.
  owner = await client.create(`/api/v1/namespaces/${ns.name}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner' } });
});
afterAll(async () => {
  await ns.cleanup();
  client.close();
});

const path = (name: string): string => `/api/v1/namespaces/${ns.name}/configmaps/${name}`;
const child = (name: string, data: Record<string, string>, hash?: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: ns.name, ownerReferences: [controllerRef(owner)], ...(hash ? { annotations: { [HASH]: hash } } : {}) },
  data,
});
const options = { fieldManager: FIELD_MANAGER, ownerNoun: 'widget', hashAnnotation: HASH };
const patches = async (from: number, name: string): Promise<number> =>
  (await auditedRequests(AGENT, from)).filter((e) => e.verb === 'patch' && e.requestURI.startsWith(path(name))).length;

describe('applyOwned', () => {
  it('creates a new child and updates an owned one, with the field manager', async () => {
    expect(await applyOwned(client, owner, child('new', { v: '1' }), options)).toEqual({ result: 'applied' });
    expect(await applyOwned(client, owner, child('new', { v: '2' }), options)).toEqual({ result: 'applied' });
    const got = await client.get<KubeObject & { data?: Record<string, string> }>(path('new'));
    expect(got.data).toEqual({ v: '2' });
    const managed = (got.metadata?.managedFields ?? []) as { manager?: string; operation?: string }[];
    expect(managed.some((f) => f.manager === FIELD_MANAGER && f.operation === 'Apply')).toBe(true);
  });

  it('writes nothing when the owned child carries the desired hash, and applies when it differs', async () => {
    expect(await applyOwned(client, owner, child('hashed', { v: '1' }, 'h1'), options)).toEqual({ result: 'applied' });
    const mark = await auditMark();
    // The same hash: unchanged, even though the data differs (the hash stands for the whole spec).
    expect(await applyOwned(client, owner, child('hashed', { v: 'other' }, 'h1'), options)).toEqual({ result: 'unchanged' });
    expect((await client.get<KubeObject & { data?: Record<string, string> }>(path('hashed'))).data).toEqual({ v: '1' });
    expect(await applyOwned(client, owner, child('hashed', { v: '2' }, 'h2'), options)).toEqual({ result: 'applied' });
    expect((await client.get<KubeObject & { data?: Record<string, string> }>(path('hashed'))).data).toEqual({ v: '2' });
    expect(await patches(mark, 'hashed')).toBe(1);
  });

  it('looks in the cache first, and on a miss asks the API server', async () => {
    await applyOwned(client, owner, child('cached', { v: '1' }, 'h1'), options);
    const existing = await client.get(path('cached'));
    const seen: string[] = [];
    const cache = {
      get: (namespace: string | undefined, name: string): KubeObject | undefined => {
        seen.push(`${namespace ?? ''}/${name}`);
        return name === 'cached' ? existing : undefined;
      },
    };
    expect(await applyOwned(client, owner, child('cached', { v: '1' }, 'h1'), { ...options, cache })).toEqual({ result: 'unchanged' });
    expect(seen).toEqual([`${ns.name}/cached`]);
  });

  it('leaves a foreign object of the same name untouched and reports a conflict', async () => {
    await client.create(`/api/v1/namespaces/${ns.name}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'foreign' }, data: { mine: 'yes' } });
    // An empty cache: the foreign object (which a label-filtered cache would not hold) is found by a GET.
    const outcome = await applyOwned(client, owner, child('foreign', { v: '1' }), { ...options, cache: { get: () => undefined } });
    expect(outcome).toEqual({
      result: 'conflict',
      reason: 'ConfigMapConflict',
      message: 'a ConfigMap named "foreign" already exists and was not created by kubeless for this widget; it is left untouched',
    });
    const got = await client.get<KubeObject & { data?: Record<string, string> }>(path('foreign'));
    expect(got.data).toEqual({ mine: 'yes' });
    expect(got.metadata?.ownerReferences).toBeUndefined();
  });

  it('reports an object the API server rejects as invalid', async () => {
    const bad = child('bad', { v: '1' });
    bad.metadata = { ...bad.metadata, labels: { 'not a label': 'x' } };
    const outcome = await applyOwned(client, owner, bad, options);
    expect(outcome).toMatchObject({ result: 'invalid', reason: 'ConfigMapInvalid' });
    expect(outcome.result === 'invalid' && outcome.message).toMatch(/^the API server rejected the ConfigMap: .*422/u);
    await expect(client.get(path('bad'))).rejects.toSatisfy(isNotFound);
  });
});

describe('deleteIfOwned', () => {
  it('deletes an owned child, never a foreign one, and takes a child already gone as deleted', async () => {
    await applyOwned(client, owner, child('owned', { v: '1' }), options);
    await client.create(`/api/v1/namespaces/${ns.name}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'theirs' } });
    const owned = await client.get(path('owned'));
    const theirs = await client.get(path('theirs'));

    expect(await deleteIfOwned(client, owner, CM, theirs)).toBe(false);
    await expect(client.get(path('theirs'))).resolves.toBeDefined();

    expect(await deleteIfOwned(client, owner, CM, owned)).toBe(true);
    await expect(client.get(path('owned'))).rejects.toSatisfy(isNotFound);
    expect(await deleteIfOwned(client, owner, CM, owned)).toBe(true);
    expect(await deleteIfOwned(client, owner, CM, undefined)).toBe(false);
  });
});
