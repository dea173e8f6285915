import { describe, expect, it } from 'vitest';
import { targetFunctions } from '../src/index.js';

const fn = (name: string, namespace = 'team', labels: Record<string, string> = {}, deleting = false) => ({
  metadata: { name, namespace, labels, ...(deleting ? { deletionTimestamp: '2026-12-05T00:00:00Z' } : {}) },
});
const fns = [fn('b', 'team', { app: 'x' }), fn('a', 'team', { app: 'x' }), fn('c', 'team', { app: 'y' }), fn('a', 'other', { app: 'x' }), fn('d', 'team', { app: 'x' }, true)];
const names = (r: ReturnType<typeof targetFunctions>): string[] => r.targets.map((f) => f.metadata.name ?? '');

describe('targetFunctions', () => {
  it('by name: the live function of that name in the namespace, or FunctionNotFound', () => {
    expect(names(targetFunctions({ functionName: 'a' }, fns, 'team'))).toEqual(['a']);
    expect(targetFunctions({ functionName: 'd' }, fns, 'team').problem).toMatchObject({ condition: 'FunctionsResolved', reason: 'FunctionNotFound', message: 'function d does not exist in namespace team' });
  });

  it('by selector: the live matches of the namespace sorted by name, or NoFunctionsMatched', () => {
    const r = targetFunctions({ functionSelector: { matchLabels: { app: 'x' } } }, fns, 'team');
    expect(names(r)).toEqual(['a', 'b']);
    expect(r.problem).toBeUndefined();
    expect(targetFunctions({ functionSelector: { matchLabels: { app: 'z' } } }, fns, 'team').problem?.reason).toBe('NoFunctionsMatched');
  });

  it('an empty name falls back to the selector (the original CLI wrote unset names as "")', () => {
    expect(names(targetFunctions({ functionName: '', functionSelector: { matchLabels: { app: 'y' } } }, fns, 'team'))).toEqual(['c']);
  });
});
