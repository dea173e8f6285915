/**
 * What `--wait` makes of an object's status: ready, failed (with the reason to print) or still
 * pending. Pure. A `Ready` condition counts only once the controller has observed the object's
 * current generation; `False` with a reason that names progress (`Waiting...`, `Progressing`,
 * `Pending`, `Reconciling`) is still pending, and so is `ReplicaFailure` (pods refused at creation:
 * often transient, e.g. a new namespace whose default ServiceAccount is not made yet, or a quota;
 * `kubectl rollout status` waits on it too, and the timeout message carries it); any other `False`
 * is a failure.
 */
import type { Condition } from '@kubeless/api';

export interface Readiness {
  state: 'ready' | 'failed' | 'pending';
  reason: string;
  message: string;
}

interface WithStatus {
  metadata?: { generation?: number };
  status?: { observedGeneration?: number; conditions?: Condition[] };
}

const PROGRESS = /^(Waiting|Progressing|Pending|Reconciling|Unknown|Creating|Starting|Rolling|ReplicaFailure)/;

export function readiness(obj: WithStatus): Readiness {
  const generation = obj.metadata?.generation ?? 0;
  const observed = obj.status?.observedGeneration;
  const ready = obj.status?.conditions?.find((c) => c.type === 'Ready');
  if (!ready) return { state: 'pending', reason: 'NoStatus', message: 'waiting for the controller' };
  const current = observed === undefined ? (ready.observedGeneration ?? 0) >= generation : observed >= generation;
  const reason = ready.reason ?? '';
  const message = ready.message ?? '';
  if (!current) return { state: 'pending', reason: 'NotObserved', message: 'waiting for the controller to see the change' };
  if (ready.status === 'True') return { state: 'ready', reason, message };
  if (ready.status === 'False' && !PROGRESS.test(reason)) return { state: 'failed', reason, message };
  return { state: 'pending', reason, message };
}
