import type { AutoscalingStatus, Condition } from '@kubeless/api';
import { describe, expect, it } from 'vitest';
import { CooldownWindow, autoscaleTrigger, desiredReplicas, type FunctionScaler } from '../src/scaler.js';

const policy = { minReplicas: 1, maxReplicas: 4, targetPerReplica: 10 };

describe('desiredReplicas', () => {
  it.each([
    [0, policy, 1],
    [1, policy, 1],
    [10, policy, 1],
    [11, policy, 2],
    [35, policy, 4],
    [20_000, policy, 4],
    // Scale to zero, and any load at all activates one replica.
    [0, { ...policy, minReplicas: 0 }, 0],
    [1, { ...policy, minReplicas: 0 }, 1],
    [0.4, { ...policy, minReplicas: 0 }, 1],
    // The minimum holds under no load and under some.
    [0, { ...policy, minReplicas: 3 }, 3],
    [15, { ...policy, minReplicas: 3 }, 3],
    // A NaN or negative metric (nothing measured) asks for the minimum.
    [Number.NaN, { ...policy, minReplicas: 0 }, 0],
    [-5, policy, 1],
  ])('metric %d with %o asks for %d', (metric, p, want) => {
    expect(desiredReplicas(metric, p)).toBe(want);
  });
});

describe('CooldownWindow', () => {
  const COOL = 60_000;

  it('goes up at once and down only after the load asked for less during a whole cool-down', () => {
    const w = new CooldownWindow();
    // First sight: the current 1 counts as asked for now.
    expect(w.recommend('k', 0, 4, 1, COOL)).toBe(4);
    expect(w.recommend('k', 10_000, 1, 4, COOL)).toBe(4);
    expect(w.recommend('k', 59_000, 1, 4, COOL)).toBe(4);
    // 60 s after the last sample that asked for 4 (at 0 s), only the 1s are left.
    expect(w.recommend('k', 60_000, 1, 4, COOL)).toBe(4);
    expect(w.recommend('k', 70_001, 1, 4, COOL)).toBe(1);
  });

  it('a new leader holds the replicas it found for a cool-down before it scales them down', () => {
    const w = new CooldownWindow();
    expect(w.recommend('k', 0, 0, 3, COOL)).toBe(3);
    expect(w.recommend('k', 30_000, 0, 3, COOL)).toBe(3);
    expect(w.recommend('k', 60_001, 0, 3, COOL)).toBe(0);
  });

  it('a burst inside the window holds the replicas from then on, and each key is its own', () => {
    const w = new CooldownWindow();
    w.recommend('a', 0, 1, 1, COOL);
    w.recommend('b', 0, 1, 1, COOL);
    expect(w.recommend('a', 100_000, 3, 1, COOL)).toBe(3);
    expect(w.recommend('b', 100_000, 1, 1, COOL)).toBe(1);
    // A sample holds until the next one: the 3 asked at 100 s stood until 150 s.
    expect(w.recommend('a', 150_000, 1, 3, COOL)).toBe(3);
    expect(w.recommend('a', 170_000, 1, 3, COOL)).toBe(3);
    expect(w.recommend('a', 210_001, 1, 3, COOL)).toBe(1);
  });

  it('forgets keys it is not told to retain: they start again from their current replicas', () => {
    const w = new CooldownWindow();
    w.recommend('a', 0, 4, 1, COOL);
    w.retain(new Set(['b']));
    expect(w.recommend('a', 1000, 0, 2, COOL)).toBe(2);
  });
});

describe('autoscaleTrigger', () => {
  const scaled: AutoscalingStatus[] = [{ function: 'f', replicas: 2, desiredReplicas: 2, metric: 15 }];
  /** A scaler that records what it was asked and answers `scaled` (FunctionScaler's own logic is tested against the stack). */
  const recording = () => {
    const calls: unknown[] = [];
    const scaler = {
      scaleAll: (a: unknown) => {
        calls.push(a);
        return Promise.resolve({ status: scaled, condition: { type: 'Autoscaling', status: 'True' as const, reason: 'Scaling', message: 'f: 2 replica(s)' } });
      },
    } as unknown as FunctionScaler;
    return { scaler, calls };
  };
  const trigger = (autoscaling?: { maxReplicas: number; pollingInterval?: string }) => ({ metadata: { namespace: 'team', name: 't' }, spec: { autoscaling } });
  const stale = (): { autoscaling?: AutoscalingStatus[]; conditions: Condition[] } => ({
    autoscaling: scaled,
    conditions: [
      { type: 'Valid', status: 'True', reason: 'Valid' },
      { type: 'Autoscaling', status: 'True', reason: 'Scaling' },
    ],
  });

  it('without spec.autoscaling: drops status.autoscaling and the Autoscaling condition (in place), scales nothing, and looks again after intervalMs', async () => {
    const { scaler, calls } = recording();
    const status = stale();
    const conditions = status.conditions;
    expect(await autoscaleTrigger({ scaler, trigger: trigger(), status, defaultTarget: 10, loads: [{ fn: 'f', metric: 15 }], intervalMs: 10_000 })).toBe(10_000);
    expect(calls).toEqual([]);
    expect(status.autoscaling).toBeUndefined();
    expect(status.conditions).toBe(conditions);
    expect(status.conditions.map((c) => c.type)).toEqual(['Valid']);
  });

  it('without a scaler: the same, even when the trigger asks for autoscaling', async () => {
    const status = stale();
    expect(await autoscaleTrigger({ scaler: undefined, trigger: trigger({ maxReplicas: 3 }), status, defaultTarget: 10, loads: [], intervalMs: 10_000 })).toBe(10_000);
    expect(status.autoscaling).toBeUndefined();
    expect(status.conditions.map((c) => c.type)).toEqual(['Valid']);
  });

  it("with both: scales on the loads with the kind's default target, writes status and condition, and looks again at the sooner of intervalMs and the polling interval", async () => {
    const { scaler, calls } = recording();
    const status: { autoscaling?: AutoscalingStatus[]; conditions?: Condition[] } = {};
    const loads = [{ fn: 'f', metric: 15 }];
    expect(await autoscaleTrigger({ scaler, trigger: trigger({ maxReplicas: 3 }), status, defaultTarget: 5, loads, intervalMs: 10_000 })).toBe(5000);
    expect(calls).toEqual([{ namespace: 'team', trigger: 't', policy: { minReplicas: 1, maxReplicas: 3, targetPerReplica: 5, cooldownMs: 300_000, pollingIntervalMs: 5000 }, loads, previous: undefined }]);
    expect(status.autoscaling).toEqual(scaled);
    expect(status.conditions).toMatchObject([{ type: 'Autoscaling', status: 'True', reason: 'Scaling', message: 'f: 2 replica(s)' }]);
    expect(await autoscaleTrigger({ scaler, trigger: trigger({ maxReplicas: 3, pollingInterval: '30s' }), status, defaultTarget: 5, loads, intervalMs: 10_000 })).toBe(10_000);
    expect(calls[1]).toMatchObject({ previous: scaled });
  });
});
