import { describe, expect, it } from 'vitest';
import { functionServiceProblem, kafkaSharedIdentityProblem, parseIdentityGrants, queueArn, serviceSpecProblem, sqsSharedIdentityProblem, type EndpointSliceLike } from '../src/index.js';

describe('parseIdentityGrants', () => {
  it('an empty value grants nothing', () => {
    expect(parseIdentityGrants('').patterns('any', 'topics')).toBeUndefined();
    expect(parseIdentityGrants(undefined).grants).toEqual([]);
  });

  it('lists every bad entry at once', () => {
    expect(() => parseIdentityGrants('[{"topics":["a"]},{"namespace":"x","topics":["("]},{"namespace":"y","queue":[]}]')).toThrow(
      /entry 0 has no namespace; entry 1 \(x\): topics pattern "\(" is not a regular expression; entry 2 \(y\): unknown key queue/u,
    );
    expect(() => parseIdentityGrants('{"namespace":"x"}')).toThrow(TypeError);
  });

  it('patterns match whole names; `*` entries join a namespace', () => {
    const g = parseIdentityGrants('[{"namespace":"a","topics":["orders"]},{"namespace":"*","topics":["public\\\\..*"]}]');
    expect(kafkaSharedIdentityProblem(g, 'a', ['orders', 'public.news'], undefined)).toBeUndefined();
    expect(kafkaSharedIdentityProblem(g, 'a', ['orders-x'], undefined)?.reason).toBe('TopicNotGranted');
    expect(kafkaSharedIdentityProblem(g, 'b', ['public.news'], undefined)).toBeUndefined();
    expect(kafkaSharedIdentityProblem(g, 'b', ['orders'], undefined)?.reason).toBe('TopicNotGranted');
  });

  it('a namespace without an entry is not granted; one with an entry but no dead-letter topics may not dead-letter', () => {
    const g = parseIdentityGrants('[{"namespace":"a","topics":[".*"]}]');
    expect(kafkaSharedIdentityProblem(g, 'b', ['t'], undefined)?.reason).toBe('SharedIdentityNotGranted');
    expect(kafkaSharedIdentityProblem(g, 'a', ['t'], 'dlq')?.reason).toBe('DeadLetterTopicNotGranted');
  });
});

describe('SQS grants', () => {
  const g = parseIdentityGrants(JSON.stringify([{ namespace: 'a', queues: ['arn:aws:sqs:us-east-1:000000000000:jobs', 'http://127\\.0\\.0\\.1:9324/000000000000/a-.*'] }]));
  it.each<[string, string, string | undefined]>([
    ['by ARN', 'https://sqs.us-east-1.amazonaws.com/000000000000/jobs', undefined],
    ['by ARN, another account', 'https://sqs.us-east-1.amazonaws.com/111111111111/jobs', 'QueueNotGranted'],
    ['by ARN, another region', 'https://sqs.eu-west-1.amazonaws.com/000000000000/jobs', 'QueueNotGranted'],
    ['by URL pattern', 'http://127.0.0.1:9324/000000000000/a-1', undefined],
    ['by URL pattern, no match', 'http://127.0.0.1:9324/000000000000/b-1', 'QueueNotGranted'],
  ])('%s', (_name, url, reason) => {
    const region = /sqs\.([a-z0-9-]+)\./u.exec(url)?.[1] ?? 'us-east-1';
    expect(sqsSharedIdentityProblem(g, 'a', { url, arn: queueArn(url, region) }, undefined)?.reason).toBe(reason);
  });

  it('queueArn reads the account and name of a queue URL', () => {
    expect(queueArn('http://127.0.0.1:9324/000000000000/jobs', 'elasticmq')).toBe('arn:aws:sqs:elasticmq:000000000000:jobs');
    expect(queueArn('http://127.0.0.1:9324/jobs', 'x')).toBeUndefined();
    expect(queueArn('not a url', 'x')).toBeUndefined();
  });
});

describe('function Services', () => {
  const svc = (spec: object, ns = 'a'): { metadata: { name: string; namespace: string }; spec: object } => ({ metadata: { name: 'fn', namespace: ns }, spec });
  const slice = (manager: string | undefined, endpoints: EndpointSliceLike['endpoints'], service = 'fn'): EndpointSliceLike => ({
    metadata: { name: `${service}-x`, namespace: 'a', labels: { 'kubernetes.io/service-name': service, ...(manager ? { 'endpointslice.kubernetes.io/managed-by': manager } : {}) } },
    endpoints,
  });
  const pod = { targetRef: { kind: 'Pod', namespace: 'a' } };

  it.each<[string, object, EndpointSliceLike[], string | undefined]>([
    ['a planned function Service', { type: 'ClusterIP', selector: { 'created-by': 'kubeless', function: 'fn' } }, [slice('endpointslice-controller.k8s.io', [pod])], undefined],
    ['ExternalName', { type: 'ExternalName', externalName: 'victim.team-a.svc.cluster.local' }, [], 'ExternalNameService'],
    ['externalIPs', { selector: { function: 'fn' }, externalIPs: ['10.0.0.1'] }, [], 'ExternalIPsService'],
    ['a selector of other pods', { selector: { app: 'db' } }, [], 'ForeignServiceSelector'],
    ['a hand-made slice without a manager', { selector: { function: 'fn' } }, [slice(undefined, [{ targetRef: null }])], 'ForeignEndpoints'],
    ['a hand-made slice claiming another manager', { selector: { function: 'fn' } }, [slice('someone', [pod])], 'ForeignEndpoints'],
    ["a slice of the controller pointing at another namespace's pod", { selector: { function: 'fn' } }, [slice('endpointslice-controller.k8s.io', [{ targetRef: { kind: 'Pod', namespace: 'b' } }])], 'ForeignEndpoints'],
    ['a trusted manager (a mesh)', {}, [slice('mesh', [{ targetRef: null }])], undefined],
    ["another Service's slice is not its business", { selector: { function: 'fn' } }, [slice(undefined, [], 'other')], undefined],
    ["a selector-less Service with a slice forged in the endpointslice controller's name", {}, [slice('endpointslice-controller.k8s.io', [pod])], 'ForeignEndpoints'],
  ])('%s', (_name, spec, slices, reason) => {
    expect(functionServiceProblem('fn', svc(spec), slices, ['endpointslice-controller.k8s.io', 'mesh'])?.reason).toBe(reason);
  });

  it('a Service without a selector is refused unless the operator trusts a manager besides the endpointslice controller', () => {
    expect(functionServiceProblem('fn', svc({}), [])?.reason).toBe('ServiceWithoutSelector');
    expect(functionServiceProblem('fn', svc({}), [], ['endpointslice-controller.k8s.io'])?.reason).toBe('ServiceWithoutSelector');
    expect(functionServiceProblem('fn', svc({}), [], ['endpointslice-controller.k8s.io', 'mesh'])).toBeUndefined();
  });

  it('a planned Service must select the function', () => {
    expect(serviceSpecProblem('fn', { selector: { function: 'fn' } })).toBeUndefined();
    expect(serviceSpecProblem('fn', {})?.reason).toBe('ForeignServiceSelector');
    expect(serviceSpecProblem('fn', { type: 'ExternalName' })?.reason).toBe('ExternalNameService');
  });
});
