import type { Condition, ConditionStatus } from '@kubeless/api';

/**
 * Sets a condition in `conditions` (in place). `lastTransitionTime` moves only when the status
 * flips (knative); reason and message update freely. Returns the list for chaining.
 */
export function setCondition(
  conditions: Condition[],
  update: { type: string; status: ConditionStatus; reason: string; message?: string; observedGeneration?: number },
  now: () => string = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
): Condition[] {
  const existing = conditions.find((c) => c.type === update.type);
  const next: Condition = {
    type: update.type,
    status: update.status,
    reason: update.reason,
    message: update.message ?? '',
    lastTransitionTime: existing?.status === update.status ? (existing.lastTransitionTime ?? now()) : now(),
  };
  if (update.observedGeneration !== undefined) next.observedGeneration = update.observedGeneration;
  if (existing) Object.assign(existing, next);
  else conditions.push(next);
  return conditions;
}

export function getCondition(conditions: Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isTrue(conditions: Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === 'True';
}

/**
 * Sets `Ready` from `dependents`: True when all are True; else the first False one's reason and
 * message (or Unknown when none is False but some are not True).
 */
export function summarise(conditions: Condition[], dependents: string[], readyReason = 'Ready', readyMessage = ''): Condition[] {
  const deps = dependents.map((t) => ({ type: t, c: getCondition(conditions, t) }));
  const failed = deps.find((d) => d.c?.status === 'False')?.c;
  if (failed) return setCondition(conditions, { type: 'Ready', status: 'False', reason: failed.reason ?? 'NotReady', message: failed.message ?? '' });
  const unknown = deps.find((d) => d.c?.status !== 'True');
  if (unknown) {
    return setCondition(conditions, {
      type: 'Ready',
      status: 'Unknown',
      reason: unknown.c?.reason ?? 'Reconciling',
      message: unknown.c?.message ?? `waiting for ${unknown.type}`,
    });
  }
  return setCondition(conditions, { type: 'Ready', status: 'True', reason: readyReason, message: readyMessage });
}

/**
 * Starts a trigger's status pass from its plan: `obj.status` (made when missing) with its
 * `conditions` (likewise), the plan's `functions`, and the Valid condition: False with the plan's
 * `Valid` problem, else True. Returns both, to be filled in place.
 */
export function statusFromPlan<S extends { functions?: string[] | undefined; conditions?: Condition[] | undefined }>(
  obj: { status?: S | undefined },
  plan: { functions: string[]; problem?: { condition: string; reason: string; message: string } | undefined },
): { status: S; conditions: Condition[] } {
  const status = (obj.status ??= {} as S);
  const conditions = (status.conditions ??= []);
  status.functions = plan.functions;
  const p = plan.problem;
  setCondition(conditions, p?.condition === 'Valid' ? { type: 'Valid', status: 'False', reason: p.reason, message: p.message } : { type: 'Valid', status: 'True', reason: 'Valid' });
  return { status, conditions };
}
