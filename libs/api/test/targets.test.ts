import { describe, expect, it } from 'vitest';
import { resolveDelivery, targetDeliveries, targetFunctions } from '../src/index.js';

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

describe('targetDeliveries', () => {
  const target = (name: string, timeout?: string) => ({ metadata: { name }, spec: timeout === undefined ? {} : { timeout } });
  const routedOut = (_ns: string, fn: string) => (fn.startsWith('ext') ? { reason: 'ServiceRoutesOutOfNamespace', message: `the Service of ${fn} is an ExternalName` } : undefined);

  it("each target with the trigger's delivery, timed out after its function's timeout by default", () => {
    const r = targetDeliveries({ delivery: { retry: 5 } }, [target('a', '20'), target('b')], 'team', undefined);
    expect(r).toEqual({
      targets: [
        { function: 'a', delivery: resolveDelivery({ retry: 5 }, 20_000) },
        { function: 'b', delivery: resolveDelivery({ retry: 5 }, 180_000) },
      ],
    });
  });

  it('activates every target when the trigger may scale its functions to zero (minReplicas 0), and only then', () => {
    expect(targetDeliveries({ autoscaling: { minReplicas: 0 } }, [target('a')], 'team', undefined).targets[0]?.activates).toBe(true);
    expect(targetDeliveries({ autoscaling: { minReplicas: 1 } }, [target('a')], 'team', undefined).targets[0]).not.toHaveProperty('activates');
  });

  it('skips a function whose Service routes out of the namespace: the first one is the FunctionsResolved problem, the others still run', () => {
    const r = targetDeliveries({}, [target('ext-1'), target('a'), target('ext-2')], 'team', routedOut);
    expect(r.targets.map((t) => t.function)).toEqual(['a']);
    expect(r.problem).toEqual({ condition: 'FunctionsResolved', reason: 'ServiceRoutesOutOfNamespace', message: 'the Service of ext-1 is an ExternalName' });
  });

  it('settings that do not parse: the Valid problem InvalidDelivery, and no target at all', () => {
    const r = targetDeliveries({ delivery: { backoffDelay: 'soon' } }, [target('a'), target('b')], 'team', undefined);
    expect(r.targets).toEqual([]);
    expect(r.problem).toMatchObject({ condition: 'Valid', reason: 'InvalidDelivery' });
  });
});
