import { describe, expect, it } from 'vitest';
import { ownerWatches } from '../src/controller.js';
import type { Informer } from '../src/informer.js';
import type { KubeObject } from '../src/kube-client.js';

const child = (namespace: string, refs: { kind: string; name: string; controller?: boolean }[]): KubeObject => ({
  metadata: { namespace, name: 'child', ownerReferences: refs.map((r) => ({ apiVersion: 'kubeless.io/v1beta1', uid: `uid-${r.name}`, ...r })) },
});

describe('ownerWatches', () => {
  const sources = [{ id: 1 }, { id: 2 }] as unknown as Informer[];

  it('one watch per source, each mapping a child to the key of its controller owner of that kind', () => {
    const watches = ownerWatches('Function', sources);
    expect(watches.map((w) => w.informer)).toEqual(sources);
    expect(watches[0]?.map(child('team', [{ kind: 'Function', name: 'f', controller: true }]))).toEqual(['team/f']);
  });

  it('concerns nobody for a child without a controller reference of that kind (another kind, or a plain owner)', () => {
    const [w] = ownerWatches('HTTPTrigger', sources);
    expect(w?.map(child('team', [{ kind: 'Function', name: 'f', controller: true }]))).toEqual([]);
    expect(w?.map(child('team', [{ kind: 'HTTPTrigger', name: 't' }]))).toEqual([]);
    expect(w?.map({ metadata: { namespace: 'team', name: 'orphan' } })).toEqual([]);
  });
});
