/**
 * Trigger objects from `kubeless trigger <kind> create|update` flags (as the original kubeless CLI's;
 * docs/architecture.md#the-api-libsapi). Create builds a whole object; update changes only what was given. Pure.
 */
import {
  API_VERSION,
  BACKOFF_POLICIES,
  CONCURRENCY_POLICIES,
  MAX_WAIT_SECONDS,
  scheduleProblem,
  timeZoneProblem,
  type CronDeliverySpec,
  type CronJobTrigger,
  type CronJobTriggerSpec,
  type OwnerReference,
  EVENT_MODES,
  GATEWAYS,
  INITIAL_OFFSETS,
  ON_EXHAUSTED,
  ORDERINGS,
  type DeliverySpec,
  type HTTPTrigger,
  type HTTPTriggerSpec,
  type KafkaTrigger,
  type KafkaTriggerSpec,
  type LabelSelector,
  type SQSTrigger,
  type SQSTriggerSpec,
} from '@kubeless/api';
import { CliError } from './errors.js';
import { parseEnum, parseGoDuration, parseIntFlag, parseList, parseSelector, parseWait } from './parse.js';

const LABELS = { 'created-by': 'kubeless' };

// ---- HTTP ----

/** Flags of `trigger http create|update` as commander gives them. */
export interface HttpFlags {
  functionName?: string;
  hostname?: string;
  path?: string;
  gateway?: string;
  basicAuthSecret?: string;
  tlsSecret?: string;
  enableTLSAcme?: boolean;
  corsEnable?: boolean;
  ingressClass?: string;
}

function httpChanges(f: HttpFlags): Partial<HTTPTriggerSpec> {
  const s: Partial<HTTPTriggerSpec> = {};
  if (f.functionName !== undefined) s['function-name'] = f.functionName;
  if (f.hostname !== undefined) s['host-name'] = f.hostname;
  if (f.path !== undefined) s.path = f.path.replace(/^\/+/, '');
  if (f.gateway !== undefined) s.gateway = parseEnum('gateway', f.gateway, GATEWAYS);
  if (f.basicAuthSecret !== undefined) s['basic-auth-secret'] = f.basicAuthSecret;
  if (f.tlsSecret !== undefined) s['tls-secret'] = f.tlsSecret;
  if (f.enableTLSAcme !== undefined) s.tls = f.enableTLSAcme;
  if (f.corsEnable !== undefined) s['cors-enable'] = f.corsEnable;
  if (f.ingressClass !== undefined) s.ingressClassName = f.ingressClass;
  return s;
}

function checkHttp(spec: HTTPTriggerSpec): void {
  if (spec.tls === true && spec['tls-secret']) throw new CliError('--enableTLSAcme and --tls-secret are mutually exclusive');
  if (spec['basic-auth-secret'] && spec.gateway === 'kong') throw new CliError('--basic-auth-secret works with the nginx and traefik gateways only');
}

/** `trigger http create`: gateway defaults to nginx. */
export function buildHttpTrigger(name: string, namespace: string, f: HttpFlags): HTTPTrigger {
  if (!f.functionName) throw new CliError('--function-name is required');
  const spec: HTTPTriggerSpec = { 'function-name': f.functionName, gateway: 'nginx', ...httpChanges(f) };
  checkHttp(spec);
  return { apiVersion: API_VERSION, kind: 'HTTPTrigger', metadata: { name, namespace, labels: { ...LABELS } }, spec };
}

export function updateHttpTrigger(existing: HTTPTrigger, f: HttpFlags): HTTPTrigger {
  const t = withoutServerFields(existing);
  t.spec = { ...t.spec, ...httpChanges(f) };
  checkHttp(t.spec);
  return t;
}

// ---- delivery (Kafka and SQS) ----

export interface DeliveryFlags {
  ordering?: string;
  maxInFlight?: string;
  deliveryTimeout?: string;
  retry?: string;
  backoffPolicy?: string;
  backoffDelay?: string;
  backoffMax?: string;
  deadLetter?: string;
  onExhausted?: string;
  rateLimit?: string;
  eventMode?: string;
}

export function deliveryChanges(f: DeliveryFlags): DeliverySpec {
  const d: DeliverySpec = {};
  if (f.ordering !== undefined) d.ordering = parseEnum('ordering', f.ordering, ORDERINGS);
  if (f.maxInFlight !== undefined) d.maxInFlight = parseIntFlag('max-in-flight', f.maxInFlight, 1);
  if (f.deliveryTimeout !== undefined) d.timeout = parseWait('delivery-timeout', f.deliveryTimeout);
  if (f.retry !== undefined) d.retry = parseIntFlag('retry', f.retry, 0);
  if (f.backoffPolicy !== undefined) d.backoffPolicy = parseEnum('backoff-policy', f.backoffPolicy, BACKOFF_POLICIES);
  if (f.backoffDelay !== undefined) d.backoffDelay = parseWait('backoff-delay', f.backoffDelay);
  if (f.backoffMax !== undefined) d.backoffMax = parseWait('backoff-max', f.backoffMax);
  if (f.deadLetter !== undefined) d.deadLetter = f.deadLetter;
  if (f.onExhausted !== undefined) d.onExhausted = parseEnum('on-exhausted', f.onExhausted, ON_EXHAUSTED);
  if (f.rateLimit !== undefined) d.rateLimit = parseIntFlag('rate-limit', f.rateLimit, 1);
  if (f.eventMode !== undefined) d.eventMode = parseEnum('event-mode', f.eventMode, EVENT_MODES);
  if (d.onExhausted === 'deadLetter' && !d.deadLetter) throw new CliError('--on-exhausted deadLetter needs --dead-letter');
  return d;
}

function mergeDelivery(old: DeliverySpec | undefined, changes: DeliverySpec): DeliverySpec | undefined {
  const d = { ...old, ...changes };
  return Object.keys(d).length > 0 ? d : undefined;
}

/** Target flags shared by Kafka and SQS: exactly one of a function name and a selector. */
interface TargetFlags {
  functionName?: string;
  functionSelector?: string;
}

function target(f: TargetFlags): { functionName?: string; functionSelector?: LabelSelector } {
  if (f.functionName !== undefined && f.functionSelector !== undefined) throw new CliError('set only one of --function-name and --function-selector');
  if (f.functionName !== undefined) return { functionName: f.functionName };
  if (f.functionSelector !== undefined) return { functionSelector: { matchLabels: parseSelector('function-selector', f.functionSelector) } };
  return {};
}

/** Replaces the target when one was given (so the object keeps exactly one). */
function retarget<S extends { functionName?: string; functionSelector?: LabelSelector }>(spec: S, f: TargetFlags): S {
  const t = target(f);
  if (t.functionName === undefined && t.functionSelector === undefined) return spec;
  const { functionName: _n, functionSelector: _s, ...rest } = spec;
  return { ...rest, ...t } as S;
}

// ---- Kafka ----

export interface KafkaFlags extends DeliveryFlags, TargetFlags {
  triggerTopic?: string;
  consumerGroup?: string;
  initialOffset?: string;
  brokers?: string;
  authSecret?: string;
}

function kafkaChanges(f: KafkaFlags): Partial<KafkaTriggerSpec> {
  const s: Partial<KafkaTriggerSpec> = {};
  if (f.triggerTopic !== undefined) {
    const topics = parseList([f.triggerTopic]);
    if (topics.length === 0) throw new CliError('--trigger-topic is empty');
    s.topic = topics[0];
    if (topics.length > 1) s.topics = topics.slice(1);
  }
  if (f.consumerGroup !== undefined) s.consumerGroup = f.consumerGroup;
  if (f.initialOffset !== undefined) s.initialOffset = parseEnum('initial-offset', f.initialOffset, INITIAL_OFFSETS);
  if (f.brokers !== undefined) s.brokers = parseList([f.brokers]);
  if (f.authSecret !== undefined) s.authSecret = f.authSecret;
  return s;
}

/** `trigger kafka create`: `--trigger-topic` and one of `--function-selector` / `--function-name` are required. */
export function buildKafkaTrigger(name: string, namespace: string, f: KafkaFlags): KafkaTrigger {
  if (f.triggerTopic === undefined) throw new CliError('--trigger-topic is required');
  const t = target(f);
  if (t.functionName === undefined && t.functionSelector === undefined) throw new CliError('--function-selector (or --function-name) is required');
  const delivery = mergeDelivery(undefined, deliveryChanges(f));
  const spec: KafkaTriggerSpec = { ...kafkaChanges(f), ...t, ...(delivery ? { delivery } : {}) };
  return { apiVersion: API_VERSION, kind: 'KafkaTrigger', metadata: { name, namespace, labels: { ...LABELS } }, spec };
}

export function updateKafkaTrigger(existing: KafkaTrigger, f: KafkaFlags): KafkaTrigger {
  const t = withoutServerFields(existing);
  const changes = kafkaChanges(f);
  let spec: KafkaTriggerSpec = { ...t.spec, ...changes };
  // A new --trigger-topic replaces the whole topic list.
  if (changes.topic !== undefined && changes.topics === undefined) delete spec.topics;
  spec = retarget(spec, f);
  const delivery = mergeDelivery(spec.delivery, deliveryChanges(f));
  if (delivery) spec.delivery = delivery;
  t.spec = spec;
  return t;
}

// ---- SQS ----

export interface SqsFlags extends DeliveryFlags, TargetFlags {
  queueUrl?: string;
  queueName?: string;
  region?: string;
  endpoint?: string;
  credentialsSecret?: string;
  batchSize?: string;
  receivers?: string;
  visibilityTimeout?: string;
}

function sqsChanges(f: SqsFlags): Partial<SQSTriggerSpec> {
  const s: Partial<SQSTriggerSpec> = {};
  if (f.queueUrl !== undefined && f.queueName !== undefined) throw new CliError('set only one of --queue-url and --queue-name');
  if (f.queueUrl !== undefined) s.queueUrl = f.queueUrl;
  if (f.queueName !== undefined) s.queueName = f.queueName;
  if (f.region !== undefined) s.region = f.region;
  if (f.endpoint !== undefined) s.endpoint = f.endpoint;
  if (f.credentialsSecret !== undefined) s.credentialsSecret = f.credentialsSecret;
  if (f.batchSize !== undefined) s.batchSize = parseIntFlag('batch-size', f.batchSize, 1, 10);
  if (f.receivers !== undefined) s.receivers = parseIntFlag('receivers', f.receivers, 1);
  if (f.visibilityTimeout !== undefined) s.visibilityTimeout = parseGoDuration('visibility-timeout', f.visibilityTimeout);
  return s;
}

function checkSqs(spec: SQSTriggerSpec): void {
  if (spec.queueName !== undefined && !spec.region) throw new CliError('--queue-name needs --region');
}

/** `trigger sqs create`: a queue (`--queue-url`, or `--queue-name` with `--region`) and a target are required. */
export function buildSqsTrigger(name: string, namespace: string, f: SqsFlags): SQSTrigger {
  if (f.queueUrl === undefined && f.queueName === undefined) throw new CliError('--queue-url or --queue-name is required');
  const t = target(f);
  if (t.functionName === undefined && t.functionSelector === undefined) throw new CliError('--function-name or --function-selector is required');
  const delivery = mergeDelivery(undefined, deliveryChanges(f));
  const spec: SQSTriggerSpec = { ...sqsChanges(f), ...t, ...(delivery ? { delivery } : {}) };
  checkSqs(spec);
  return { apiVersion: API_VERSION, kind: 'SQSTrigger', metadata: { name, namespace, labels: { ...LABELS } }, spec };
}

export function updateSqsTrigger(existing: SQSTrigger, f: SqsFlags): SQSTrigger {
  const t = withoutServerFields(existing);
  const changes = sqsChanges(f);
  let spec: SQSTriggerSpec = { ...t.spec, ...changes };
  // The queue is given by exactly one of URL and name.
  if (changes.queueUrl !== undefined) delete spec.queueName;
  if (changes.queueName !== undefined) delete spec.queueUrl;
  spec = retarget(spec, f);
  const delivery = mergeDelivery(spec.delivery, deliveryChanges(f));
  if (delivery) spec.delivery = delivery;
  checkSqs(spec);
  t.spec = spec;
  return t;
}

// ---- CronJob ----

/** Flags of `trigger cronjob create|update` (the original's, then the new settings). */
export interface CronFlags {
  function?: string;
  schedule?: string;
  payload?: string;
  /** The file's text: the command reads `-f/--payload-from-file` before building. */
  payloadFromFile?: string;
  timeZone?: string;
  concurrencyPolicy?: string;
  startingDeadlineSeconds?: string;
  suspend?: boolean;
  deliveryTimeout?: string;
  retry?: string;
  backoffPolicy?: string;
  backoffDelay?: string;
  backoffMax?: string;
  eventMode?: string;
}

/** `--schedule`, checked as the CRD checks it (the original validated with robfig/cron ParseStandard). */
export function parseSchedule(value: string): string {
  const problem = scheduleProblem(value);
  if (problem) throw new CliError(`--schedule: ${problem}`);
  return value.trim();
}

/** `-p/--payload` or the text of `-f/--payload-from-file`: JSON, kept as the value it parses to. */
export function parsePayload(flag: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new CliError(`--${flag}: not valid JSON: ${(err as Error).message}`);
  }
}

function cronChanges(f: CronFlags): Partial<CronJobTriggerSpec> {
  const s: Partial<CronJobTriggerSpec> = {};
  if (f.payload !== undefined && f.payloadFromFile !== undefined) throw new CliError('set only one of -p/--payload and -f/--payload-from-file');
  if (f.function !== undefined) {
    if (f.function === '') throw new CliError('--function is empty');
    s['function-name'] = f.function;
  }
  if (f.schedule !== undefined) s.schedule = parseSchedule(f.schedule);
  if (f.payload !== undefined) s.payload = parsePayload('payload', f.payload);
  if (f.payloadFromFile !== undefined) s.payload = parsePayload('payload-from-file', f.payloadFromFile);
  if (f.timeZone !== undefined) {
    const problem = timeZoneProblem(f.timeZone);
    if (problem) throw new CliError(`--time-zone: ${problem}`);
    s.timeZone = f.timeZone;
  }
  if (f.concurrencyPolicy !== undefined) s.concurrencyPolicy = parseEnum('concurrency-policy', f.concurrencyPolicy, CONCURRENCY_POLICIES);
  if (f.startingDeadlineSeconds !== undefined) s.startingDeadlineSeconds = parseIntFlag('starting-deadline-seconds', f.startingDeadlineSeconds, 1, MAX_WAIT_SECONDS);
  if (f.suspend !== undefined) s.suspend = f.suspend;
  return s;
}

function cronDeliveryChanges(f: CronFlags): CronDeliverySpec {
  const d: CronDeliverySpec = {};
  if (f.deliveryTimeout !== undefined) d.timeout = parseWait('delivery-timeout', f.deliveryTimeout);
  if (f.retry !== undefined) d.retry = parseIntFlag('retry', f.retry, 0, 1000);
  if (f.backoffPolicy !== undefined) d.backoffPolicy = parseEnum('backoff-policy', f.backoffPolicy, BACKOFF_POLICIES);
  if (f.backoffDelay !== undefined) d.backoffDelay = parseWait('backoff-delay', f.backoffDelay);
  if (f.backoffMax !== undefined) d.backoffMax = parseWait('backoff-max', f.backoffMax);
  if (f.eventMode !== undefined) d.eventMode = parseEnum('event-mode', f.eventMode, EVENT_MODES);
  return d;
}

/** The reference that makes a trigger go with its function (garbage collection), as the original deleted a function's CronJobTriggers. */
export function functionOwner(fn: { metadata?: { name?: string; uid?: string } }): OwnerReference {
  return { apiVersion: API_VERSION, kind: 'Function', name: fn.metadata?.name ?? '', uid: fn.metadata?.uid ?? '' };
}

/** Replaces the Function owner of `meta` (a trigger retargeted goes with its new function). */
function withFunctionOwner<M extends { ownerReferences?: OwnerReference[] }>(meta: M, owner: OwnerReference | undefined): M {
  if (!owner) return meta;
  const others = (meta.ownerReferences ?? []).filter((r) => !(r.kind === 'Function' && r.apiVersion.startsWith('kubeless.io/')));
  return { ...meta, ownerReferences: [...others, owner] };
}

/**
 * `trigger cronjob create` (and `function deploy --schedule`): `--function` and `--schedule` are
 * required; with `owner` (the function read back) the trigger is deleted with its function.
 */
export function buildCronJobTrigger(name: string, namespace: string, f: CronFlags, owner?: OwnerReference): CronJobTrigger {
  if (!f.function) throw new CliError('--function is required');
  if (f.schedule === undefined) throw new CliError('--schedule is required');
  const changes = cronChanges(f);
  const delivery = cronDeliveryChanges(f);
  const spec: CronJobTriggerSpec = { 'function-name': f.function, schedule: changes.schedule ?? '', ...changes, ...(Object.keys(delivery).length > 0 ? { delivery } : {}) };
  const metadata: CronJobTrigger['metadata'] = { name, namespace, labels: { ...LABELS } };
  return { apiVersion: API_VERSION, kind: 'CronJobTrigger', metadata: withFunctionOwner(metadata, owner), spec };
}

/** `trigger cronjob update` (and `function update --schedule`): only what is given changes. */
export function updateCronJobTrigger(existing: CronJobTrigger, f: CronFlags, owner?: OwnerReference): CronJobTrigger {
  const t = withoutServerFields(existing);
  const changes = cronChanges(f);
  // A new payload replaces the old one whole (JSON values do not merge).
  const delivery = { ...t.spec.delivery, ...cronDeliveryChanges(f) };
  t.spec = { ...t.spec, ...changes, ...(Object.keys(delivery).length > 0 ? { delivery } : {}) };
  t.metadata = withFunctionOwner(t.metadata, owner);
  return t;
}

/** A copy without `managedFields` and `status`, ready for a full update (resourceVersion kept). */
export function withoutServerFields<T extends { metadata: object; status?: unknown }>(obj: T): T {
  const copy = structuredClone(obj);
  delete (copy.metadata as { managedFields?: unknown }).managedFields;
  delete copy.status;
  return copy;
}
