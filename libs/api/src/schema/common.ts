import { BACKOFF_POLICIES, DURATION_PATTERN, EVENT_MODES, MAX_WAIT_SECONDS, ON_EXHAUSTED, ORDERINGS } from '../delivery.js';
import { s, type Schema } from './openapi.js';

/** DNS-1123 subdomain, as Kubernetes object names. */
export const DNS_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

/** An object name; empty is accepted because the original CLI wrote unset names as "". */
export const objectName = (description: string): Schema =>
  s.string(description, { maxLength: 253, pattern: `^(${DNS_SUBDOMAIN_PATTERN.slice(1, -1)})?$` });

export const conditionSchema: Schema = s.object(
  'A condition as in metav1.Condition; Ready summarises the others.',
  {
    type: s.string('Type of condition in CamelCase.', { maxLength: 316 }),
    status: s.enumOf('Status of the condition.', ['True', 'False', 'Unknown']),
    reason: s.string('CamelCase reason for the last transition.', { maxLength: 1024 }),
    message: s.string('Human-readable details.', { maxLength: 32768 }),
    lastTransitionTime: s.string('When the status last changed.', { format: 'date-time' }),
    observedGeneration: s.integer('The generation the condition was computed from.', { format: 'int64', minimum: 0 }),
  },
  { required: ['type', 'status'] },
);

/** The status every kind has, plus kind-specific fields. */
export function statusSchema(extra: Record<string, Schema>): Schema {
  return s.object('Observed state, written by the controller.', {
    observedGeneration: s.integer('The generation last reconciled.', { format: 'int64', minimum: 0 }),
    conditions: s.array('Current conditions; Ready summarises them.', conditionSchema, {
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
      maxItems: 32,
    }),
    ...extra,
  });
}

export const labelSelectorSchema: Schema = s.object(
  'A label selector (metav1.LabelSelector) over Functions in the same namespace.',
  {
    matchLabels: s.map('Labels a function must carry.', s.string('Label value.')),
    matchExpressions: s.array(
      'Set-based requirements.',
      s.object(
        'A selector requirement.',
        {
          key: s.string('Label key.'),
          operator: s.enumOf('Relation between key and values.', ['In', 'NotIn', 'Exists', 'DoesNotExist']),
          values: s.array('Values for In and NotIn.', s.string('A value.'), { 'x-kubernetes-list-type': 'atomic' }),
        },
        { required: ['key', 'operator'] },
      ),
      { 'x-kubernetes-list-type': 'atomic' },
    ),
  },
  { 'x-kubernetes-map-type': 'atomic' },
);

export const durationSchema = (description: string): Schema =>
  s.string(`${description} Go duration, e.g. 500ms, 10s, 2m.`, { pattern: DURATION_PATTERN, maxLength: 64 });

/**
 * A duration something waits on: longer than 0 (a wait of 0 is a busy loop) and at most what
 * Node's timers hold (MAX_WAIT_SECONDS, about 24.8 days; longer would fire after 1 ms).
 */
export const waitSchema = (description: string): Schema => ({
  ...durationSchema(description),
  'x-kubernetes-validations': [
    { rule: "duration(self) > duration('0s')", message: 'must be longer than 0' },
    { rule: `duration(self) <= duration('${String(MAX_WAIT_SECONDS)}s')`, message: `must be at most ${String(MAX_WAIT_SECONDS)}s (about 24.8 days)` },
  ],
});

/** The delivery block; `commitWindow` adds the commit window, which only a Kafka consumer has. */
export function deliverySchema(deadLetterDescription: string, options: { commitWindow?: boolean } = {}): Schema {
  const commitWindow: Record<string, Schema> =
    options.commitWindow
      ? {
          commitInterval: waitSchema('The longest a delivered record waits for its offset commit: a crash repeats at most what was delivered in this time (and at most commitWindow records per partition). Default 100ms.'),
          commitWindow: s.integer('Records per partition delivered or in flight and not yet committed: a partition that reaches it is paused until a commit makes room, so a crash repeats at most this many per partition. Default 1000.', {
            minimum: 1,
            maximum: 100000,
          }),
        }
      : {};
  return s.object(
    'How messages are delivered to functions. Absent fields take the documented defaults.',
    {
      ordering: s.enumOf(
        'ordered: serial per partition (Kafka) or message group (SQS FIFO); unordered; key-ordered: serial per key, parallel across keys. Default ordered.',
        ORDERINGS,
      ),
      maxInFlight: s.integer('Deliveries in flight (requests) per function: default 1 per partition when ordered, else 100.', {
        minimum: 1,
        maximum: 10000,
      }),
      timeout: waitSchema('Per-attempt timeout; default the function timeout.'),
      retry: s.integer('Retries after the first attempt; default 3.', { minimum: 0, maximum: 1000 }),
      backoffPolicy: s.enumOf('Backoff between attempts; default exponential (full jitter).', BACKOFF_POLICIES),
      backoffDelay: waitSchema('First backoff delay; default 1s.'),
      backoffMax: waitSchema('Backoff cap; default 60s.'),
      deadLetter: s.string(deadLetterDescription, { maxLength: 1024 }),
      onExhausted: s.enumOf(
        'When retries are exhausted: deadLetter (default when deadLetter is set), block (default otherwise: retry at backoffMax and report Stalled), or drop.',
        ON_EXHAUSTED,
      ),
      rateLimit: s.number('Maximum events per second per function.', { minimum: 0.001 }),
      eventMode: s.enumOf('CloudEvents HTTP mode; default binary.', EVENT_MODES),
      ...commitWindow,
    },
    {
      'x-kubernetes-validations': [
        {
          rule: "!has(self.onExhausted) || self.onExhausted != 'deadLetter' || (has(self.deadLetter) && self.deadLetter != '')",
          message: 'onExhausted: deadLetter needs delivery.deadLetter',
        },
      ],
    },
  );
}

/** CEL: exactly one of functionName and functionSelector is set. */
export const oneTargetRule = {
  rule: "(has(self.functionName) && self.functionName != '') != has(self.functionSelector)",
  message: 'set exactly one of functionName and functionSelector',
};

/** The autoscaling block of the event triggers; `load` names what a replica takes (lag, messages). */
export function autoscalingSchema(load: string, defaultTarget: number): Schema {
  return s.object(
    `Scales each target function's Deployment on ${load}, between minReplicas and maxReplicas (the trigger controller sets the scale subresource; an HorizontalPodAutoscaler on the same Deployment wins and is reported in status).`,
    {
      minReplicas: s.integer('Fewest replicas; 0 scales a function to zero while it has nothing to deliver (the first event activates it). Default 1.', { minimum: 0, maximum: 1000 }),
      maxReplicas: s.integer('Most replicas.', { minimum: 1, maximum: 1000 }),
      targetPerReplica: s.integer(`${load[0]?.toUpperCase() ?? ''}${load.slice(1)} one replica is meant to take. Default ${String(defaultTarget)}.`, { minimum: 1, maximum: 1_000_000_000 }),
      cooldown: waitSchema('How long the load must have asked for fewer replicas before they go down, and to zero. Default 5m.'),
      pollingInterval: waitSchema('How often the load is read to scale. Default 5s.'),
    },
    {
      required: ['maxReplicas'],
      'x-kubernetes-validations': [{ rule: '!has(self.minReplicas) || self.minReplicas <= self.maxReplicas', message: 'minReplicas must not exceed maxReplicas', fieldPath: '.minReplicas' }],
    },
  );
}

export const autoscalingStatusSchema: Schema = s.array(
  'Scaling per target function, when spec.autoscaling is set.',
  s.object(
    'One function.',
    {
      function: s.string('Function name.'),
      replicas: s.integer('Replicas of its Deployment as last read.', { minimum: 0 }),
      desiredReplicas: s.integer('Replicas the load asks for now (the cool-down may hold more).', { minimum: 0 }),
      metric: s.integer('The lag or depth the decision used.', { format: 'int64', minimum: 0 }),
      lastScaleTime: s.string('When the trigger last changed the replicas.', { format: 'date-time' }),
    },
    { required: ['function', 'replicas', 'desiredReplicas', 'metric'] },
  ),
  { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['function'], maxItems: 256 },
);
