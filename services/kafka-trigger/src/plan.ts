import {
  DEFAULT_FUNCTION_TIMEOUT_SECONDS,
  matchesSelector,
  resolveDelivery,
  triggerTopics,
  type Function as KubelessFunction,
  type KafkaTrigger,
  type ResolvedDelivery,
} from '@kubeless/api';

/** How a consumer reaches Kafka: the trigger's brokers or the controller's, plus an optional auth Secret. */
export interface ConnectionSpec {
  brokers: string[];
  /** A Secret in the trigger's namespace with SASL/TLS settings (`KafkaTriggerSpec.authSecret`). */
  authSecret?: string;
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
}

export interface TriggerPlan {
  consumers: ConsumerSpec[];
  /** The names of the functions the trigger targets, sorted. */
  functions: string[];
  /** Why nothing (or not everything) can run; goes to status. */
  problem?: { condition: 'FunctionsResolved' | 'Valid'; reason: string; message: string };
}

export interface PlanDefaults {
  /** The controller's brokers (KAFKA_BROKERS). */
  brokers: string[];
}

/** The function's timeout (seconds, as the original stores it) in ms; the delivery timeout default. */
export function functionTimeoutMs(fn: KubelessFunction): number {
  const t = Number(fn.spec.timeout);
  return (Number.isFinite(t) && t > 0 ? t : DEFAULT_FUNCTION_TIMEOUT_SECONDS) * 1000;
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
 * schema let through but that does not parse) yield no consumer and a `Valid` problem.
 */
export function planTrigger(trigger: KafkaTrigger, functions: readonly KubelessFunction[], defaults: PlanDefaults): TriggerPlan {
  if (trigger.metadata.deletionTimestamp) return { consumers: [], functions: [] };
  const ns = trigger.metadata.namespace ?? '';
  const name = trigger.metadata.name ?? '';
  const spec = trigger.spec;
  const topics = triggerTopics(spec);
  if (topics.length === 0) return { consumers: [], functions: [], problem: { condition: 'Valid', reason: 'NoTopic', message: 'spec.topic or spec.topics must name a topic' } };
  const live = functions.filter((f) => !f.metadata.deletionTimestamp && (f.metadata.namespace ?? '') === ns);
  let targets: KubelessFunction[];
  let missing: TriggerPlan['problem'];
  if (spec.functionName) {
    targets = live.filter((f) => f.metadata.name === spec.functionName);
    if (targets.length === 0) missing = { condition: 'FunctionsResolved', reason: 'FunctionNotFound', message: `function ${spec.functionName} does not exist in namespace ${ns}` };
  } else {
    const selector = spec.functionSelector ?? {};
    targets = live.filter((f) => matchesSelector(selector, f.metadata.labels));
    if (targets.length === 0) missing = { condition: 'FunctionsResolved', reason: 'NoFunctionsMatched', message: `no function in namespace ${ns} matches the selector ${JSON.stringify(selector)}` };
  }
  const nameOf = (f: KubelessFunction): string => f.metadata.name ?? '';
  targets.sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
  const connection: ConnectionSpec = { brokers: spec.brokers && spec.brokers.length > 0 ? [...spec.brokers] : [...defaults.brokers] };
  if (spec.authSecret) connection.authSecret = spec.authSecret;
  const consumers: ConsumerSpec[] = [];
  for (const fn of targets) {
    let delivery: ResolvedDelivery;
    try {
      delivery = resolveDelivery(spec.delivery, functionTimeoutMs(fn));
    } catch (err) {
      return { consumers: [], functions: [], problem: { condition: 'Valid', reason: 'InvalidDelivery', message: (err as Error).message } };
    }
    consumers.push({
      key: `${ns}/${name}/${nameOf(fn)}`,
      namespace: ns,
      trigger: name,
      function: nameOf(fn),
      groupId: consumerGroupId(spec.consumerGroup, ns, name, nameOf(fn)),
      topics,
      fromBeginning: spec.initialOffset === 'earliest',
      delivery,
      connection,
    });
  }
  const plan: TriggerPlan = { consumers, functions: targets.map(nameOf) };
  if (missing) plan.problem = missing;
  return plan;
}
