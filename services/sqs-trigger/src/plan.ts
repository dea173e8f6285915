import {
  targetDeliveries,
  targetFunctions,
  parseDuration,
  queueArn,
  sqsSharedIdentityProblem,
  type IdentityGrants,
  type TargetDelivery,
  type TenancyProblem,
  type Function as KubelessFunction,
  type ResolvedDelivery,
  type SQSTrigger,
} from '@kubeless/api';
import { canonical } from '@kubeless/controller';

/** How a receiver reaches its queue. Two equal specs share one SQS client. */
export interface QueueRef {
  /** The queue URL when the trigger gives one; else resolved from `queueName` at start. */
  queueUrl?: string;
  queueName?: string;
  region: string;
  /** The trigger's endpoint override, else the controller's (`SQS_ENDPOINT`), else the SDK's default. */
  endpoint?: string;
  /**
   * As whom: `shared` is the controller's own AWS identity (its credentials or pod identity), only
   * on the controller's endpoint, for a granted namespace and queues; `secret` the trigger's
   * `credentialsSecret`. A trigger with its own endpoint and no Secret is refused in the plan.
   */
  credentials: 'shared' | 'secret';
  /** A Secret in the trigger's namespace with `aws_access_key_id`, `aws_secret_access_key` (and optionally `aws_session_token`). */
  credentialsSecret?: string;
  /** A digest of the Secret's data as last read (set by the controller): a rotated Secret changes the spec, so the receiver reconnects. */
  secretVersion?: string;
}

/** One target of a trigger: every message goes to every target. */
export type TargetSpec = TargetDelivery;

/**
 * The receivers of one trigger: `receivers` long-poll loops on one queue, each message delivered to
 * every target function and deleted once all of them accepted it. Two equal specs mean the same
 * receiver; a change of targets alone is applied in place (onlyTargetsChanged), any other restarts it.
 */
export interface ReceiverSpec {
  /** `<namespace>/<trigger>`. */
  key: string;
  namespace: string;
  trigger: string;
  queue: QueueRef;
  targets: TargetSpec[];
  /** Messages per receive, 1-10 (default 10). */
  batchSize: number;
  /** Concurrent long polls (default 1). */
  receivers: number;
  /** Seconds a received message stays invisible; undefined = the queue's own setting. */
  visibilityTimeoutSec: number | undefined;
  /** Messages received and not yet deleted or released, across the receivers (default 100). */
  maxInFlight: number;
  /** Retry, backoff and dead-letter settings (those of the first target: they differ only in timeout). */
  delivery: ResolvedDelivery;
}

export interface TriggerPlan {
  receiver: ReceiverSpec | undefined;
  /** The names of the functions the trigger targets, sorted. */
  functions: string[];
  /** Why nothing can run; goes to status. */
  problem?: { condition: 'FunctionsResolved' | 'Valid' | 'Authorized'; reason: string; message: string };
}

export interface PlanDefaults {
  /** The controller's region (`SQS_REGION`), used when neither the trigger nor its queue URL says. */
  region: string;
  /** The controller's endpoint override (`SQS_ENDPOINT`). */
  endpoint?: string | undefined;
  /** Which namespaces may use the controller's AWS identity, for which queues. */
  grants: IdentityGrants;
  /** Why a function's Service must not be delivered to (it routes out of the namespace), from the caches; none when absent. */
  serviceProblem?: ((namespace: string, fn: string) => TenancyProblem | undefined) | undefined;
}

/**
 * The queue of a trigger and as whom it is used (see QueueRef.credentials), or why the
 * controller's identity may not be used for it: a trigger's own endpoint never gets it.
 */
export function queueOf(spec: SQSTrigger['spec'], defaults: Pick<PlanDefaults, 'region' | 'endpoint'>): { queue: QueueRef; refused?: TenancyProblem } {
  const endpoint = spec.endpoint ?? defaults.endpoint;
  const queue: QueueRef = { region: spec.region ?? (spec.queueUrl ? regionOfQueueUrl(spec.queueUrl) : undefined) ?? defaults.region, credentials: spec.credentialsSecret ? 'secret' : 'shared' };
  if (spec.queueUrl) queue.queueUrl = spec.queueUrl;
  else if (spec.queueName) queue.queueName = spec.queueName;
  if (endpoint) queue.endpoint = endpoint;
  if (spec.credentialsSecret) {
    queue.credentialsSecret = spec.credentialsSecret;
    return { queue };
  }
  if (spec.endpoint && spec.endpoint !== defaults.endpoint) {
    return { queue, refused: { reason: 'EndpointNeedsCredentials', message: `the trigger's own endpoint ${spec.endpoint} never receives the controller's AWS identity: name a Secret of this namespace in spec.credentialsSecret` } };
  }
  return { queue };
}

const isUrl = (x: string): boolean => /^https?:\/\//u.test(x);

/** Two queue references (URLs or names) that name the same queue, as far as can be told without asking SQS. */
export function sameQueue(a: string, b: string): boolean {
  return isUrl(a) && isUrl(b) ? a.replace(/\/+$/u, '') === b.replace(/\/+$/u, '') : queueNameOf(a) === queueNameOf(b);
}

/**
 * Whether the controller's identity may be used by `namespace` on the queue (and dead letter) of
 * `queue`, as far as can be told without asking SQS (from URLs). A queue or dead letter given by
 * name is checked once resolved (Connections.resolve). undefined: allowed, or not decidable here.
 */
export function sharedQueueProblem(grants: IdentityGrants, namespace: string, queue: QueueRef, deadLetter: string | undefined): TenancyProblem | undefined {
  if (queue.credentials !== 'shared' || !queue.queueUrl) return undefined;
  const id = (url: string): { url: string; arn: string | undefined } => ({ url, arn: queueArn(url, queue.region) });
  return sqsSharedIdentityProblem(grants, namespace, id(queue.queueUrl), deadLetter && isUrl(deadLetter) ? id(deadLetter) : undefined);
}

/** The region in an AWS queue URL (`https://sqs.<region>.amazonaws.com/...`), if it is one. */
export function regionOfQueueUrl(url: string): string | undefined {
  return /^https?:\/\/sqs[.-]([a-z0-9-]+)\.amazonaws\.com/u.exec(url)?.[1];
}

/** The queue name: the last path segment of a URL, or the name itself. */
export function queueNameOf(urlOrName: string): string {
  const parts = urlOrName.split('/').filter((p) => p !== '');
  return parts[parts.length - 1] ?? urlOrName;
}

/** FIFO queues end in `.fifo`, by URL or name. */
export function isFifoQueue(urlOrName: string): boolean {
  return queueNameOf(urlOrName).endsWith('.fifo');
}

/** Max SQS visibility timeout: 12 h. */
export const MAX_VISIBILITY_SECONDS = 43_200;

/** A delay in ms as a visibility timeout in whole seconds, rounded up so a retry never comes early; 0..12 h. */
export function visibilitySeconds(ms: number): number {
  return Math.min(MAX_VISIBILITY_SECONDS, Math.max(0, Math.ceil(ms / 1000)));
}

/**
 * Pure: whether a receiver running `a` can take `b` in place, without a restart: they differ at
 * most in their targets (which functions, each one's delivery), and so in the one per-function
 * setting of `delivery` (`timeoutMs`, the first target's). Everything the receiver reads at start
 * or in its loops must be equal: the trigger, queue, credentials and Secret version, batch size,
 * receivers, visibility timeout, maxInFlight, and the rest of `delivery` (ordering, retries,
 * backoff, dead letter, onExhausted...). True also when nothing changed.
 */
export function onlyTargetsChanged(a: ReceiverSpec, b: ReceiverSpec): boolean {
  const rest = ({ targets: _targets, delivery: { timeoutMs: _timeoutMs, ...delivery }, ...others }: ReceiverSpec): unknown => ({ ...others, delivery });
  return canonical(rest(a)) === canonical(rest(b));
}

/**
 * Pure: the receiver one SQSTrigger needs, given the Functions of its namespace. A deleted trigger
 * needs none; functions being deleted are not targets. With no target there is no receiver, so the
 * messages wait in the queue. Settings the schema let through but that do not parse, and a dead
 * letter equal to the source queue, yield a `Valid` problem; the controller's identity used on
 * its own endpoint, or by a namespace or for queues it was not granted, an `Authorized` problem
 * (no receiver: nothing is received, deleted or sent); a function whose Service routes out of its
 * namespace is no target, with a `FunctionsResolved` problem. For SQS, `maxInFlight` defaults to 100 whatever the ordering: order is kept
 * per FIFO message group (serial per group), not by running one message at a time.
 */
export function planTrigger(trigger: SQSTrigger, functions: readonly KubelessFunction[], defaults: PlanDefaults): TriggerPlan {
  if (trigger.metadata.deletionTimestamp) return { receiver: undefined, functions: [] };
  const ns = trigger.metadata.namespace ?? '';
  const name = trigger.metadata.name ?? '';
  const spec = trigger.spec;
  const invalid = (reason: string, message: string): TriggerPlan => ({ receiver: undefined, functions: [], problem: { condition: 'Valid', reason, message } });
  if (!spec.queueUrl && !spec.queueName) return invalid('NoQueue', 'spec.queueUrl or spec.queueName must name a queue');
  let visibilityTimeoutSec: number | undefined;
  if (spec.visibilityTimeout !== undefined) {
    try {
      visibilityTimeoutSec = visibilitySeconds(parseDuration(spec.visibilityTimeout));
    } catch (err) {
      return invalid('InvalidVisibilityTimeout', (err as Error).message);
    }
  }
  const { queue, refused } = queueOf(spec, defaults);
  const deadLetter = spec.delivery?.deadLetter === '' ? undefined : spec.delivery?.deadLetter;
  if (deadLetter && sameQueue(deadLetter, spec.queueUrl ?? spec.queueName ?? '')) {
    return invalid('DeadLetterIsSource', `delivery.deadLetter ${deadLetter} is the queue the trigger receives from: its dead letters would come back to it`);
  }
  const denied = refused ?? sharedQueueProblem(defaults.grants, ns, queue, deadLetter);
  if (denied) return { receiver: undefined, functions: [], problem: { condition: 'Authorized', ...denied } };
  const { targets, problem: noTarget } = targetFunctions(spec, functions, ns);
  const served = targetDeliveries(spec, targets, ns, defaults.serviceProblem);
  if (served.problem?.condition === 'Valid') return { receiver: undefined, functions: [], problem: served.problem };
  const missing = noTarget ?? served.problem;
  const resolved = served.targets;
  const functionsOut = resolved.map((t) => t.function);
  const first = resolved[0];
  if (!first) return { receiver: undefined, functions: [], ...(missing ? { problem: missing } : {}) };
  return {
    receiver: {
      key: `${ns}/${name}`,
      namespace: ns,
      trigger: name,
      queue,
      targets: resolved,
      batchSize: spec.batchSize ?? 10,
      receivers: spec.receivers ?? 1,
      visibilityTimeoutSec,
      maxInFlight: spec.delivery?.maxInFlight ?? 100,
      delivery: first.delivery,
    },
    functions: functionsOut,
    // Some targets may be refused (a Service routing out of the namespace) while others run.
    ...(missing ? { problem: missing } : {}),
  };
}
