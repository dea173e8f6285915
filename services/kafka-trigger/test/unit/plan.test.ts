import { API_VERSION, functionTimeoutMs, parseIdentityGrants, type DeliverySpec, type Function as KubelessFunction, type KafkaTrigger, type KafkaTriggerSpec } from '@kubeless/api';
import { describe, expect, it } from 'vitest';
import { consumerGroupId, planTrigger } from '../../src/plan.js';

// ns1 and other may use the controller's identity on any topic; the tenancy rules have their own tests below.
const defaults = { brokers: ['kafka-0:9092', 'kafka-1:9092'], grants: parseIdentityGrants('[{"namespace":"ns1","topics":[".*"],"deadLetterTopics":[".*"]},{"namespace":"other","topics":[".*"]}]') };

const fn = (name: string, labels?: Record<string, string>, o: { namespace?: string; timeout?: string | number; deleting?: boolean } = {}): KubelessFunction => ({
  apiVersion: API_VERSION,
  kind: 'Function',
  metadata: {
    name,
    namespace: o.namespace ?? 'ns1',
    ...(labels ? { labels } : {}),
    ...(o.deleting ? { deletionTimestamp: '2024-01-01T00:00:00Z' } : {}),
  },
  spec: { handler: 'h.f', runtime: 'nodejs24', ...(o.timeout === undefined ? {} : { timeout: o.timeout }) },
});

const trigger = (spec: KafkaTriggerSpec, meta: Partial<KafkaTrigger['metadata']> = {}): KafkaTrigger => ({
  apiVersion: API_VERSION,
  kind: 'KafkaTrigger',
  metadata: { name: 't1', namespace: 'ns1', ...meta },
  spec,
});

const world: KubelessFunction[] = [
  fn('echo', { app: 'echo', tier: 'web' }),
  fn('audit', { app: 'audit', tier: 'backend' }),
  fn('billing', { app: 'billing', tier: 'backend', pci: 'yes' }),
  fn('plain'),
  fn('echo', { app: 'echo', tier: 'web' }, { namespace: 'other' }),
  fn('gone', { app: 'gone', tier: 'backend' }, { deleting: true }),
];

const names = (spec: KafkaTriggerSpec, fns: KubelessFunction[] = world): string[] => planTrigger(trigger(spec), fns, defaults).functions;

describe('planTrigger: which functions a trigger targets', () => {
  it.each<[string, KafkaTriggerSpec, string[]]>([
    ['functionName picks exactly that function', { topic: 'a', functionName: 'echo' }, ['echo']],
    ['functionName wins over a selector', { topic: 'a', functionName: 'audit', functionSelector: { matchLabels: { app: 'echo' } } }, ['audit']],
    ['matchLabels', { topic: 'a', functionSelector: { matchLabels: { tier: 'backend' } } }, ['audit', 'billing']],
    ['matchLabels with two pairs', { topic: 'a', functionSelector: { matchLabels: { tier: 'backend', app: 'billing' } } }, ['billing']],
    ['In', { topic: 'a', functionSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['echo', 'audit'] }] } }, ['audit', 'echo']],
    ['NotIn (a function without the key matches)', { topic: 'a', functionSelector: { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['backend'] }] } }, ['echo', 'plain']],
    ['Exists', { topic: 'a', functionSelector: { matchExpressions: [{ key: 'pci', operator: 'Exists' }] } }, ['billing']],
    ['DoesNotExist', { topic: 'a', functionSelector: { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] } }, ['plain']],
    [
      'matchLabels and expressions together',
      { topic: 'a', functionSelector: { matchLabels: { tier: 'backend' }, matchExpressions: [{ key: 'pci', operator: 'DoesNotExist' }] } },
      ['audit'],
    ],
    ['an empty selector (as in the original: everything in the namespace)', { topic: 'a', functionSelector: {} }, ['audit', 'billing', 'echo', 'plain']],
  ])('%s', (_name, spec, want) => {
    expect(names(spec)).toEqual(want);
  });

  it('never targets functions of another namespace or functions being deleted', () => {
    const all = names({ topic: 'a', functionSelector: {} });
    expect(all).not.toContain('gone');
    expect(names({ topic: 'a', functionName: 'gone' })).toEqual([]);
    // `echo` exists in both namespaces: one consumer, for ns1.
    const plan = planTrigger(trigger({ topic: 'a', functionName: 'echo' }), world, defaults);
    expect(plan.consumers.map((c) => c.key)).toEqual(['ns1/t1/echo']);
    const inOther = planTrigger(trigger({ topic: 'a', functionName: 'echo' }, { namespace: 'other' }), world, defaults);
    expect(inOther.consumers.map((c) => c.key)).toEqual(['other/t1/echo']);
    expect(planTrigger(trigger({ topic: 'a', functionName: 'audit' }, { namespace: 'other' }), world, defaults).consumers).toEqual([]);
  });

  it('a trigger being deleted needs no consumer and reports no problem', () => {
    const plan = planTrigger(trigger({ topic: 'a', functionSelector: {} }, { deletionTimestamp: '2024-01-01T00:00:00Z' }), world, defaults);
    expect(plan).toEqual({ consumers: [], functions: [] });
  });

  it.each<[string, KafkaTriggerSpec, string, RegExp]>([
    ['an unknown functionName', { topic: 'a', functionName: 'nope' }, 'FunctionNotFound', /function nope does not exist in namespace ns1/],
    ['a function only in another namespace', { topic: 'a', functionName: 'billing' }, 'FunctionNotFound', /billing/],
    ['a selector that matches nothing', { topic: 'a', functionSelector: { matchLabels: { app: 'nope' } } }, 'NoFunctionsMatched', /no function in namespace ns1 matches the selector .*nope/],
  ])('%s -> FunctionsResolved problem', (_name, spec, reason, message) => {
    const fns = world.filter((f) => !(f.metadata.name === 'billing' && f.metadata.namespace === 'ns1'));
    const plan = planTrigger(trigger(spec), fns, defaults);
    expect(plan.consumers).toEqual([]);
    expect(plan.functions).toEqual([]);
    expect(plan.problem?.condition).toBe('FunctionsResolved');
    expect(plan.problem?.reason).toBe(reason);
    expect(plan.problem?.message).toMatch(message);
  });

  it('a trigger without any topic is invalid', () => {
    const plan = planTrigger(trigger({ topic: '', topics: [''], functionName: 'echo' }), world, defaults);
    expect(plan.consumers).toEqual([]);
    expect(plan.problem).toMatchObject({ condition: 'Valid', reason: 'NoTopic' });
  });
});

describe('planTrigger: consumer specs', () => {
  it('one consumer per function with key, group, topics and connection', () => {
    const plan = planTrigger(trigger({ topic: 'orders', topics: ['payments', 'orders', '', 'refunds', 'payments'], functionSelector: { matchLabels: { tier: 'backend' } } }), world, defaults);
    expect(plan.problem).toBeUndefined();
    expect(plan.functions).toEqual(['audit', 'billing']);
    expect(plan.consumers).toHaveLength(2);
    const [audit, billing] = plan.consumers;
    expect(audit).toMatchObject({
      key: 'ns1/t1/audit',
      namespace: 'ns1',
      trigger: 't1',
      function: 'audit',
      groupId: 'kubeless.ns1.t1.audit',
      topics: ['orders', 'payments', 'refunds'],
      fromBeginning: false,
      connection: { brokers: defaults.brokers },
    });
    expect(audit?.connection.authSecret).toBeUndefined();
    expect(billing?.groupId).toBe('kubeless.ns1.t1.billing');
  });

  it.each<[string, string | undefined, string]>([
    ['no prefix', undefined, 'kubeless.ns1.t1.echo'],
    ['an empty prefix', '', 'kubeless.ns1.t1.echo'],
    ['a prefix', 'team-a', 'team-a.ns1.t1.echo'],
  ])('consumerGroup: %s', (_name, prefix, want) => {
    const spec: KafkaTriggerSpec = { topic: 'a', functionName: 'echo', ...(prefix === undefined ? {} : { consumerGroup: prefix }) };
    expect(planTrigger(trigger(spec), world, defaults).consumers[0]?.groupId).toBe(want);
    expect(consumerGroupId(prefix, 'ns1', 't1', 'echo')).toBe(want);
  });

  it.each<[KafkaTriggerSpec['initialOffset'], boolean]>([
    [undefined, false],
    ['latest', false],
    ['earliest', true],
  ])('initialOffset %s -> fromBeginning %s', (initialOffset, want) => {
    const spec: KafkaTriggerSpec = { topic: 'a', functionName: 'echo', ...(initialOffset ? { initialOffset } : {}) };
    expect(planTrigger(trigger(spec), world, defaults).consumers[0]?.fromBeginning).toBe(want);
  });

  it('per-trigger brokers and auth Secret replace the defaults; empty brokers fall back', () => {
    const own = planTrigger(trigger({ topic: 'a', functionSelector: { matchLabels: { tier: 'backend' } }, brokers: ['mine:9093'], authSecret: 'kafka-auth' }), world, defaults);
    for (const c of own.consumers) expect(c.connection).toEqual({ brokers: ['mine:9093'], credentials: 'secret', authSecret: 'kafka-auth' });
    const empty = planTrigger(trigger({ topic: 'a', functionName: 'echo', brokers: [] }), world, defaults);
    expect(empty.consumers[0]?.connection).toEqual({ brokers: defaults.brokers, credentials: 'shared' });
  });

  it('copies the broker lists instead of aliasing its inputs', () => {
    const brokers = ['mine:9093'];
    const d = { ...defaults, brokers: ['default:9092'] };
    const a = planTrigger(trigger({ topic: 'a', functionName: 'echo', brokers }), world, d).consumers[0];
    const b = planTrigger(trigger({ topic: 'a', functionName: 'echo' }), world, d).consumers[0];
    a?.connection.brokers.push('x');
    b?.connection.brokers.push('y');
    expect(brokers).toEqual(['mine:9093']);
    expect(d.brokers).toEqual(['default:9092']);
  });

  it('is deterministic: the order of the inputs does not matter, output sorted by function name', () => {
    const spec: KafkaTriggerSpec = { topic: 'a', functionSelector: {} };
    const forward = planTrigger(trigger(spec), world, defaults);
    const backward = planTrigger(trigger(spec), [...world].reverse(), defaults);
    expect(backward).toEqual(forward);
    expect(forward.consumers.map((c) => c.function)).toEqual(['audit', 'billing', 'echo', 'plain']);
    expect(JSON.stringify(planTrigger(trigger(spec), world, defaults))).toBe(JSON.stringify(forward));
  });
});

describe('planTrigger: delivery', () => {
  const deliveryOf = (d: DeliverySpec | undefined, timeout?: string | number) =>
    planTrigger(trigger({ topic: 'a', functionName: 'f', ...(d ? { delivery: d } : {}) }), [fn('f', undefined, { ...(timeout === undefined ? {} : { timeout }) })], defaults).consumers[0]?.delivery;

  it('defaults: ordered, one in flight, retry 3, exponential 1s..60s, block without a dead letter, binary', () => {
    expect(deliveryOf(undefined)).toEqual({
      ordering: 'ordered',
      maxInFlight: 1,
      timeoutMs: 180_000,
      retry: 3,
      backoffPolicy: 'exponential',
      backoffDelayMs: 1000,
      backoffMaxMs: 60_000,
      deadLetter: undefined,
      onExhausted: 'block',
      rateLimit: undefined,
      eventMode: 'binary',
      commitIntervalMs: 100,
      commitWindow: 1000,
    });
  });

  it.each<[DeliverySpec['ordering'], number]>([
    ['ordered', 1],
    ['unordered', 100],
    ['key-ordered', 100],
  ])('ordering %s -> maxInFlight %s by default', (ordering, want) => {
    expect(deliveryOf({ ...(ordering ? { ordering } : {}) })?.maxInFlight).toBe(want);
    expect(deliveryOf({ ...(ordering ? { ordering } : {}), maxInFlight: 7 })?.maxInFlight).toBe(7);
  });

  it('a dead letter makes deadLetter the default onExhausted; an explicit choice stays', () => {
    expect(deliveryOf({ deadLetter: 'dlq' })).toMatchObject({ deadLetter: 'dlq', onExhausted: 'deadLetter' });
    expect(deliveryOf({ deadLetter: 'dlq', onExhausted: 'drop' })?.onExhausted).toBe('drop');
  });

  it.each<[string, string | number | undefined, number]>([
    ['missing', undefined, 180_000],
    ['the string "180"', '180', 180_000],
    ['the string "30"', '30', 30_000],
    ['a number', 45, 45_000],
    ['fractional seconds', '1.5', 1500],
    ['garbage', 'soon', 180_000],
    ['a Go duration (not the function timeout format)', '30s', 180_000],
    ['zero', '0', 180_000],
    ['negative', -5, 180_000],
    ['empty', '', 180_000],
  ])('timeout defaults to the function timeout: %s', (_name, timeout, want) => {
    expect(deliveryOf(undefined, timeout)?.timeoutMs).toBe(want);
    expect(functionTimeoutMs(fn('f', undefined, { ...(timeout === undefined ? {} : { timeout }) }))).toBe(want);
  });

  it('an explicit delivery timeout wins over the function timeout', () => {
    expect(deliveryOf({ timeout: '2m' }, '5')?.timeoutMs).toBe(120_000);
    expect(deliveryOf({ timeout: '500ms' })?.timeoutMs).toBe(500);
  });

  it.each<[string, DeliverySpec, RegExp]>([
    ['timeout', { timeout: '10 seconds' }, /invalid duration "10 seconds"/],
    ['backoffDelay', { backoffDelay: '1d' }, /invalid duration "1d"/],
    ['backoffMax', { backoffMax: '60' }, /invalid duration "60"/],
  ])('an unparseable %s -> no consumers and a Valid/InvalidDelivery problem', (_name, d, message) => {
    const plan = planTrigger(trigger({ topic: 'a', functionSelector: {}, delivery: d }), world, defaults);
    expect(plan.consumers).toEqual([]);
    expect(plan.functions).toEqual([]);
    expect(plan.problem).toMatchObject({ condition: 'Valid', reason: 'InvalidDelivery' });
    expect(plan.problem?.message).toMatch(message);
  });
});

describe('planTrigger: tenancy (whose credentials, which topics)', () => {
  const grants = parseIdentityGrants(
    JSON.stringify([
      { namespace: 'ns1', topics: ['orders', 'team-a\\..*'], deadLetterTopics: ['orders-dlq'] },
      { namespace: 'ns2' },
    ]),
  );
  const d = { brokers: ['kafka-0:9092', 'kafka-1:9092'], grants };
  const plan = (spec: KafkaTriggerSpec, namespace = 'ns1'): ReturnType<typeof planTrigger> =>
    planTrigger(trigger(spec, { namespace }), [...world, fn('echo', {}, { namespace: 'ns2' }), fn('echo', {}, { namespace: 'ns3' })], d);

  it.each<[string, KafkaTriggerSpec, string, { consumers: number; reason?: string; credentials?: string }]>([
    ['a granted topic on the default brokers', { topic: 'orders', functionName: 'echo' }, 'ns1', { consumers: 1, credentials: 'shared' }],
    ['a topic under a granted prefix', { topic: 'team-a.events', functionName: 'echo' }, 'ns1', { consumers: 1, credentials: 'shared' }],
    ['a pattern matches the whole name only', { topic: 'orders-2', functionName: 'echo' }, 'ns1', { consumers: 0, reason: 'TopicNotGranted' }],
    ["another team's topic", { topic: 'payments', functionName: 'echo' }, 'ns1', { consumers: 0, reason: 'TopicNotGranted' }],
    ['one granted and one not', { topics: ['orders', 'payments'], functionName: 'echo' }, 'ns1', { consumers: 0, reason: 'TopicNotGranted' }],
    ['a granted dead letter', { topic: 'orders', functionName: 'echo', delivery: { deadLetter: 'orders-dlq' } }, 'ns1', { consumers: 1 }],
    ["a dead letter into another team's topic", { topic: 'orders', functionName: 'echo', delivery: { deadLetter: 'payments' } }, 'ns1', { consumers: 0, reason: 'DeadLetterTopicNotGranted' }],
    ['a dead letter equal to the source topic, even with its own Secret', { topic: 'orders', functionName: 'echo', authSecret: 's', delivery: { deadLetter: 'orders' } }, 'ns1', { consumers: 0, reason: 'DeadLetterIsSource' }],
    ['a namespace granted no topic', { topic: 'orders', functionName: 'echo' }, 'ns2', { consumers: 0, reason: 'TopicNotGranted' }],
    ['a namespace not granted at all', { topic: 'orders', functionName: 'echo' }, 'ns3', { consumers: 0, reason: 'SharedIdentityNotGranted' }],
    ['a namespace not granted, with its own authSecret on the default brokers', { topic: 'payments', functionName: 'echo', authSecret: 'mine' }, 'ns3', { consumers: 1, credentials: 'secret' }],
    ['its own brokers without a Secret: no credentials at all', { topic: 'payments', functionName: 'echo', brokers: ['evil.example:9092'] }, 'ns3', { consumers: 1, credentials: 'none' }],
    ['its own brokers mixed with a default one: still its own', { topic: 'payments', functionName: 'echo', brokers: ['kafka-0:9092', 'evil.example:9092'] }, 'ns3', { consumers: 1, credentials: 'none' }],
    ['the default brokers written out are the default brokers', { topic: 'payments', functionName: 'echo', brokers: ['kafka-1:9092'] }, 'ns3', { consumers: 0, reason: 'SharedIdentityNotGranted' }],
  ])('%s', (_name, spec, namespace, want) => {
    const p = plan(spec, namespace);
    expect(p.consumers).toHaveLength(want.consumers);
    if (want.reason) expect(p.problem?.reason).toBe(want.reason);
    else expect(p.problem).toBeUndefined();
    if (want.credentials) expect(p.consumers[0]?.connection.credentials).toBe(want.credentials);
  });

  it('a refusal says which rule refused it', () => {
    const p = plan({ topic: 'payments', functionName: 'echo' });
    expect(p.problem).toMatchObject({ condition: 'Authorized', reason: 'TopicNotGranted' });
    expect(p.problem?.message).toContain('payments');
    expect(p.problem?.message).toContain('orders, team-a\\..*');
    expect(plan({ topic: 'orders', functionName: 'echo' }, 'ns3').problem?.message).toContain('spec.authSecret');
  });

  it('a fresh install grants nothing: every namespace brings its own Secret', () => {
    const fresh = { brokers: d.brokers, grants: parseIdentityGrants('') };
    expect(planTrigger(trigger({ topic: 'orders', functionName: 'echo' }), world, fresh).problem?.reason).toBe('SharedIdentityNotGranted');
  });

  it('a function whose Service routes out of the namespace gets no consumer; the others do', () => {
    const routed = { ...d, serviceProblem: (_ns: string, f: string) => (f === 'audit' ? { reason: 'ExternalNameService', message: 'ExternalName' } : undefined) };
    const p = planTrigger(trigger({ topic: 'orders', functionSelector: { matchLabels: { tier: 'backend' } } }), world, routed);
    expect(p.consumers.map((c) => c.function)).toEqual(['billing']);
    expect(p.problem).toMatchObject({ condition: 'FunctionsResolved', reason: 'ExternalNameService' });
  });
});
