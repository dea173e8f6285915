import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { AUTOSCALING_DEFAULTS, type Function as KubelessFunction, type SQSTrigger, type SQSTriggerStatus } from '@kubeless/api';
import { autoscaleTrigger, setCondition, statusFromPlan, summarise, type FunctionScaler, type KubeObject, type ReconcileContext, type ReconcileResult } from '@kubeless/controller';
import type { Connections } from './connections.js';
import { NOT_GRANTED_REASONS, classifySqsError, redactAws, type SqsTriggerError } from './errors.js';
import { planTrigger, queueOf, type PlanDefaults, type QueueRef } from './plan.js';
import type { StalledMessage } from './runner/receiver.js';

export type SQSTriggerObject = SQSTrigger & KubeObject & { status?: SQSTriggerStatus };

const READY_DEPS = ['Valid', 'Authorized', 'FunctionsResolved', 'CredentialsReady', 'QueueReachable', 'QueueExists', 'DeadLetterReady'];
const SQS_DEPS = ['CredentialsReady', 'QueueReachable', 'QueueExists', 'DeadLetterReady'];

/** What SQS says about a trigger's queue (and dead-letter queue), read by the leader. */
export interface QueueObservation {
  visible: number;
  inFlight: number;
  /** undefined: no dead letter named; else the error that makes it unusable, or null when it exists. */
  deadLetter: SqsTriggerError | null | undefined;
}

async function attributes(
  connections: Connections,
  client: SQSClient,
  where: { namespace: string; queue: QueueRef; role: 'queue' | 'deadLetter' },
  nameOrUrl: string,
  names: ('ApproximateNumberOfMessages' | 'ApproximateNumberOfMessagesNotVisible' | 'QueueArn')[],
): Promise<Record<string, string>> {
  const url = await connections.resolve(client, where.namespace, where.queue, where.role, nameOrUrl);
  try {
    return (await client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: names }))).Attributes ?? {};
  } catch (err) {
    throw classifySqsError(err, `queue ${nameOrUrl}`);
  }
}

/** Reads the depth of the queue and checks the dead-letter queue. Throws a classified SqsTriggerError. */
export async function observeQueue(connections: Connections, namespace: string, q: QueueRef, deadLetter: string | undefined): Promise<QueueObservation> {
  const client = await connections.get(namespace, q, 'status');
  const a = await attributes(connections, client, { namespace, queue: q, role: 'queue' }, q.queueUrl ?? q.queueName ?? '', ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible']);
  let dl: QueueObservation['deadLetter'];
  if (deadLetter) {
    try {
      await attributes(connections, client, { namespace, queue: q, role: 'deadLetter' }, deadLetter, ['QueueArn']);
      dl = null;
    } catch (err) {
      const e = classifySqsError(err, `dead-letter queue ${deadLetter}`);
      if (NOT_GRANTED_REASONS.has(e.reason)) throw e;
      dl = e;
    }
  }
  return { visible: Number(a.ApproximateNumberOfMessages ?? 0), inFlight: Number(a.ApproximateNumberOfMessagesNotVisible ?? 0), deadLetter: dl };
}

/**
 * The leader's reconcile: status only (receivers run on every replica, see Supervisor in the controller kit).
 * Conditions: Valid, Authorized (the tenancy rules: whose credentials, which queues; a refused
 * trigger is never connected to SQS, not even for status), FunctionsResolved, CredentialsReady (the Secret and its keys), QueueReachable
 * (the endpoint answers), QueueExists, DeadLetterReady, summarised in Ready; plus the target
 * functions and the approximate depth of the queue (visible messages). Stalled (as in the
 * kafka-trigger) is True while a message keeps failing after its retries (onExhausted `block`:
 * `RetriesExhausted`; a dead letter that cannot be sent: `DeadLetterFailed`), and then Ready is
 * False with reason Stalled. SQS keeps no per-message state a reader could see, so this is what
 * the leader's own receivers saw: with several replicas (competing consumers) a blocked message
 * shows once it came back to the leader's replica. Condition messages never carry AWS ARNs or
 * account ids, nor the text of an answer that was not SQS's (classifySqsError).
 * Re-reads SQS every `intervalMs` so depth and outages show. With `spec.autoscaling`, also scales
 * each target function on the queue's messages, visible and in flight (condition Autoscaling, not
 * part of Ready; status.autoscaling), re-reading every `autoscaling.pollingInterval` when shorter.
 */
export function statusReconciler(o: {
  functions: () => KubelessFunction[];
  connections: Connections;
  defaults: PlanDefaults;
  intervalMs: number;
  /** The message this replica's receiver for a key keeps failing on, if any. */
  stalled?: (key: string) => StalledMessage | undefined;
  /** Scales the functions of triggers with `spec.autoscaling` on the queue's depth. */
  scaler?: FunctionScaler | undefined;
}) {
  return async (t: SQSTriggerObject, _ctx: ReconcileContext): Promise<ReconcileResult> => {
    const plan = planTrigger(t, o.functions(), o.defaults);
    const { status, conditions } = statusFromPlan(t, plan);
    const problem = plan.problem;
    const done = (requeueAfterMs = o.intervalMs): ReconcileResult => {
      const receiver = plan.receiver;
      const s = receiver ? o.stalled?.(receiver.key) : undefined;
      const stalled = s && s.until > Date.now() ? s : undefined;
      // The failure is the function's answer (its namespace's own), redacted like every SQS text.
      const what = stalled ? redactAws(`message ${stalled.messageId} (attempt ${String(stalled.attempts)}, failing since ${stalled.since}): ${stalled.message}`) : '';
      setCondition(
        conditions,
        !receiver
          ? { type: 'Stalled', status: 'False', reason: 'NoReceivers', message: 'nothing to deliver to' }
          : stalled
            ? { type: 'Stalled', status: 'True', reason: stalled.reason, message: what }
            : { type: 'Stalled', status: 'False', reason: 'Flowing' },
      );
      summarise(conditions, READY_DEPS);
      if (stalled) setCondition(conditions, { type: 'Ready', status: 'False', reason: 'Stalled', message: what });
      return { requeueAfterMs };
    };
    const authorized = (refusal?: { reason: string; message: string }): void => {
      setCondition(
        conditions,
        refusal
          ? { type: 'Authorized', status: 'False', ...refusal }
          : problem?.condition === 'Valid'
            ? { type: 'Authorized', status: 'Unknown', reason: 'Invalid', message: 'the trigger is not valid' }
            : t.spec.credentialsSecret
              ? { type: 'Authorized', status: 'True', reason: 'OwnCredentials', message: "the credentials of the trigger's credentialsSecret" }
              : { type: 'Authorized', status: 'True', reason: 'SharedIdentityGranted', message: "the controller's AWS identity, granted to this namespace for this queue" },
      );
    };
    authorized(problem?.condition === 'Authorized' ? problem : undefined);
    setCondition(
      conditions,
      problem?.condition === 'FunctionsResolved'
        ? { type: 'FunctionsResolved', status: 'False', reason: problem.reason, message: problem.message }
        : problem
          ? { type: 'FunctionsResolved', status: 'Unknown', reason: problem.condition === 'Authorized' ? 'NotAuthorized' : 'Invalid', message: problem.condition === 'Authorized' ? 'the trigger is refused by a tenancy rule' : 'the trigger is not valid' }
          : { type: 'FunctionsResolved', status: 'True', reason: 'FunctionsResolved', message: plan.functions.join(', ') },
    );
    // Refused by a tenancy rule: never connected, not even to read the queue's depth.
    if (problem?.condition === 'Valid' || problem?.condition === 'Authorized') {
      delete status.approximateQueueDepth;
      return done();
    }
    // The queue is observed even with no target: a wrong queue or Secret should show before a function exists.
    const spec = t.spec;
    const ns = t.metadata.namespace ?? '';
    const queue: QueueRef = plan.receiver?.queue ?? queueOf(spec, o.defaults).queue;
    const deadLetter = spec.delivery?.deadLetter === '' ? undefined : spec.delivery?.deadLetter;
    let obs: QueueObservation;
    try {
      obs = await observeQueue(o.connections, ns, queue, deadLetter);
    } catch (err) {
      const e = classifySqsError(err, 'queue');
      const unknown = (type: string): void => {
        setCondition(conditions, { type, status: 'Unknown', reason: e.reason, message: e.message });
      };
      if (NOT_GRANTED_REASONS.has(e.reason)) {
        authorized({ reason: e.reason, message: e.message });
        for (const c of SQS_DEPS) unknown(c);
      } else if (e.reason === 'SecretNotFound' || e.reason === 'SecretForbidden' || e.reason === 'SecretKeyMissing' || e.reason === 'AccessDenied') {
        setCondition(conditions, { type: 'CredentialsReady', status: 'False', reason: e.reason, message: e.message });
        for (const c of SQS_DEPS.slice(1)) unknown(c);
      } else if (e.reason === 'Unreachable') {
        setCondition(conditions, { type: 'CredentialsReady', status: 'True', reason: spec.credentialsSecret ? 'SecretRead' : 'DefaultChain' });
        setCondition(conditions, { type: 'QueueReachable', status: 'False', reason: 'Unreachable', message: e.message });
        unknown('QueueExists');
        unknown('DeadLetterReady');
      } else if (e.reason === 'QueueNotFound') {
        setCondition(conditions, { type: 'CredentialsReady', status: 'True', reason: spec.credentialsSecret ? 'SecretRead' : 'DefaultChain' });
        setCondition(conditions, { type: 'QueueReachable', status: 'True', reason: 'Reachable' });
        setCondition(conditions, { type: 'QueueExists', status: 'False', reason: 'QueueNotFound', message: e.message });
        unknown('DeadLetterReady');
      } else {
        setCondition(conditions, { type: 'QueueReachable', status: 'False', reason: e.reason, message: e.message });
      }
      delete status.approximateQueueDepth;
      return done();
    }
    setCondition(conditions, { type: 'CredentialsReady', status: 'True', reason: spec.credentialsSecret ? 'SecretRead' : 'DefaultChain' });
    setCondition(conditions, { type: 'QueueReachable', status: 'True', reason: 'Reachable' });
    setCondition(conditions, { type: 'QueueExists', status: 'True', reason: 'QueueExists' });
    setCondition(
      conditions,
      obs.deadLetter === undefined
        ? { type: 'DeadLetterReady', status: 'True', reason: 'NotConfigured', message: 'no dead-letter queue on the trigger (the queue redrive policy applies)' }
        : obs.deadLetter === null
          ? { type: 'DeadLetterReady', status: 'True', reason: 'QueueExists', message: deadLetter ?? '' }
          : { type: 'DeadLetterReady', status: 'False', reason: obs.deadLetter.reason === 'QueueNotFound' ? 'DeadLetterQueueMissing' : obs.deadLetter.reason, message: obs.deadLetter.message },
    );
    status.approximateQueueDepth = obs.visible;
    // Every target takes every message: each scales on the whole queue, visible and in flight (as KEDA counts it).
    const depth = obs.visible + obs.inFlight;
    const loads = plan.functions.map((fn) => ({ fn, metric: depth }));
    return done(await autoscaleTrigger({ scaler: o.scaler, trigger: t, status, defaultTarget: AUTOSCALING_DEFAULTS.sqsTarget, loads, intervalMs: o.intervalMs }));
  };
}
