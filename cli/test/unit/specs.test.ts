import { describe, expect, it } from 'vitest';
import type { Function as KubelessFunction } from '@kubeless/api';
import { buildFunction, codeFromFile, updateFunction } from '../../src/function-spec.js';
import { buildHttpTrigger, buildKafkaTrigger, buildSqsTrigger, updateKafkaTrigger, updateSqsTrigger } from '../../src/trigger-spec.js';
import { buildHpa, describeMetric } from '../../src/autoscale-spec.js';

const code = codeFromFile('foo.py', Buffer.from('def handler(e, c):\n    return 1\n'));

describe('function deploy and update', () => {
  it('update changes only what it is given', () => {
    const fn = buildFunction('foo', 'ns', { runtime: 'python3.12', handler: 'foo.handler', code, timeout: '30', port: 9000, memory: '64Mi', env: [{ name: 'A', value: '1' }], secrets: ['s'], imagePullPolicy: 'Never' });
    const stored = { ...structuredClone(fn), metadata: { ...fn.metadata, resourceVersion: '7', managedFields: [{}] } } as KubelessFunction;
    const next = updateFunction(stored, { code: codeFromFile('foo.py', Buffer.from('new')) });
    expect(next.spec.function).toBe('new');
    expect(next.spec.checksum).toBe(codeFromFile('x', Buffer.from('new')).checksum);
    expect({ ...next.spec, function: undefined, checksum: undefined }).toEqual({ ...fn.spec, function: undefined, checksum: undefined });
    expect(next.metadata).toEqual({ ...fn.metadata, resourceVersion: '7' });
    expect(stored.spec.function).toBe(code.function);
  });

  it('update of the port moves a service port that followed it; secrets and labels add up', () => {
    const fn = buildFunction('foo', 'ns', { runtime: 'nodejs22', handler: 'a.b', code, secrets: ['s1'], labels: { a: '1' } });
    const next = updateFunction(fn, { port: 9000, secrets: ['s1', 's2'], labels: { b: '2' }, memory: '1Gi' });
    expect((next.spec.service as any).ports).toEqual([{ name: 'http-function-port', port: 9000, targetPort: 9000, protocol: 'TCP' }]);
    const pod = (next.spec.deployment as any).spec.template.spec;
    expect(pod.volumes.map((v: any) => v.name)).toEqual(['s1-vol', 's2-vol']);
    expect(pod.containers[0].resources).toEqual({ requests: { memory: '1Gi' }, limits: { memory: '1Gi' } });
    expect(next.metadata.labels).toEqual({ a: '1', b: '2', 'created-by': 'kubeless', function: 'foo' });
    const custom = updateFunction(buildFunction('foo', 'ns', { runtime: 'nodejs22', handler: 'a.b', code, port: 8080, servicePort: 80 }), { port: 9000 });
    expect((custom.spec.service as any).ports[0]).toMatchObject({ port: 80, targetPort: 9000 });
  });

  it('code: text, base64 for other bytes, archives always base64', () => {
    expect(code.contentType).toBe('text');
    expect(codeFromFile('f.bin', Buffer.from([0xc3, 0x28])).contentType).toBe('base64');
    expect(codeFromFile('f.tar.gz', Buffer.from('ascii')).contentType).toBe('base64+compressedtar');
    expect(codeFromFile('F.ZIP', Buffer.from('ascii'))).toEqual({ function: Buffer.from('ascii').toString('base64'), contentType: 'base64+zip', checksum: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
  });
});

describe('triggers', () => {
  it('http: mutually exclusive TLS modes, kong without basic auth', () => {
    expect(() => buildHttpTrigger('t', 'ns', {})).toThrow('--function-name is required');
    expect(() => buildHttpTrigger('t', 'ns', { functionName: 'f', enableTLSAcme: true, tlsSecret: 's' })).toThrow('mutually exclusive');
    expect(() => buildHttpTrigger('t', 'ns', { functionName: 'f', gateway: 'kong', basicAuthSecret: 'b' })).toThrow('nginx and traefik');
  });

  it('kafka and sqs keep exactly one target and one queue', () => {
    expect(() => buildKafkaTrigger('k', 'ns', { triggerTopic: 't' })).toThrow('--function-selector (or --function-name) is required');
    expect(() => buildKafkaTrigger('k', 'ns', { triggerTopic: 't', functionName: 'f', functionSelector: 'a=b' })).toThrow('only one');
    const k = buildKafkaTrigger('k', 'ns', { triggerTopic: 'a,b', functionSelector: 'x=y' });
    expect(k.spec).toEqual({ topic: 'a', topics: ['b'], functionSelector: { matchLabels: { x: 'y' } } });
    expect(updateKafkaTrigger(k, { triggerTopic: 'c' }).spec).toEqual({ topic: 'c', functionSelector: { matchLabels: { x: 'y' } } });
    const s = buildSqsTrigger('s', 'ns', { queueUrl: 'http://q', functionName: 'f', retry: '2' });
    expect(updateSqsTrigger(s, { queueName: 'q', region: 'r', functionSelector: 'a=b' }).spec).toEqual({ queueName: 'q', region: 'r', functionSelector: { matchLabels: { a: 'b' } }, delivery: { retry: 2 } });
    expect(() => buildSqsTrigger('s', 'ns', { queueName: 'q', functionName: 'f' })).toThrow('--queue-name needs --region');
    expect(() => buildSqsTrigger('s', 'ns', { queueUrl: 'u', functionName: 'f', ordering: 'random' })).toThrow('--ordering: "random" is not one of ordered, unordered, key-ordered');
  });

  it.each([
    ['backoffMax', '0s', 'longer than 0'],
    ['backoffDelay', '0ms', 'longer than 0'],
    ['deliveryTimeout', '0s', 'longer than 0'],
    ['deliveryTimeout', '720h', 'at most 2147483s'],
  ] as const)('refuses --%s %s, as the CRD does', (flag, value, message) => {
    expect(() => buildKafkaTrigger('k', 'ns', { triggerTopic: 't', functionName: 'f', [flag]: value })).toThrow(message);
    expect(() => buildSqsTrigger('s', 'ns', { queueUrl: 'http://q', functionName: 'f', [flag]: value })).toThrow(message);
  });
});

describe('function timeouts', () => {
  it.each(['0', '2592000'])('refuses --timeout %s, as the CRD does', (timeout) => {
    expect(() => buildFunction('f', 'ns', { runtime: 'python3.12', handler: 'foo.handler', code: { content: 'x', contentType: 'text' } as never, timeout })).toThrow('--timeout must be a whole number of seconds from 1 to 2147483');
  });
});

describe('autoscale', () => {
  it('cpu and qps metrics in the autoscaling/v2 shape; min and max checked', () => {
    const cpu = buildHpa('f', 'ns', { function: 'f' }, { min: '1', max: '3', metric: 'cpu', value: '70' });
    expect(cpu).toEqual({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'f', namespace: 'ns', labels: { function: 'f' } },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'f' }, minReplicas: 1, maxReplicas: 3, metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }] },
    });
    const qps = buildHpa('f', 'ns', {}, { min: '2', max: '2', metric: 'qps', value: '100m' });
    expect(describeMetric(qps.spec as Record<string, unknown>)).toEqual({ metric: 'function_calls', value: '100m' });
    expect(describeMetric(cpu.spec as Record<string, unknown>)).toEqual({ metric: 'cpu', value: '70' });
    expect(() => buildHpa('f', 'ns', {}, { min: '3', max: '2', metric: 'cpu', value: '1' })).toThrow('--max (2) must be at least --min (3)');
    expect(() => buildHpa('f', 'ns', {}, { min: '1', max: '2', metric: 'memory', value: '1' })).toThrow('--metric: "memory" is not one of cpu, qps');
  });
});
