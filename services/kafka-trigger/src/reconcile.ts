import { AUTOSCALING_DEFAULTS, type Function as KubelessFunction, type KafkaTrigger, type KafkaTriggerStatus } from '@kubeless/api';
import { autoscaleTrigger, canonical, setCondition, statusFromPlan, summarise, type FunctionScaler, type KubeObject, type ReconcileContext, type ReconcileResult } from '@kubeless/controller';
import type { Connections } from './connections.js';
import { KafkaTriggerError } from './errors.js';
import { connectionOf, planTrigger, type ConsumerSpec, type PlanDefaults } from './plan.js';
import { decodeMetadata } from './runner/offsets.js';

export type KafkaTriggerObject = KafkaTrigger & KubeObject & { status?: KafkaTriggerStatus };

/** What Kafka says about one consumer group (read through the admin API, so any replica sees it). */
export interface GroupObservation {
  state: string;
  members: number;
  lag: number;
  missingTopics: string[];
  /** The lowest stalled offset of the first stalled partition, and how many partitions are stalled. */
  stalled: { offset: number; partition: number; topic: string; reason: string; cause: 'retries' | 'deadLetter'; partitions: number } | undefined;
  /** Records retention deleted before delivery, per partition that reports some (recent ones only: see the runner). */
  skipped: { topic: string; partition: number; count: number; from: number; to: number; at: string }[];
}

const AUTHORIZED = {
  shared: { reason: 'SharedIdentityGranted', message: "the controller's brokers and credentials, granted to this namespace for these topics" },
  secret: { reason: 'OwnCredentials', message: "the credentials of the trigger's authSecret" },
  none: { reason: 'NoCredentials', message: "the trigger's own brokers, without credentials (it names no authSecret)" },
};

const READY_DEPS = ['Valid', 'Authorized', 'FunctionsResolved', 'BrokerReachable', 'TopicsExist', 'ConsumerGroupJoined', 'DeadLetterReady'];

/** kafkajs's SASL failures (wrong credentials, a mechanism the broker does not offer). */
function isAuthFailure(err: unknown): boolean {
  const name = (err as { name?: unknown }).name;
  return name === 'KafkaJSSASLAuthenticationError' || (err instanceof Error && /SASL|authenticat/iu.test(err.message));
}

/** Reads the group state, lag, missing topics and a stalled message of one consumer group. */
async function observeGroup(connections: Connections, spec: ConsumerSpec): Promise<GroupObservation> {
  const admin = await connections.admin(spec.namespace, spec.connection);
  const existing = new Set(await admin.listTopics());
  const missingTopics = spec.topics.filter((t) => !existing.has(t));
  const topics = spec.topics.filter((t) => existing.has(t));
  const { groups } = await admin.describeGroups([spec.groupId]);
  const g = groups[0];
  let lag = 0;
  let stalled: GroupObservation['stalled'];
  let stalledPartitions = 0;
  const skipped: GroupObservation['skipped'] = [];
  if (topics.length > 0) {
    const committed = await admin.fetchOffsets({ groupId: spec.groupId, topics });
    for (const t of committed) {
      const ends = await admin.fetchTopicOffsets(t.topic);
      for (const p of t.partitions) {
        const end = ends.find((e) => e.partition === p.partition);
        const c = Number(p.offset);
        // No commit yet: a group that starts at the earliest offset has the whole log ahead (a
        // `latest` start is committed at the join, so it has one).
        if (end && c >= 0) lag += Math.max(0, Number(end.high) - c);
        else if (end && spec.fromBeginning) lag += Math.max(0, Number(end.high) - Number(end.low));
        const meta = decodeMetadata(p.metadata);
        if (meta.stalled) stalledPartitions++;
        if (meta.stalled && !stalled) stalled = { topic: t.topic, partition: p.partition, offset: meta.stalled.offset, reason: meta.stalled.reason, cause: meta.stalled.cause ?? 'retries', partitions: 0 };
        if (meta.skipped && meta.skipped.count > 0) skipped.push({ topic: t.topic, partition: p.partition, ...meta.skipped });
      }
    }
  }
  if (stalled) stalled.partitions = stalledPartitions;
  return { state: g?.state ?? 'Dead', members: g?.members.length ?? 0, lag, missingTopics, stalled, skipped };
}

/**
 * The leader's reconcile: status only (consumers run on every replica, see Supervisor in the controller kit).
 * Conditions: Valid, Authorized (the tenancy rules: whose credentials, which topics),
 * FunctionsResolved, BrokerReachable, TopicsExist, ConsumerGroupJoined, DeadLetterReady, Stalled
 * (RetriesExhausted, or DeadLetterFailed when the dead letter itself keeps failing), summarised in
 * Ready; RecordsSkipped (records retention deleted before delivery, with a Warning Event; not part
 * of Ready: the trigger flows again); plus the target functions and the total lag. A trigger refused by a
 * tenancy rule is never connected to Kafka, not even for status.
 * Re-reads Kafka every `intervalMs` so lag and outages show; a trigger whose status the last reads
 * left unchanged is re-read less often, up to every `6 x intervalMs` (on 1,000 quiet triggers those
 * reads were half the requests to the broker), and any change brings it back to `intervalMs`. With `spec.autoscaling`, also scales
 * each function on its group's lag (condition Autoscaling, not part of Ready; status.autoscaling),
 * re-reading every `autoscaling.pollingInterval` when that is shorter.
 */
export function statusReconciler(o: {
  functions: () => KubelessFunction[];
  connections: Connections;
  defaults: PlanDefaults;
  intervalMs: number;
  /** Why this replica's consumer for a key is not running, if it failed. */
  consumerError?: (key: string) => string | undefined;
  /** Scales the functions of triggers with `spec.autoscaling` on their group's lag. */
  scaler?: FunctionScaler | undefined;
}) {
  /** How many reads in a row left each quiet trigger's status as it was. */
  const quiet = new Map<string, number>();
  return async (t: KafkaTriggerObject, ctx: ReconcileContext): Promise<ReconcileResult> => {
    const key = `${t.metadata.namespace ?? ''}/${t.metadata.name ?? ''}`;
    const seen = canonical(t.status ?? {});
    const plan = planTrigger(t, o.functions(), o.defaults);
    const { status, conditions } = statusFromPlan(t, plan);
    const problem = plan.problem;
    const connection = connectionOf(t.spec, o.defaults);
    setCondition(
      conditions,
      problem?.condition === 'Authorized'
        ? { type: 'Authorized', status: 'False', reason: problem.reason, message: problem.message }
        : problem?.condition === 'Valid'
          ? { type: 'Authorized', status: 'Unknown', reason: 'Invalid', message: 'the trigger is not valid' }
          : { type: 'Authorized', status: 'True', ...AUTHORIZED[connection.credentials] },
    );
    setCondition(
      conditions,
      problem?.condition === 'FunctionsResolved'
        ? { type: 'FunctionsResolved', status: 'False', reason: problem.reason, message: problem.message }
        : { type: 'FunctionsResolved', status: 'True', reason: 'FunctionsResolved', message: plan.functions.join(', ') },
    );
    const deadLetter = plan.consumers[0]?.delivery.deadLetter ?? t.spec.delivery?.deadLetter;
    if (plan.consumers.length === 0) {
      for (const type of ['BrokerReachable', 'TopicsExist', 'ConsumerGroupJoined', 'DeadLetterReady']) {
        if (!conditions.some((c) => c.type === type)) setCondition(conditions, { type, status: 'Unknown', reason: 'NoConsumers', message: 'no function to consume for' });
      }
      setCondition(conditions, { type: 'Stalled', status: 'False', reason: 'NoConsumers' });
      delete status.lag;
      summarise(conditions, READY_DEPS);
      return { requeueAfterMs: o.intervalMs };
    }
    let observations: GroupObservation[];
    let deadLetterExists = true;
    try {
      observations = await Promise.all(plan.consumers.map((c) => observeGroup(o.connections, c)));
      if (deadLetter) {
        const first = plan.consumers[0];
        const admin = first ? await o.connections.admin(first.namespace, first.connection) : undefined;
        deadLetterExists = admin ? (await admin.listTopics()).includes(deadLetter) : false;
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      setCondition(conditions, { type: 'BrokerReachable', status: 'False', reason: err instanceof KafkaTriggerError ? err.reason : isAuthFailure(err) ? 'AuthenticationFailed' : 'KafkaUnreachable', message });
      summarise(conditions, READY_DEPS);
      return { requeueAfterMs: o.intervalMs };
    }
    setCondition(conditions, { type: 'BrokerReachable', status: 'True', reason: 'Connected' });
    const missing = [...new Set(observations.flatMap((x) => x.missingTopics))];
    setCondition(conditions, missing.length > 0 ? { type: 'TopicsExist', status: 'False', reason: 'TopicNotFound', message: `topic(s) ${missing.join(', ')} do not exist` } : { type: 'TopicsExist', status: 'True', reason: 'TopicsExist' });
    // A group still forming (no member yet, or rebalancing) is Unknown, not a failure; it is False
    // only when this replica's own consumer for it failed (start error, crash).
    const failed = plan.consumers.flatMap((c) => {
      const e = o.consumerError?.(c.key);
      return e ? [`${c.groupId}: ${e}`] : [];
    });
    const notJoined = observations.flatMap((x, i) => (x.state !== 'Stable' || x.members === 0 ? [`${plan.consumers[i]?.groupId ?? ''}: ${x.state}`] : []));
    setCondition(
      conditions,
      failed.length > 0
        ? { type: 'ConsumerGroupJoined', status: 'False', reason: 'ConsumerFailed', message: failed.join('; ') }
        : notJoined.length > 0
          ? { type: 'ConsumerGroupJoined', status: 'Unknown', reason: 'Joining', message: notJoined.join('; ') }
          : { type: 'ConsumerGroupJoined', status: 'True', reason: 'Joined', message: `${String(observations.reduce((n, x) => n + x.members, 0))} member(s)` },
    );
    setCondition(
      conditions,
      !deadLetter
        ? { type: 'DeadLetterReady', status: 'True', reason: 'NotConfigured', message: 'no dead letter configured' }
        : deadLetterExists
          ? { type: 'DeadLetterReady', status: 'True', reason: 'TopicExists', message: deadLetter }
          : { type: 'DeadLetterReady', status: 'False', reason: 'DeadLetterTopicMissing', message: `dead-letter topic ${deadLetter} does not exist` },
    );
    const stalled = observations.find((x) => x.stalled)?.stalled;
    const stalledMore = observations.reduce((n, x) => n + (x.stalled?.partitions ?? 0), 0) - 1;
    const stalledMessage = stalled ? `${stalled.topic}[${String(stalled.partition)}]@${String(stalled.offset)}: ${stalled.reason}${stalledMore > 0 ? ` (and ${String(stalledMore)} more partition(s))` : ''}` : '';
    setCondition(
      conditions,
      stalled
        ? { type: 'Stalled', status: 'True', reason: stalled.cause === 'deadLetter' ? 'DeadLetterFailed' : 'RetriesExhausted', message: stalledMessage }
        : { type: 'Stalled', status: 'False', reason: 'Flowing' },
    );
    // Records retention deleted before they were delivered (the group resumed at the log start,
    // never at the log end): reported for a day after the last gap, with a Warning Event per new gap.
    const skipped = observations.flatMap((x) => x.skipped).sort((a, b) => b.at.localeCompare(a.at));
    const skippedTotal = skipped.reduce((n, x) => n + x.count, 0);
    const skippedMessage = skipped
      .map((x) => `${String(x.count)} record(s) of ${x.topic}[${String(x.partition)}] (last gap: offsets ${String(x.from)}-${String(x.to - 1)}, at ${x.at})`)
      .join('; ');
    // The message before this pass (setCondition updates the condition in place).
    const before = conditions.find((c) => c.type === 'RecordsSkipped')?.message;
    setCondition(
      conditions,
      skipped.length > 0
        ? { type: 'RecordsSkipped', status: 'True', reason: 'DeletedByRetention', message: `${String(skippedTotal)} record(s) were deleted by retention before delivery, the group resumed at the earliest retained offset: ${skippedMessage}` }
        : { type: 'RecordsSkipped', status: 'False', reason: 'NoneSkipped' },
    );
    const after = conditions.find((c) => c.type === 'RecordsSkipped');
    if (skipped.length > 0 && after && before !== after.message) ctx.record('Warning', 'RecordsSkipped', after.message ?? '');
    status.lag = observations.reduce((n, x) => n + x.lag, 0);
    const loads = plan.consumers.map((c, i) => ({ fn: c.function, metric: observations[i]?.lag ?? 0 }));
    let requeueAfterMs = await autoscaleTrigger({ scaler: o.scaler, trigger: t, status, defaultTarget: AUTOSCALING_DEFAULTS.kafkaTarget, loads, intervalMs: o.intervalMs });
    summarise(conditions, READY_DEPS);
    if (stalled) setCondition(conditions, { type: 'Ready', status: 'False', reason: stalled.cause === 'deadLetter' ? 'DeadLetterFailed' : 'Stalled', message: stalledMessage });
    if (canonical(status) === seen && !t.spec.autoscaling) {
      const streak = (quiet.get(key) ?? 0) + 1;
      quiet.set(key, streak);
      requeueAfterMs = Math.min(requeueAfterMs * (streak + 1), 6 * requeueAfterMs);
    } else {
      quiet.delete(key);
    }
    return { requeueAfterMs };
  };
}
