import type { Condition } from '@kubeless/api';
import { describe, expect, it } from 'vitest';
import { canonical } from '../src/controller.js';
import { getCondition, setCondition, statusFromPlan, summarise } from '../src/conditions.js';

let t = 0;
const clock = (): string => `2026-01-01T00:00:${String(t).padStart(2, '0')}Z`;

describe('setCondition', () => {
  it('moves lastTransitionTime only when the status flips', () => {
    const c: Condition[] = [];
    t = 1;
    setCondition(c, { type: 'Ready', status: 'False', reason: 'Waiting' }, clock);
    t = 2;
    setCondition(c, { type: 'Ready', status: 'False', reason: 'StillWaiting', message: 'x' }, clock);
    expect(c).toEqual([{ type: 'Ready', status: 'False', reason: 'StillWaiting', message: 'x', lastTransitionTime: '2026-01-01T00:00:01Z' }]);
    t = 3;
    setCondition(c, { type: 'Ready', status: 'True', reason: 'Ready' }, clock);
    expect(getCondition(c, 'Ready')?.lastTransitionTime).toBe('2026-01-01T00:00:03Z');
  });
});

describe('summarise', () => {
  it('is True only when every dependent is True, else takes the first False reason', () => {
    const c: Condition[] = [];
    setCondition(c, { type: 'ConfigReady', status: 'True', reason: 'Applied' }, clock);
    setCondition(c, { type: 'DeploymentReady', status: 'False', reason: 'WaitingForReplicas', message: '0/1 ready' }, clock);
    summarise(c, ['ConfigReady', 'DeploymentReady']);
    expect(getCondition(c, 'Ready')).toMatchObject({ status: 'False', reason: 'WaitingForReplicas', message: '0/1 ready' });
    setCondition(c, { type: 'DeploymentReady', status: 'True', reason: 'Available' }, clock);
    summarise(c, ['ConfigReady', 'DeploymentReady'], 'Deployed');
    expect(getCondition(c, 'Ready')).toMatchObject({ status: 'True', reason: 'Deployed' });
  });

  it('is Unknown when a dependent has not been computed', () => {
    const c: Condition[] = [];
    setCondition(c, { type: 'ConfigReady', status: 'True', reason: 'Applied' }, clock);
    summarise(c, ['ConfigReady', 'ServiceReady']);
    expect(getCondition(c, 'Ready')?.status).toBe('Unknown');
  });
});

describe('canonical', () => {
  it('ignores key order, so a status re-built in another order is not a change', () => {
    expect(canonical({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } })).toBe(canonical({ a: { c: null, d: [1, { x: 1, y: 2 }] }, b: 1 }));
    expect(canonical({ a: [1, 2] })).not.toBe(canonical({ a: [2, 1] }));
  });
});

describe('statusFromPlan', () => {
  it('makes the status and its conditions when missing, with the functions and Valid True', () => {
    const t: { status?: { functions?: string[]; conditions?: Condition[] } } = {};
    const { status, conditions } = statusFromPlan(t, { functions: ['a', 'b'] });
    expect(t.status).toBe(status);
    expect(status.conditions).toBe(conditions);
    expect(status.functions).toEqual(['a', 'b']);
    expect(conditions).toMatchObject([{ type: 'Valid', status: 'True', reason: 'Valid', message: '' }]);
  });

  it("fills the existing status in place; Valid is False with the plan's Valid problem, and True again with any other", () => {
    const t = { status: { functions: ['old'], conditions: [] as Condition[], lag: 3 } };
    const before = t.status;
    statusFromPlan(t, { functions: [], problem: { condition: 'Valid', reason: 'NoTopic', message: 'spec.topic or spec.topics must name a topic' } });
    expect(t.status).toBe(before);
    expect(t.status).toMatchObject({ functions: [], lag: 3 });
    expect(getCondition(t.status.conditions, 'Valid')).toMatchObject({ status: 'False', reason: 'NoTopic', message: 'spec.topic or spec.topics must name a topic' });
    statusFromPlan(t, { functions: ['a'], problem: { condition: 'FunctionsResolved', reason: 'FunctionNotFound', message: 'm' } });
    expect(getCondition(t.status.conditions, 'Valid')).toMatchObject({ status: 'True', reason: 'Valid' });
    expect(t.status.conditions).toHaveLength(1);
  });
});
