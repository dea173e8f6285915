/**
 * The API group, version and the shared object shapes of every kubeless.io kind.
 * Field names follow Kubernetes conventions; nothing here depends on a client library.
 */
export const GROUP = 'kubeless.io';
export const VERSION = 'v1beta1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** The subset of ObjectMeta that kubeless reads and writes. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** A status condition as in metav1.Condition; `Ready` summarises every kind. */
export interface Condition {
  type: string;
  status: ConditionStatus;
  /** CamelCase, machine-readable. */
  reason?: string;
  message?: string;
  /** RFC 3339; moves only when `status` flips. */
  lastTransitionTime?: string;
  observedGeneration?: number;
}

/** Status fields every kind carries. */
export interface CommonStatus {
  observedGeneration?: number;
  conditions?: Condition[];
}

/** metav1.LabelSelector */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

/** A namespaced kubeless.io object. */
export interface KubelessObject<K extends string, Spec, Status> {
  apiVersion: typeof API_VERSION;
  kind: K;
  metadata: ObjectMeta;
  spec: Spec;
  status?: Status;
}

/**
 * True when `labels` satisfy `selector` (metav1.LabelSelector semantics: every matchLabels pair
 * and every expression). An empty selector matches everything; callers that must not fan out to
 * a whole namespace check for emptiness themselves.
 */
export function matchesSelector(selector: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(l, e.key);
    const value = l[e.key];
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        if (!has || !values.includes(value ?? '')) return false;
        break;
      case 'NotIn':
        if (has && values.includes(value ?? '')) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** True when a selector has no requirement at all. */
export const isEmptySelector = (s: LabelSelector | undefined): boolean =>
  !s || (Object.keys(s.matchLabels ?? {}).length === 0 && (s.matchExpressions ?? []).length === 0);

/** A function a trigger may target: its namespace, name, labels and whether it is being deleted. */
interface Targetable {
  metadata: { name?: string; namespace?: string; labels?: Record<string, string>; deletionTimestamp?: string };
}

/**
 * Pure: the functions an event trigger (Kafka, SQS) delivers to, sorted by name: the one named by
 * `functionName`, else every one `functionSelector` matches, among the live functions of
 * `namespace`. None gives the FunctionsResolved problem to report (FunctionNotFound,
 * NoFunctionsMatched).
 */
export function targetFunctions<F extends Targetable>(
  spec: { functionName?: string; functionSelector?: LabelSelector },
  functions: readonly F[],
  namespace: string,
): { targets: F[]; problem?: { condition: 'FunctionsResolved'; reason: string; message: string } } {
  const live = functions.filter((f) => !f.metadata.deletionTimestamp && (f.metadata.namespace ?? '') === namespace);
  const byName = (a: F, b: F): number => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');
  if (spec.functionName) {
    const targets = live.filter((f) => f.metadata.name === spec.functionName);
    return targets.length > 0 ? { targets } : { targets, problem: { condition: 'FunctionsResolved', reason: 'FunctionNotFound', message: `function ${spec.functionName} does not exist in namespace ${namespace}` } };
  }
  const selector = spec.functionSelector ?? {};
  const targets = live.filter((f) => matchesSelector(selector, f.metadata.labels)).sort(byName);
  return targets.length > 0
    ? { targets }
    : { targets, problem: { condition: 'FunctionsResolved', reason: 'NoFunctionsMatched', message: `no function in namespace ${namespace} matches the selector ${JSON.stringify(selector)}` } };
}
