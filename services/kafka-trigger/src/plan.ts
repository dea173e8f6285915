import {
  kafkaSharedIdentityProblem,
  targetDeliveries,
  targetFunctions,
  triggerTopics,
  type Function as KubelessFunction,
  type KafkaTrigger,
  type IdentityGrants,
  type ResolvedDelivery,
  type TenancyProblem,
} from '@kubeless/api';

/**
 * How a consumer reaches Kafka, and as whom:
 *  - `shared`: the controller's own brokers and credentials, for a namespace the operator granted
 *    them to (`tenancy.sharedIdentity`), for the topics granted;
 *  - `secret`: the trigger's `authSecret` (from its own namespace), on its own or the default brokers;
 *  - `none`: the trigger's own brokers without a Secret: no SASL, no TLS client certificate. The
 *    controller's credentials never go to brokers a trigger chose.
 */
export interface ConnectionSpec {
  brokers: string[];
  credentials: 'shared' | 'secret' | 'none';
  /** A Secret in the trigger's namespace with SASL/TLS settings (`KafkaTriggerSpec.authSecret`). */
  authSecret?: string;
  /** A digest of the Secret's data as last read (set by the controller, not the plan): a rotated Secret changes the spec, so the consumer reconnects. */
  secretVersion?: string;
}

/** One consumer group: one (trigger, function) pair. Two equal specs mean the same consumer. */
export interface ConsumerSpec {
  /** `<namespace>/<trigger>/<function>`. */
  key: string;
  namespace: string;
  trigger: string;
  function: string;
  groupId: string;
  topics: string[];
  fromBeginning: boolean;
  delivery: ResolvedDelivery;
  connection: ConnectionSpec;
  /** The function may be scaled to zero (`autoscaling.minReplicas: 0`): deliveries wait for its activation. */
  activates?: true;
}

export interface TriggerPlan {
  consumers: ConsumerSpec[];
  /** The names of the functions the trigger targets, sorted. */
  functions: string[];
  /** Why nothing (or not everything) can run; goes to status. */
  problem?: { condition: 'FunctionsResolved' | 'Valid' | 'Authorized'; reason: string; message: string };
}

export interface PlanDefaults {
  /** The controller's brokers (KAFKA_BROKERS). */
  brokers: string[];
  /** Which namespaces may use the controller's brokers and credentials, for which topics. */
  grants: IdentityGrants;
  /** Why a function's Service must not be delivered to (it routes out of the namespace), from the caches; none when absent. */
  serviceProblem?: ((namespace: string, fn: string) => TenancyProblem | undefined) | undefined;
}

/**
 * The connection of a trigger: its own brokers (not all among the controller's) get its Secret or
 * nothing; the controller's brokers get its Secret or, if granted, the controller's credentials.
 */
export function connectionOf(spec: KafkaTrigger['spec'], defaults: Pick<PlanDefaults, 'brokers'>): ConnectionSpec {
  const own = spec.brokers && spec.brokers.length > 0 && !spec.brokers.every((b) => defaults.brokers.includes(b));
  const brokers = own ? [...(spec.brokers ?? [])] : [...defaults.brokers];
  if (spec.authSecret) return { brokers, credentials: 'secret', authSecret: spec.authSecret };
  return { brokers, credentials: own ? 'none' : 'shared' };
}

/**
 * The consumer group of one (trigger, function) pair, deterministic so every replica joins the
 * same group and a restart resumes from its commits: `<prefix>.<namespace>.<trigger>.<function>`,
 * prefix `kubeless` unless the trigger sets `consumerGroup`.
 */
export function consumerGroupId(prefix: string | undefined, namespace: string, trigger: string, fn: string): string {
  return `${prefix && prefix !== '' ? prefix : 'kubeless'}.${namespace}.${trigger}.${fn}`;
}

/**
 * Pure: the consumers one KafkaTrigger needs, given the Functions of its namespace. A deleted
 * trigger needs none; functions being deleted are not targets. Invalid settings (a duration the
 * schema let through but that does not parse, a dead letter equal to a source topic) yield no
 * consumer and a `Valid` problem; the controller's identity used by a namespace, or for topics,
 * it was not granted yields none and an `Authorized` problem (nothing is consumed or produced);
 * a function whose Service routes out of its namespace gets no consumer and a
 * `FunctionsResolved` problem.
 */
export function planTrigger(trigger: KafkaTrigger, functions: readonly KubelessFunction[], defaults: PlanDefaults): TriggerPlan {
  if (trigger.metadata.deletionTimestamp) return { consumers: [], functions: [] };
  const ns = trigger.metadata.namespace ?? '';
  const name = trigger.metadata.name ?? '';
  const spec = trigger.spec;
  const topics = triggerTopics(spec);
  if (topics.length === 0) return { consumers: [], functions: [], problem: { condition: 'Valid', reason: 'NoTopic', message: 'spec.topic or spec.topics must name a topic' } };
  const { targets, problem: noTarget } = targetFunctions(spec, functions, ns);
  const nameOf = (f: KubelessFunction): string => f.metadata.name ?? '';
  const deadLetter = spec.delivery?.deadLetter === '' ? undefined : spec.delivery?.deadLetter;
  if (deadLetter && topics.includes(deadLetter)) {
    return { consumers: [], functions: [], problem: { condition: 'Valid', reason: 'DeadLetterIsSource', message: `delivery.deadLetter ${deadLetter} is a topic the trigger consumes: its dead letters would come back to it` } };
  }
  const connection = connectionOf(spec, defaults);
  if (connection.credentials === 'shared') {
    const refused = kafkaSharedIdentityProblem(defaults.grants, ns, topics, deadLetter);
    if (refused) return { consumers: [], functions: targets.map(nameOf), problem: { condition: 'Authorized', ...refused } };
  }
  const served = targetDeliveries(spec, targets, ns, defaults.serviceProblem);
  if (served.problem?.condition === 'Valid') return { consumers: [], functions: [], problem: served.problem };
  const consumers = served.targets.map(
    (t): ConsumerSpec => ({
      key: `${ns}/${name}/${t.function}`,
      namespace: ns,
      trigger: name,
      function: t.function,
      groupId: consumerGroupId(spec.consumerGroup, ns, name, t.function),
      topics,
      fromBeginning: spec.initialOffset === 'earliest',
      delivery: t.delivery,
      connection,
      ...(t.activates ? { activates: t.activates } : {}),
    }),
  );
  const plan: TriggerPlan = { consumers, functions: served.targets.map((t) => t.function) };
  const missing = noTarget ?? served.problem;
  if (missing) plan.problem = missing;
  return plan;
}
