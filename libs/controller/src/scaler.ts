/**
 * Event-driven autoscaling of a function's Deployment, as KEDA's ScaledObject does it but from
 * inside the trigger controller that already measures the load (Kafka lag, SQS depth): the pure
 * part (`desiredReplicas`, `CooldownWindow`) decides, `FunctionScaler` observes the Deployment and
 * writes its scale subresource.
 *
 * One owner of replicas at a time: a function whose Deployment an HorizontalPodAutoscaler targets,
 * or whose replicas another trigger's scaler set last, is left alone and the reason is returned for
 * status (a trigger of the same kind that no longer autoscales the function gives them up). Only a Deployment that a Function of that name controls is ever
 * scaled (a trigger cannot scale any other Deployment of its namespace through the controller).
 */
import { resolveAutoscaling, type AutoscalingSpec, type AutoscalingStatus, type Condition, type ResolvedAutoscaling } from '@kubeless/api';
import { setCondition } from './conditions.js';
import { isConflict, isInvalid, isNotFound } from './errors.js';
import type { KubeClient, KubeObject } from './kube-client.js';

/**
 * Pure: the replicas `metric` (lag or depth) asks for: `ceil(metric / targetPerReplica)` within
 * [minReplicas, maxReplicas]; any load at all asks for at least one (the activation from zero).
 */
export function desiredReplicas(metric: number, p: Pick<ResolvedAutoscaling, 'minReplicas' | 'maxReplicas' | 'targetPerReplica'>): number {
  if (!(metric > 0)) return Math.min(p.minReplicas, p.maxReplicas);
  const wanted = Math.ceil(metric / p.targetPerReplica);
  return Math.min(p.maxReplicas, Math.max(p.minReplicas, 1, wanted));
}

/**
 * The cool-down, per key: replicas go up at once and down only to the most that the load asked for
 * over the last `cooldownMs` (the HPA's scale-down stabilization window). A key first seen counts
 * its current replicas as asked for at that moment, so a new leader does not scale down before it
 * watched the load for a whole cool-down.
 */
export class CooldownWindow {
  readonly #samples = new Map<string, { at: number; desired: number }[]>();

  /** Records what the load asks for now and returns the replicas to have. */
  recommend(key: string, now: number, desired: number, current: number, cooldownMs: number): number {
    let samples = this.#samples.get(key);
    if (!samples) {
      samples = [{ at: now, desired: current }];
      this.#samples.set(key, samples);
    }
    samples.push({ at: now, desired });
    // Keep the newest sample at or before the window's start: it held until the next one.
    while (samples.length > 1 && (samples[1]?.at ?? now) <= now - cooldownMs) samples.shift();
    return samples.reduce((m, s) => Math.max(m, s.desired), 0);
  }

  /** Forgets keys not in `live` (deleted triggers, functions no longer selected). */
  retain(live: ReadonlySet<string>): void {
    for (const k of this.#samples.keys()) if (!live.has(k)) this.#samples.delete(k);
  }
}

/** Why a function is not scaled (status: the Autoscaling condition's reason and message). */
export interface ScaleProblem {
  reason: 'DeploymentNotFound' | 'NotAFunctionDeployment' | 'HorizontalPodAutoscalerConflict' | 'ScaledByAnotherTrigger' | 'ScaleFailed';
  message: string;
}

export interface ScaleOutcome {
  status: AutoscalingStatus;
  problem?: ScaleProblem | undefined;
  /** The replicas were changed by this call. */
  scaled: boolean;
}

interface Deployment extends KubeObject {
  spec?: { replicas?: number };
}
interface ManagedFieldsEntry {
  manager?: string;
  subresource?: string;
  fieldsV1?: { 'f:spec'?: Record<string, unknown> };
}
interface Hpa extends KubeObject {
  spec?: { scaleTargetRef?: { kind?: string; name?: string; apiVersion?: string } };
}

/** Field managers of the trigger scalers: `kubeless-scaler/<kind>/<trigger>` (at most 128 characters). */
const MANAGER_PREFIX = 'kubeless-scaler/';

export interface FunctionScalerOptions {
  client: KubeClient;
  /** The trigger kind, lower case (`kafkatrigger`, `sqstrigger`): part of the field manager. */
  kind: string;
  /**
   * Whether trigger `trigger` of this kind (in `namespace`) still autoscales function `fn`: when it
   * does not, the replicas it last set are free to take. Without it, another trigger's are never taken.
   */
  autoscales?: (namespace: string, trigger: string, fn: string) => boolean;
  now?: () => number;
}

/**
 * Scales functions for the triggers of one kind. `scale` observes the Deployment, checks who owns
 * its replicas, applies the cool-down and writes the scale subresource when the count changes
 * (with the Deployment's uid as a precondition, so only the object checked is scaled).
 */
export class FunctionScaler {
  readonly #o: FunctionScalerOptions;
  readonly #window = new CooldownWindow();
  readonly #lastScale = new Map<string, string>();

  constructor(o: FunctionScalerOptions) {
    this.#o = o;
  }

  #manager(trigger: string): string {
    return `${MANAGER_PREFIX}${this.#o.kind}/${trigger}`.slice(0, 128);
  }

  async scale(a: { namespace: string; trigger: string; fn: string; metric: number; policy: ResolvedAutoscaling }): Promise<ScaleOutcome> {
    const { client } = this.#o;
    const now = (this.#o.now ?? Date.now)();
    const key = `${a.namespace}/${a.trigger}/${a.fn}`;
    const desired = desiredReplicas(a.metric, a.policy);
    const lastScaleTime = this.#lastScale.get(key);
    const status = (replicas: number): AutoscalingStatus => ({ function: a.fn, replicas, desiredReplicas: desired, metric: Math.max(0, Math.round(a.metric)), ...(lastScaleTime ? { lastScaleTime } : {}) });
    const deployPath = `/apis/apps/v1/namespaces/${a.namespace}/deployments/${a.fn}`;
    let d: Deployment;
    try {
      d = await client.get<Deployment>(deployPath);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      return { status: status(0), scaled: false, problem: { reason: 'DeploymentNotFound', message: `function ${a.fn} has no Deployment yet` } };
    }
    const current = d.spec?.replicas ?? 1;
    const controller = d.metadata?.ownerReferences?.find((r) => r.controller === true);
    if (controller?.kind !== 'Function' || controller.name !== a.fn || !controller.apiVersion.startsWith('kubeless.io/')) {
      return { status: status(current), scaled: false, problem: { reason: 'NotAFunctionDeployment', message: `Deployment ${a.fn} is not controlled by Function ${a.fn}: not scaled` } };
    }
    const hpas = await client.list<Hpa>(`/apis/autoscaling/v2/namespaces/${a.namespace}/horizontalpodautoscalers`);
    const hpa = hpas.items.find((h) => h.spec?.scaleTargetRef?.kind === 'Deployment' && h.spec.scaleTargetRef.name === a.fn);
    if (hpa) {
      return { status: status(current), scaled: false, problem: { reason: 'HorizontalPodAutoscalerConflict', message: `HorizontalPodAutoscaler ${hpa.metadata?.name ?? ''} scales Deployment ${a.fn}: one owner of replicas at a time, the trigger leaves them to it` } };
    }
    const mine = this.#manager(a.trigger);
    // The field manager that last wrote the replicas owns them (the API server moves the ownership
    // on every write; the scale subresource's entries carry no time). Another trigger's scaler keeps
    // them while it lives; one of this kind that no longer autoscales gives them up.
    const other = (d.metadata?.managedFields as ManagedFieldsEntry[] | undefined)?.find(
      (m) => m.manager?.startsWith(MANAGER_PREFIX) === true && m.manager !== mine && m.fieldsV1?.['f:spec']?.['f:replicas'] !== undefined,
    );
    const owner = other?.manager?.slice(MANAGER_PREFIX.length);
    const [ownerKind, ownerTrigger] = owner?.split('/') ?? [];
    const gone = ownerKind === this.#o.kind && ownerTrigger !== undefined && this.#o.autoscales !== undefined && !this.#o.autoscales(a.namespace, ownerTrigger, a.fn);
    if (owner && !gone) {
      return {
        status: status(current),
        scaled: false,
        problem: { reason: 'ScaledByAnotherTrigger', message: `the replicas of ${a.fn} are scaled by ${owner}: one owner of replicas at a time (remove its autoscaling, or this trigger's)${ownerKind === this.#o.kind ? '' : `; once it stops, scale the Deployment once by hand to hand them over`}` },
      };
    }
    const target = Math.min(a.policy.maxReplicas, Math.max(a.policy.minReplicas, this.#window.recommend(key, now, desired, current, a.policy.cooldownMs)));
    if (target === current) return { status: status(current), scaled: false };
    try {
      // Only the object checked above: a Deployment deleted and made again since has another uid.
      await client.request<KubeObject>('PATCH', `${deployPath}/scale`, {
        body: [
          { op: 'test', path: '/metadata/uid', value: d.metadata?.uid },
          { op: 'replace', path: '/spec/replicas', value: target },
        ],
        contentType: 'application/json-patch+json',
        query: { fieldManager: mine },
      });
    } catch (err) {
      if (!isConflict(err) && !isInvalid(err) && !isNotFound(err)) throw err;
      return { status: status(current), scaled: false, problem: { reason: 'ScaleFailed', message: `Deployment ${a.fn} changed while it was scaled (${err instanceof Error ? err.message : String(err)}); retried at the next poll` } };
    }
    const at = new Date(now).toISOString();
    this.#lastScale.set(key, at);
    return { status: { ...status(target), lastScaleTime: at }, scaled: true };
  }

  /**
   * Scales every target function of one trigger on its own load and sums it up for status: the
   * per-function entries (keeping a previous `lastScaleTime` a new leader does not know) and the
   * `Autoscaling` condition (True while every function is scaled; False with the first problem).
   * An API error of one function (say a missing permission) is that function's problem, not the
   * reconcile's.
   */
  async scaleAll(a: { namespace: string; trigger: string; policy: ResolvedAutoscaling; loads: { fn: string; metric: number }[]; previous?: AutoscalingStatus[] | undefined }): Promise<{ status: AutoscalingStatus[]; condition: Condition & { reason: string } }> {
    const outcomes = await Promise.all(
      a.loads.map(async (l): Promise<ScaleOutcome> => {
        try {
          return await this.scale({ namespace: a.namespace, trigger: a.trigger, fn: l.fn, metric: l.metric, policy: a.policy });
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          return { status: { function: l.fn, replicas: 0, desiredReplicas: desiredReplicas(l.metric, a.policy), metric: Math.max(0, Math.round(l.metric)) }, scaled: false, problem: { reason: 'ScaleFailed', message: `function ${l.fn}: ${message}` } };
        }
      }),
    );
    const status = outcomes.map((o) => {
      const before = a.previous?.find((p) => p.function === o.status.function)?.lastScaleTime;
      return o.status.lastScaleTime === undefined && before !== undefined ? { ...o.status, lastScaleTime: before } : o.status;
    });
    const problems = outcomes.flatMap((o) => (o.problem ? [o.problem] : []));
    const first = problems[0];
    const condition: Condition & { reason: string } = first
      ? { type: 'Autoscaling', status: 'False', reason: first.reason, message: problems.map((p) => p.message).join('; ') }
      : {
          type: 'Autoscaling',
          status: 'True',
          reason: 'Scaling',
          message: status.map((x) => `${x.function}: ${String(x.replicas)} replica(s) for ${String(x.metric)} (between ${String(a.policy.minReplicas)} and ${String(a.policy.maxReplicas)})`).join('; ') || 'no function to scale',
        };
    return { status, condition };
  }

  /** Forgets the cool-down of keys (`namespace/trigger/function`) no longer scaled. */
  retain(live: ReadonlySet<string>): void {
    this.#window.retain(live);
    for (const k of this.#lastScale.keys()) if (!live.has(k)) this.#lastScale.delete(k);
  }
}

/**
 * `FunctionScalerOptions.autoscales` from the cache of a trigger kind: the trigger exists, has
 * `spec.autoscaling`, and targets the function (by name, or among the functions its status lists).
 */
export function autoscalesIn(triggers: { get(namespace: string | undefined, name: string): (KubeObject & { spec?: { autoscaling?: unknown; functionName?: string }; status?: { functions?: string[] } }) | undefined }): (namespace: string, trigger: string, fn: string) => boolean {
  return (namespace, trigger, fn) => {
    const t = triggers.get(namespace, trigger);
    return t?.spec?.autoscaling !== undefined && (t.spec.functionName === fn || (t.status?.functions ?? []).includes(fn));
  };
}

/**
 * The autoscaling part of an event trigger's status pass (KafkaTrigger, SQSTrigger). With
 * `spec.autoscaling` and a scaler: scales each function on its load (`scaleAll`, the kind's
 * `defaultTarget` load per replica unless the trigger sets one), sets `status.autoscaling` and
 * the Autoscaling condition, and returns the sooner of `intervalMs` and the polling interval (when
 * to look again). Otherwise: removes both and returns `intervalMs`. Throws what `scaleAll` throws
 * and a RangeError for a duration that does not parse.
 */
export async function autoscaleTrigger(o: {
  scaler: FunctionScaler | undefined;
  trigger: KubeObject & { spec: { autoscaling?: AutoscalingSpec | undefined } };
  /** The status being written; its `conditions` are changed in place. */
  status: { autoscaling?: AutoscalingStatus[] | undefined; conditions?: Condition[] | undefined };
  defaultTarget: number;
  loads: { fn: string; metric: number }[];
  intervalMs: number;
}): Promise<number> {
  const conditions = (o.status.conditions ??= []);
  const spec = o.trigger.spec.autoscaling;
  if (!spec || !o.scaler) {
    delete o.status.autoscaling;
    for (let i = conditions.length - 1; i >= 0; i--) if (conditions[i]?.type === 'Autoscaling') conditions.splice(i, 1);
    return o.intervalMs;
  }
  const policy = resolveAutoscaling(spec, o.defaultTarget);
  const scaled = await o.scaler.scaleAll({ namespace: o.trigger.metadata?.namespace ?? '', trigger: o.trigger.metadata?.name ?? '', policy, loads: o.loads, previous: o.status.autoscaling });
  o.status.autoscaling = scaled.status;
  setCondition(conditions, scaled.condition);
  return Math.min(o.intervalMs, policy.pollingIntervalMs);
}
