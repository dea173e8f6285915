import { parseIdentityGrants, type Function as KubelessFunction, type SQSTrigger } from '@kubeless/api';
import { describe, expect, it } from 'vitest';
import { isFifoQueue, onlyTargetsChanged, planTrigger, queueNameOf, regionOfQueueUrl, visibilitySeconds, type ReceiverSpec } from '../../src/index.js';

const fn = (name: string, labels: Record<string, string> = {}, extra: Partial<KubelessFunction['metadata']> = {}, timeout = '10'): KubelessFunction =>
  ({ apiVersion: 'kubeless.io/v1beta1', kind: 'Function', metadata: { name, namespace: 'ns', labels, ...extra }, spec: { runtime: 'nodejs24', handler: 'h.f', function: '', timeout } });
const trigger = (spec: SQSTrigger['spec'], meta: Partial<SQSTrigger['metadata']> = {}): SQSTrigger => ({ apiVersion: 'kubeless.io/v1beta1', kind: 'SQSTrigger', metadata: { name: 't', namespace: 'ns', ...meta }, spec });
// ns may use the controller's identity on any queue; the tenancy rules have their own tests below.
const defaults = { region: 'eu-west-1', endpoint: 'http://sqs.local:9324', grants: parseIdentityGrants('[{"namespace":"ns","queues":[".*"],"deadLetterQueues":[".*"]}]') };

describe('planTrigger', () => {
  it('targets one function by name with the defaults', () => {
    const plan = planTrigger(trigger({ queueName: 'orders', region: 'us-east-1', functionName: 'a' }), [fn('a'), fn('b')], defaults);
    expect(plan.functions).toEqual(['a']);
    expect(plan.problem).toBeUndefined();
    expect(plan.receiver).toMatchObject({
      key: 'ns/t',
      queue: { queueName: 'orders', region: 'us-east-1', endpoint: 'http://sqs.local:9324' },
      batchSize: 10,
      receivers: 1,
      maxInFlight: 100,
      visibilityTimeoutSec: undefined,
      targets: [{ function: 'a', delivery: { timeoutMs: 10_000, retry: 3, onExhausted: 'block' } }],
    });
  });

  it('fans out to every function a selector matches (sorted), each with its own timeout', () => {
    const plan = planTrigger(trigger({ queueUrl: 'https://sqs.ap-south-1.amazonaws.com/1/q', functionSelector: { matchLabels: { app: 'x' } } }), [fn('z', { app: 'x' }, {}, '30'), fn('a', { app: 'x' }), fn('other', { app: 'y' })], defaults);
    expect(plan.functions).toEqual(['a', 'z']);
    expect(plan.receiver?.targets.map((t) => [t.function, t.delivery.timeoutMs])).toEqual([
      ['a', 10_000],
      ['z', 30_000],
    ]);
    // The region comes from the AWS queue URL when the trigger does not say.
    expect(plan.receiver?.queue.region).toBe('ap-south-1');
  });

  it('takes the trigger settings: endpoint, Secret, batch size, receivers, visibility, maxInFlight, dead letter', () => {
    const plan = planTrigger(
      trigger({ queueUrl: 'http://elasticmq:9324/000/q.fifo', endpoint: 'http://own:1', credentialsSecret: 'creds', functionName: 'a', batchSize: 5, receivers: 3, visibilityTimeout: '1500ms', delivery: { maxInFlight: 7, deadLetter: 'dlq' } }),
      [fn('a')],
      defaults,
    );
    expect(plan.receiver).toMatchObject({ batchSize: 5, receivers: 3, visibilityTimeoutSec: 2, maxInFlight: 7, queue: { endpoint: 'http://own:1', credentialsSecret: 'creds', region: 'eu-west-1' } });
    expect(plan.receiver?.delivery).toMatchObject({ deadLetter: 'dlq', onExhausted: 'deadLetter' });
  });

  it('has no receiver, and says why, when no function matches', () => {
    expect(planTrigger(trigger({ queueName: 'q', region: 'r', functionName: 'gone' }), [fn('a')], defaults)).toMatchObject({ receiver: undefined, problem: { condition: 'FunctionsResolved', reason: 'FunctionNotFound' } });
    expect(planTrigger(trigger({ queueName: 'q', region: 'r', functionSelector: { matchLabels: { app: 'none' } } }), [fn('a')], defaults)).toMatchObject({ receiver: undefined, problem: { reason: 'NoFunctionsMatched' } });
  });

  it('ignores functions being deleted, in other namespaces, and deleted triggers', () => {
    const fns = [fn('a', {}, { deletionTimestamp: '2026-01-01T00:00:00Z' }), fn('b', {}, { namespace: 'other' })];
    expect(planTrigger(trigger({ queueName: 'q', region: 'r', functionSelector: {} }), fns, defaults).functions).toEqual([]);
    expect(planTrigger(trigger({ queueName: 'q', region: 'r', functionName: 'a' }, { deletionTimestamp: '2026-01-01T00:00:00Z' }), [fn('a')], defaults)).toEqual({ receiver: undefined, functions: [] });
  });

  it('reports settings that do not parse as Valid problems', () => {
    expect(planTrigger(trigger({ functionName: 'a' }), [fn('a')], defaults).problem).toMatchObject({ condition: 'Valid', reason: 'NoQueue' });
    expect(planTrigger(trigger({ queueName: 'q', region: 'r', functionName: 'a', visibilityTimeout: 'soon' }), [fn('a')], defaults).problem).toMatchObject({ condition: 'Valid', reason: 'InvalidVisibilityTimeout' });
    expect(planTrigger(trigger({ queueName: 'q', region: 'r', functionName: 'a', delivery: { backoffDelay: 'x' } }), [fn('a')], defaults).problem).toMatchObject({ condition: 'Valid', reason: 'InvalidDelivery' });
  });

  it('is deterministic: the same input gives an equal plan', () => {
    const t = trigger({ queueName: 'q', region: 'r', functionSelector: {} });
    expect(planTrigger(t, [fn('b'), fn('a')], defaults)).toEqual(planTrigger(t, [fn('a'), fn('b')], defaults));
  });
});

describe('onlyTargetsChanged (a running receiver takes the new spec in place)', () => {
  const base: SQSTrigger['spec'] = { queueName: 'orders', region: 'us-east-1', functionSelector: { matchLabels: { foo: 'bar' } } };
  const labelled = [fn('foo', { foo: 'bar' }), fn('bar', { foo: 'bar' }, {}, '30'), fn('baz', { other: 'x' })];
  const receiver = (spec: SQSTrigger['spec'] = base, fns: KubelessFunction[] = labelled): ReceiverSpec => {
    const r = planTrigger(trigger(spec), fns, defaults).receiver;
    if (!r) throw new Error('no receiver planned');
    return r;
  };
  const before = receiver();
  it.each<[string, ReceiverSpec, boolean]>([
    ['nothing changed', receiver(), true],
    ['kubeless function update baz --label foo=bar (a third target)', receiver(base, [...labelled, fn('baz', { foo: 'bar' })]), true],
    ['kubeless function delete bar (the first target goes, and with it delivery.timeoutMs)', receiver(base, [fn('foo', { foo: 'bar' })]), true],
    ['kubeless function update foo --timeout 60 (one target delivery)', receiver(base, [fn('foo', { foo: 'bar' }, {}, '60'), fn('bar', { foo: 'bar' }, {}, '30')]), true],
    ['--batch-size 5', receiver({ ...base, batchSize: 5 }), false],
    ['--receivers 2', receiver({ ...base, receivers: 2 }), false],
    ['--visibility-timeout 45s', receiver({ ...base, visibilityTimeout: '45s' }), false],
    ['--max-in-flight 10', receiver({ ...base, delivery: { maxInFlight: 10 } }), false],
    ['--retry 5 (every target delivery and the receiver one)', receiver({ ...base, delivery: { retry: 5 } }), false],
    ['--dead-letter dlq', receiver({ ...base, delivery: { deadLetter: 'dlq' } }), false],
    ['--ordering unordered', receiver({ ...base, delivery: { ordering: 'unordered' } }), false],
    ['--queue-name invoices', receiver({ ...base, queueName: 'invoices' }), false],
    ['--region eu-west-1', receiver({ ...base, region: 'eu-west-1' }), false],
    ['--endpoint http://other:9324 --credentials-secret aws', receiver({ ...base, endpoint: 'http://other:9324', credentialsSecret: 'aws' }), false],
    ['a rotated credentials Secret (its version)', { ...before, queue: { ...before.queue, secretVersion: 'v2' } }, false],
  ])('%s: %s', (_name, after, inPlace) => {
    expect(onlyTargetsChanged(before, after)).toBe(inPlace);
    expect(onlyTargetsChanged(after, before)).toBe(inPlace);
  });
  it('a change of targets together with any other setting is no longer in place', () => {
    expect(onlyTargetsChanged(before, receiver({ ...base, batchSize: 5 }, [fn('foo', { foo: 'bar' })]))).toBe(false);
  });
});

describe('queue helpers', () => {
  it('reads names, FIFO-ness and AWS regions from URLs', () => {
    expect(queueNameOf('http://127.0.0.1:9324/000000000000/orders')).toBe('orders');
    expect(queueNameOf('orders.fifo')).toBe('orders.fifo');
    expect(isFifoQueue('https://sqs.us-east-1.amazonaws.com/1/orders.fifo')).toBe(true);
    expect(isFifoQueue('orders')).toBe(false);
    expect(regionOfQueueUrl('https://sqs.eu-central-1.amazonaws.com/123/q')).toBe('eu-central-1');
    expect(regionOfQueueUrl('http://localhost:9324/000/q')).toBeUndefined();
  });

  it('turns delays into whole visibility seconds, rounding up, within 0..12 h', () => {
    expect(visibilitySeconds(0)).toBe(0);
    expect(visibilitySeconds(1)).toBe(1);
    expect(visibilitySeconds(1000)).toBe(1);
    expect(visibilitySeconds(1001)).toBe(2);
    expect(visibilitySeconds(-5)).toBe(0);
    expect(visibilitySeconds(1e9)).toBe(43_200);
  });
});

describe('planTrigger: tenancy (whose credentials, which queues)', () => {
  const grants = parseIdentityGrants(
    JSON.stringify([
      { namespace: 'team-a', queues: ['https://sqs\\.eu-west-1\\.amazonaws\\.com/111122223333/team-a-.*', 'arn:aws:sqs:eu-west-1:111122223333:shared-jobs'], deadLetterQueues: ['arn:aws:sqs:.*:111122223333:team-a-dlq'] },
    ]),
  );
  const d = { region: 'eu-west-1', endpoint: undefined, grants };
  const url = (name: string, account = '111122223333'): string => `https://sqs.eu-west-1.amazonaws.com/${account}/${name}`;
  const plan = (spec: SQSTrigger['spec'], namespace = 'team-a'): ReturnType<typeof planTrigger> =>
    planTrigger(trigger({ functionName: 'f', ...spec }, { namespace }), [fn('f', {}, { namespace })], d);

  it.each<[string, SQSTrigger['spec'], string, { receiver: boolean; reason?: string; credentials?: string }]>([
    ['a granted queue URL', { queueUrl: url('team-a-jobs') }, 'team-a', { receiver: true, credentials: 'shared' }],
    ['a queue granted by ARN', { queueUrl: url('shared-jobs') }, 'team-a', { receiver: true }],
    ["another team's queue", { queueUrl: url('team-b-jobs') }, 'team-a', { receiver: false, reason: 'QueueNotGranted' }],
    ['the same name in another account', { queueUrl: url('team-a-jobs', '999999999999') }, 'team-a', { receiver: false, reason: 'QueueNotGranted' }],
    ['a granted dead letter (ARN pattern)', { queueUrl: url('team-a-jobs'), delivery: { deadLetter: url('team-a-dlq') } }, 'team-a', { receiver: true }],
    ["a dead letter into another team's queue", { queueUrl: url('team-a-jobs'), delivery: { deadLetter: url('team-b-jobs') } }, 'team-a', { receiver: false, reason: 'DeadLetterQueueNotGranted' }],
    ['a dead letter equal to the source queue', { queueUrl: url('team-a-jobs'), delivery: { deadLetter: 'team-a-jobs' } }, 'team-a', { receiver: false, reason: 'DeadLetterIsSource' }],
    ['a namespace not granted', { queueUrl: url('team-a-jobs') }, 'team-b', { receiver: false, reason: 'SharedIdentityNotGranted' }],
    ['a namespace not granted, with its own Secret', { queueUrl: url('team-a-jobs'), credentialsSecret: 'aws' }, 'team-b', { receiver: true, credentials: 'secret' }],
    ["its own endpoint without a Secret never gets the controller's identity", { queueUrl: url('team-a-jobs'), endpoint: 'https://evil.example' }, 'team-a', { receiver: false, reason: 'EndpointNeedsCredentials' }],
    ['its own endpoint with its own Secret', { queueUrl: url('team-a-jobs'), endpoint: 'https://evil.example', credentialsSecret: 'aws' }, 'team-b', { receiver: true, credentials: 'secret' }],
    ['a queue name is checked once resolved (by the receiver)', { queueName: 'anything', region: 'eu-west-1' }, 'team-a', { receiver: true, credentials: 'shared' }],
  ])('%s', (_name, spec, namespace, want) => {
    const p = plan(spec, namespace);
    expect(p.receiver !== undefined).toBe(want.receiver);
    if (want.reason) expect(p.problem?.reason).toBe(want.reason);
    else expect(p.problem).toBeUndefined();
    if (want.credentials) expect(p.receiver?.queue.credentials).toBe(want.credentials);
  });

  it('a refusal names the rule and what would allow it', () => {
    expect(plan({ queueUrl: url('team-b-jobs') }).problem).toMatchObject({ condition: 'Authorized', reason: 'QueueNotGranted' });
    expect(plan({ queueUrl: url('team-b-jobs') }).problem?.message).toContain('team-b-jobs');
    expect(plan({ queueUrl: url('x') }, 'team-b').problem?.message).toContain('spec.credentialsSecret');
  });

  it('a function whose Service routes out of the namespace is no target; the others are', () => {
    const routed = { ...d, serviceProblem: (_ns: string, f: string) => (f === 'b' ? { reason: 'ForeignEndpoints', message: 'hand-made slice' } : undefined) };
    const p = planTrigger(trigger({ queueUrl: url('team-a-jobs'), functionSelector: {} }, { namespace: 'team-a' }), [fn('a', {}, { namespace: 'team-a' }), fn('b', {}, { namespace: 'team-a' })], routed);
    expect(p.receiver?.targets.map((t) => t.function)).toEqual(['a']);
    expect(p.problem).toMatchObject({ condition: 'FunctionsResolved', reason: 'ForeignEndpoints' });
  });
});
