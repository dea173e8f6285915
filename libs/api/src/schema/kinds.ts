import { AUTOSCALING_DEFAULTS } from '../autoscaling.js';
import { CONCURRENCY_POLICIES, SCHEDULE_MESSAGE, SCHEDULE_PATTERN, TIME_ZONE_PATTERN } from '../cronjob-trigger.js';
import { MAX_WAIT_SECONDS } from '../delivery.js';
import { CHECKSUM_PATTERN, FUNCTION_CONTENT_TYPE_PATTERN, HANDLER_PATTERN } from '../function.js';
import { GATEWAYS } from '../http-trigger.js';
import { INITIAL_OFFSETS } from '../kafka-trigger.js';
import {
  DNS_SUBDOMAIN_PATTERN,
  autoscalingSchema,
  autoscalingStatusSchema,
  deliverySchema,
  durationSchema,
  labelSelectorSchema,
  objectName,
  oneTargetRule,
  statusSchema,
} from './common.js';
import { buildCrd, type CustomResourceDefinition, type KindDefinition } from './crd.js';
import { s, type Schema } from './openapi.js';

// Field names with a dash are spelled `__dash__` inside CEL (Kubernetes CEL escaping).

export const functionKind: KindDefinition = {
  kind: 'Function',
  plural: 'functions',
  shortNames: ['kfn'],
  description: 'A function: code, runtime and handler, run as a Deployment behind a Service.',
  spec: s.object(
    'The function. Field names are those of the original kubeless v1beta1 API.',
    {
      handler: s.string('<module>.<function>, e.g. hello.handler. Required with a runtime.', {
        pattern: HANDLER_PATTERN,
        maxLength: 253,
      }),
      runtime: s.string('Runtime id from kubeless-config, e.g. python3.12 or nodejs24. Empty with a custom image.', {
        pattern: '^([a-zA-Z_-]+[0-9.]*)?$',
        maxLength: 63,
      }),
      function: s.string('The code: text, base64 or a URL, per function-content-type.'),
      'function-content-type': s.string(
        'text (default), base64 or url, optionally +zip or +compressedtar, optionally +deps.',
        { pattern: FUNCTION_CONTENT_TYPE_PATTERN },
      ),
      checksum: s.string('sha256:<64 hex> of the code bytes; empty is accepted (deprecated).', {
        pattern: CHECKSUM_PATTERN,
      }),
      deps: s.string("The runtime's dependency file: package.json or requirements.txt."),
      timeout: {
        description: 'Seconds per invocation, as a string ("180") or an integer. Default 180.',
        'x-kubernetes-int-or-string': true,
        'x-kubernetes-validations': [
          {
            // An empty string is what old manifests carry (the default applies); 0 would crash-loop
            // the runtimes, and more than MAX_WAIT_SECONDS would make their timers fire at once.
            rule: `type(self) == int ? (self > 0 && self <= ${String(MAX_WAIT_SECONDS)}) : (self == '' || (self.matches('^[0-9]{1,7}$') && int(self) > 0 && int(self) <= ${String(MAX_WAIT_SECONDS)}))`,
            message: `timeout must be a whole number of seconds from 1 to ${String(MAX_WAIT_SECONDS)}`,
          },
        ],
      },
      deployment: s.opaque('apps/v1 Deployment merged under the generated one; container 0 is the function.'),
      service: s.opaque('core/v1 ServiceSpec for the function Service.'),
      horizontalPodAutoscaler: s.opaque('HorizontalPodAutoscaler; ignored unless it names itself and a target.'),
    },
    {
      'x-kubernetes-validations': [
        {
          rule: "!has(self.runtime) || self.runtime == '' || (has(self.handler) && self.handler != '')",
          message: 'handler is required when runtime is set',
          fieldPath: '.handler',
          reason: 'FieldValueRequired',
        },
      ],
    },
  ),
  status: statusSchema({
    readyReplicas: s.integer('Ready replicas of the Deployment.', { format: 'int32', minimum: 0 }),
    replicas: s.integer('Desired replicas of the Deployment.', { format: 'int32', minimum: 0 }),
    url: s.string('In-cluster URL of the function Service.'),
  }),
  columns: [
    { name: 'Runtime', type: 'string', jsonPath: '.spec.runtime' },
    { name: 'Handler', type: 'string', jsonPath: '.spec.handler' },
  ],
};

export const httpTriggerKind: KindDefinition = {
  kind: 'HTTPTrigger',
  plural: 'httptriggers',
  shortNames: ['khttp'],
  description: 'Publishes a function through an Ingress (nginx, traefik or kong) or a Gateway API HTTPRoute.',
  spec: s.object(
    'The route. Field names are those of the original kubeless v1beta1 API; new fields are camelCase.',
    {
      'function-name': objectName('The function (same namespace) to expose.'),
      'host-name': s.string('Host of the rule; a DNS name, optionally with a leading *.', {
        pattern: '^((\\*\\.)?([a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)(\\.[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)*)?$',
        maxLength: 253,
      }),
      path: s.string('Path of the rule, relative to /.', { maxLength: 1024, pattern: '^[^\\s]*$' }),
      tls: s.boolean('Request a certificate through cert-manager (ACME). Exclusive with tls-secret.'),
      'tls-secret': objectName('An existing kubernetes.io/tls Secret for the host.'),
      'basic-auth-secret': objectName('A Secret with basic-auth credentials (htpasswd in key auth).'),
      gateway: s.enumOf('The ingress controller family. Default nginx.', GATEWAYS, { default: 'nginx' }),
      'cors-enable': s.boolean('Answer CORS preflights and add CORS headers.'),
      ingressClassName: s.string('Overrides the ingress class; default the gateway name.', { maxLength: 253 }),
      acmeIssuer: s.object(
        'The cert-manager issuer used with tls: true; default the controller setting.',
        {
          name: objectName('Issuer name.'),
          kind: s.enumOf('Issuer kind. Default ClusterIssuer.', ['Issuer', 'ClusterIssuer']),
        },
        { required: ['name'] },
      ),
      gatewayParent: s.object(
        'Make a Gateway API HTTPRoute attached to this Gateway instead of an Ingress.',
        {
          name: objectName('Gateway name.'),
          namespace: objectName('Gateway namespace; default the trigger namespace.'),
          sectionName: s.string('Listener name.', { maxLength: 253 }),
        },
        { required: ['name'] },
      ),
    },
    {
      required: ['function-name'],
      'x-kubernetes-validations': [
        {
          rule: "!(has(self.tls) && self.tls && has(self.tls__dash__secret) && self.tls__dash__secret != '')",
          message: 'tls (ACME) and tls-secret are mutually exclusive',
        },
      ],
    },
  ),
  status: statusSchema({
    url: s.string('URL the route answers on.'),
    address: s.string('Address reported by the gateway.'),
  }),
  columns: [
    { name: 'Function', type: 'string', jsonPath: '.spec.function-name' },
    { name: 'Host', type: 'string', jsonPath: '.spec.host-name' },
    { name: 'Path', type: 'string', jsonPath: '.spec.path', priority: 1 },
    { name: 'Gateway', type: 'string', jsonPath: '.spec.gateway' },
  ],
};

export const kafkaTriggerKind: KindDefinition = {
  kind: 'KafkaTrigger',
  plural: 'kafkatriggers',
  shortNames: ['kkafka'],
  description: 'Delivers every message of Kafka topics to the selected functions as CloudEvents, at least once.',
  spec: s.object(
    'Topics and targets. topic and functionSelector are the original fields.',
    {
      topic: s.string('The topic (original field).', { maxLength: 249, pattern: '^[a-zA-Z0-9._-]*$' }),
      topics: s.array('More topics, merged with topic.', s.string('A topic.', { maxLength: 249, pattern: '^[a-zA-Z0-9._-]+$' }), {
        'x-kubernetes-list-type': 'set',
        maxItems: 64,
      }),
      functionSelector: labelSelectorSchema,
      functionName: objectName('A single target function, instead of functionSelector.'),
      consumerGroup: s.string('Prefix of the consumer group names (one group per function).', { maxLength: 200 }),
      initialOffset: s.enumOf('Where a new consumer group starts. Default latest.', INITIAL_OFFSETS),
      brokers: s.array('Bootstrap brokers (host:port) for this trigger, instead of the controller setting.', s.string('host:port'), {
        'x-kubernetes-list-type': 'atomic',
        maxItems: 32,
      }),
      authSecret: objectName('A Secret with SASL and TLS settings for the brokers.'),
      delivery: deliverySchema('A Kafka topic for messages whose retries are exhausted.', { commitWindow: true }),
      autoscaling: autoscalingSchema('the lag of its consumer group', AUTOSCALING_DEFAULTS.kafkaTarget),
    },
    {
      'x-kubernetes-validations': [
        {
          rule: "(has(self.topic) && self.topic != '') || (has(self.topics) && size(self.topics) > 0)",
          message: 'set topic or topics',
          reason: 'FieldValueRequired',
        },
        oneTargetRule,
      ],
    },
  ),
  status: statusSchema({
    functions: s.array('Functions the trigger delivers to.', s.string('Function name.'), { 'x-kubernetes-list-type': 'atomic' }),
    lag: s.integer('Total lag of the consumer groups, in messages.', { format: 'int64', minimum: 0 }),
    autoscaling: autoscalingStatusSchema,
  }),
  columns: [
    { name: 'Topic', type: 'string', jsonPath: '.spec.topic' },
    { name: 'Topics', type: 'string', jsonPath: '.spec.topics', priority: 1 },
    { name: 'Selector', type: 'string', jsonPath: '.spec.functionSelector.matchLabels' },
    { name: 'Function', type: 'string', jsonPath: '.spec.functionName' },
    { name: 'Lag', type: 'integer', jsonPath: '.status.lag', priority: 1 },
  ],
};

export const sqsTriggerKind: KindDefinition = {
  kind: 'SQSTrigger',
  plural: 'sqstriggers',
  shortNames: ['ksqs'],
  description: 'Delivers every message of an SQS queue to the selected functions as CloudEvents, at least once.',
  spec: s.object(
    'The queue and targets.',
    {
      queueUrl: s.string('Queue URL.', { pattern: '^https?://.+', maxLength: 2048 }),
      queueName: s.string('Queue name; with region.', { pattern: '^[a-zA-Z0-9_-]{1,75}(\\.fifo)?$' }),
      region: s.string('AWS region, e.g. us-east-1.', { pattern: '^[a-z0-9-]+$', maxLength: 64 }),
      endpoint: s.string('Endpoint override, e.g. an SQS-compatible server.', { pattern: '^https?://.+', maxLength: 2048 }),
      credentialsSecret: objectName(
        'A Secret with aws_access_key_id and aws_secret_access_key; else the default provider chain (IRSA, Pod Identity).',
      ),
      functionName: objectName('A single target function, instead of functionSelector.'),
      functionSelector: labelSelectorSchema,
      batchSize: s.integer('Messages per receive. Default 10.', { minimum: 1, maximum: 10 }),
      receivers: s.integer('Concurrent long-poll receivers. Default 1.', { minimum: 1, maximum: 64 }),
      visibilityTimeout: durationSchema('Visibility timeout of received messages; default the queue setting.'),
      delivery: deliverySchema('An SQS queue (name or URL) for messages whose retries are exhausted.'),
      autoscaling: autoscalingSchema('the messages of the queue, visible and in flight', AUTOSCALING_DEFAULTS.sqsTarget),
    },
    {
      'x-kubernetes-validations': [
        {
          rule: "has(self.queueUrl) != has(self.queueName)",
          message: 'set exactly one of queueUrl and queueName',
        },
        {
          rule: "!has(self.queueName) || has(self.region)",
          message: 'queueName needs region',
          fieldPath: '.region',
          reason: 'FieldValueRequired',
        },
        oneTargetRule,
      ],
    },
  ),
  status: statusSchema({
    functions: s.array('Functions the trigger delivers to.', s.string('Function name.'), { 'x-kubernetes-list-type': 'atomic' }),
    approximateQueueDepth: s.integer('ApproximateNumberOfMessages of the queue.', { format: 'int64', minimum: 0 }),
    autoscaling: autoscalingStatusSchema,
  }),
  columns: [
    { name: 'Queue', type: 'string', jsonPath: '.spec.queueName' },
    { name: 'QueueURL', type: 'string', jsonPath: '.spec.queueUrl', priority: 1 },
    { name: 'Function', type: 'string', jsonPath: '.spec.functionName' },
    { name: 'Depth', type: 'integer', jsonPath: '.status.approximateQueueDepth', priority: 1 },
  ],
};

/** The fields of the shared delivery block a scheduled tick uses (see CronDeliverySpec). */
const CRON_DELIVERY_FIELDS = ['timeout', 'retry', 'backoffPolicy', 'backoffDelay', 'backoffMax', 'eventMode'];

function cronDeliverySchema(): Schema {
  const full = deliverySchema('unused');
  const props = full.properties ?? {};
  return s.object(
    'How a tick is delivered: per-attempt timeout, retries, backoff and CloudEvents mode (the other triggers\' block; a failed slot ends Failed in status.lastResult, there is no dead letter).',
    Object.fromEntries(CRON_DELIVERY_FIELDS.flatMap((k) => (props[k] ? [[k, props[k]]] : []))),
  );
}

export const cronJobTriggerKind: KindDefinition = {
  kind: 'CronJobTrigger',
  plural: 'cronjobtriggers',
  shortNames: ['kcron'],
  description: 'Calls a function on a cron schedule with a CloudEvent per slot, one attempt sequence per slot.',
  spec: s.object(
    'The schedule and target. function-name, schedule and payload are the original fields.',
    {
      'function-name': s.string('The function (same namespace) to call.', { maxLength: 253, pattern: DNS_SUBDOMAIN_PATTERN }),
      schedule: s.string('Five cron fields (minute hour day-of-month month day-of-week) or @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly.', {
        maxLength: 256,
        'x-kubernetes-validations': [{ rule: `self.matches(${JSON.stringify(SCHEDULE_PATTERN)})`, message: SCHEDULE_MESSAGE }],
      }),
      payload: {
        description: 'Any JSON: the body of every tick (JSON-encoded). Absent: an empty body.',
        'x-kubernetes-preserve-unknown-fields': true,
      },
      timeZone: s.string('IANA time zone of the schedule, e.g. Europe/Paris. Default UTC.', {
        maxLength: 64,
        pattern: TIME_ZONE_PATTERN,
        // CEL's timestamp accessors take an IANA zone and fail on one the API server's time zone
        // database lacks: the rule is a lookup of the zone, not a comparison.
        'x-kubernetes-validations': [{ rule: "timestamp('2000-01-01T00:00:00Z').getHours(self) >= 0", message: 'timeZone must be an IANA time zone the API server knows, e.g. Europe/Paris, America/New_York or UTC' }],
      }),
      concurrencyPolicy: s.enumOf('Allow (default): slots overlap; Forbid: a slot due while another is under way is skipped; Replace: it ends the one under way.', CONCURRENCY_POLICIES),
      startingDeadlineSeconds: s.integer('A slot not started within this many seconds of its time (no leader ran, say) is missed, not run. Default: no deadline.', {
        format: 'int64',
        minimum: 1,
        maximum: MAX_WAIT_SECONDS,
      }),
      suspend: s.boolean('Stop scheduling new slots. Default false.'),
      delivery: cronDeliverySchema(),
    },
    { required: ['function-name', 'schedule'] },
  ),
  status: statusSchema({
    lastScheduleTime: s.string('The last slot claimed (started, skipped or missed).', { format: 'date-time' }),
    lastSuccessfulTime: s.string('The last slot the function accepted.', { format: 'date-time' }),
    nextScheduleTime: s.string('The next slot of the schedule.', { format: 'date-time' }),
    active: s.array(
      'Slots in their attempt sequence.',
      s.object(
        'A slot under way; written before every attempt, so a new leader continues it.',
        {
          slot: s.string('The slot time.', { format: 'date-time' }),
          id: s.string('The CloudEvent id of the slot.', { maxLength: 1024 }),
          attempts: s.integer('Attempts started.', { format: 'int32', minimum: 0 }),
          lastAttemptTime: s.string('When the last attempt was claimed.', { format: 'date-time' }),
          nextAttemptTime: s.string('Not before this time starts the next attempt.', { format: 'date-time' }),
          lastError: s.string('The last failure.', { maxLength: 4096 }),
        },
        { required: ['slot', 'id', 'attempts'] },
      ),
      { 'x-kubernetes-list-type': 'atomic', maxItems: 64 },
    ),
    lastResult: s.object('The last slot that ended.', {
      slot: s.string('The slot time.', { format: 'date-time' }),
      id: s.string('The CloudEvent id of the slot.', { maxLength: 1024 }),
      outcome: s.enumOf('How it ended.', ['Succeeded', 'Failed', 'Skipped', 'Missed', 'Replaced']),
      attempts: s.integer('Attempts made.', { format: 'int32', minimum: 0 }),
      time: s.string('When it ended.', { format: 'date-time' }),
      message: s.string('Details.', { maxLength: 4096 }),
    }),
  }),
  columns: [
    { name: 'Schedule', type: 'string', jsonPath: '.spec.schedule' },
    { name: 'Function', type: 'string', jsonPath: '.spec.function-name' },
    { name: 'Last Schedule', type: 'date', jsonPath: '.status.lastScheduleTime' },
    { name: 'Time Zone', type: 'string', jsonPath: '.spec.timeZone', priority: 1 },
  ],
};

export const KINDS: readonly KindDefinition[] = [functionKind, httpTriggerKind, kafkaTriggerKind, sqsTriggerKind, cronJobTriggerKind];

/** The kubeless.io CRDs, in a stable order. */
export function buildCrds(): CustomResourceDefinition[] {
  return KINDS.map(buildCrd);
}
