/**
 * The CRDs against the real API server: the original kubeless v1beta1 manifests are accepted
 * and kept as written; invalid ones are rejected with the API server's own message.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { kubectl, kubectlOk, withNamespace } from '../helpers.js';

const fixture = async (name: string): Promise<string> => readFile(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

let ns: { name: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  ns = await withNamespace('crds');
});
afterAll(async () => {
  await ns.cleanup();
});

interface Obj {
  metadata: { labels?: Record<string, string> };
  spec: Record<string, unknown>;
}

async function getJson(kind: string, name: string): Promise<Obj> {
  return JSON.parse(await kubectlOk(['get', kind, name, '-n', ns.name, '-o', 'json'])) as Obj;
}

describe('original kubeless v1beta1 manifests', () => {
  it('accepts a Function with text code, labels, templates, an empty checksum and a zero-value HPA, and keeps it as written', async () => {
    const text = await fixture('original/function.yaml');
    await kubectlOk(['apply', '-n', ns.name, '-f', '-'], { input: text });
    const fn = await getJson('function', 'hello');
    const want = parse(text) as Obj;
    expect(fn.metadata.labels).toEqual(want.metadata.labels);
    expect(fn.spec.timeout).toBe('180');
    expect(fn.spec.checksum).toBe('');
    expect(fn.spec.function).toBe(want.spec.function);
    expect(fn.spec.service).toEqual(want.spec.service);
    // Embedded objects are preserved as the CLI wrote them, zero values included.
    expect((fn.spec.horizontalPodAutoscaler as { spec: unknown }).spec).toEqual({ maxReplicas: 0, scaleTargetRef: { kind: '', name: '' } });
    const containers = (fn.spec.deployment as { spec: { template: { spec: { containers: { imagePullPolicy: string }[] } } } }).spec.template.spec
      .containers;
    expect(containers[0]?.imagePullPolicy).toBe('Always');
  });

  it('accepts an HTTPTrigger with basic-auth-secret, gateway and host-name', async () => {
    await kubectlOk(['apply', '-n', ns.name, '-f', '-'], { input: await fixture('original/httptrigger.yaml') });
    const t = await getJson('httptrigger', 'get-python');
    expect(t.spec).toMatchObject({ 'function-name': 'get-python', 'basic-auth-secret': 'basic-auth', gateway: 'nginx', 'host-name': 'foo.bar.com' });
  });

  it('accepts a KafkaTrigger with topic and functionSelector', async () => {
    await kubectlOk(['apply', '-n', ns.name, '-f', '-'], { input: await fixture('original/kafkatrigger.yaml') });
    const t = await getJson('kafkatrigger', 's3-python-kafka-trigger');
    expect(t.spec).toEqual({ topic: 's3-python', functionSelector: { matchLabels: { 'created-by': 'kubeless', topic: 's3-python' } } });
  });

  it('accepts an integer timeout and defaults the gateway to nginx', async () => {
    await kubectlOk(['apply', '-n', ns.name, '-f', '-'], {
      input: `apiVersion: kubeless.io/v1beta1
kind: Function
metadata: {name: int-timeout}
spec: {runtime: nodejs24, handler: index.hello, function: "module.exports = {hello: () => 'hi'}", timeout: 30}
---
apiVersion: kubeless.io/v1beta1
kind: HTTPTrigger
metadata: {name: default-gateway}
spec: {function-name: int-timeout}
`,
    });
    expect((await getJson('function', 'int-timeout')).spec.timeout).toBe(30);
    expect((await getJson('httptrigger', 'default-gateway')).spec.gateway).toBe('nginx');
  });
});

describe('invalid manifests are rejected by the API server', () => {
  const cases: { name: string; manifest: string; message: string | RegExp }[] = [
    {
      name: 'a Function with a runtime but no handler',
      manifest: `kind: Function
metadata: {name: no-handler}
spec: {runtime: python3.11, function: "def f(e, c): pass"}`,
      message: 'handler is required when runtime is set',
    },
    {
      name: 'a handler that is not <module>.<function>',
      manifest: `kind: Function
metadata: {name: bad-handler}
spec: {runtime: python3.11, handler: justafunction}`,
      message: /spec\.handler: Invalid value: "justafunction": spec\.handler in body should match/,
    },
    {
      name: 'a handler with three parts',
      manifest: `kind: Function
metadata: {name: bad-handler-3}
spec: {runtime: python3.11, handler: a.b.c}`,
      message: /spec\.handler in body should match/,
    },
    {
      name: 'a checksum that is not sha256:<64 hex>',
      manifest: `kind: Function
metadata: {name: bad-checksum}
spec: {runtime: python3.11, handler: a.b, checksum: "md5:d41d8cd98f00b204e9800998ecf8427e"}`,
      message: /spec\.checksum in body should match '\^\(sha256:\[0-9a-fA-F\]\{64\}\)\?\$'/,
    },
    {
      name: 'a non-numeric timeout',
      manifest: `kind: Function
metadata: {name: bad-timeout}
spec: {runtime: python3.11, handler: a.b, timeout: "3m"}`,
      message: 'timeout must be a whole number of seconds from 1 to 2147483',
    },
    {
      name: 'a Function timeout of 0 (both runtimes would refuse to start)',
      manifest: `kind: Function
metadata: {name: zero-timeout}
spec: {runtime: python3.11, handler: a.b, timeout: "0"}`,
      message: 'timeout must be a whole number of seconds from 1 to 2147483',
    },
    {
      name: "a Function timeout over Node's timer range (30 days)",
      manifest: `kind: Function
metadata: {name: long-timeout}
spec: {runtime: python3.11, handler: a.b, timeout: 2592000}`,
      message: 'timeout must be a whole number of seconds from 1 to 2147483',
    },
    {
      name: 'an HTTPTrigger with both tls and tls-secret',
      manifest: `kind: HTTPTrigger
metadata: {name: both-tls}
spec: {function-name: f, tls: true, tls-secret: my-cert}`,
      message: 'tls (ACME) and tls-secret are mutually exclusive',
    },
    {
      name: 'an HTTPTrigger with an unknown gateway',
      manifest: `kind: HTTPTrigger
metadata: {name: bad-gateway}
spec: {function-name: f, gateway: envoy}`,
      message: 'spec.gateway: Unsupported value: "envoy": supported values: "nginx", "traefik", "kong"',
    },
    {
      name: 'a KafkaTrigger without any topic',
      manifest: `kind: KafkaTrigger
metadata: {name: no-topic}
spec: {functionSelector: {matchLabels: {foo: bar}}}`,
      message: 'set topic or topics',
    },
    {
      name: 'a KafkaTrigger with both functionName and functionSelector',
      manifest: `kind: KafkaTrigger
metadata: {name: two-targets}
spec: {topic: t, functionName: f, functionSelector: {matchLabels: {foo: bar}}}`,
      message: 'set exactly one of functionName and functionSelector',
    },
    {
      name: 'a KafkaTrigger whose onExhausted is deadLetter without a dead letter',
      manifest: `kind: KafkaTrigger
metadata: {name: no-dlq}
spec: {topic: t, functionName: f, delivery: {onExhausted: deadLetter}}`,
      message: 'onExhausted: deadLetter needs delivery.deadLetter',
    },
    {
      name: 'a KafkaTrigger with a malformed duration',
      manifest: `kind: KafkaTrigger
metadata: {name: bad-duration}
spec: {topic: t, functionName: f, delivery: {backoffDelay: "5 seconds"}}`,
      message: /spec\.delivery\.backoffDelay in body should match/,
    },
    ...(
      [
        ['backoffMax: 0s', 'backoffMax', '0s', 'must be longer than 0'],
        ['backoffDelay: 0s', 'backoffDelay', '0s', 'must be longer than 0'],
        ['a delivery timeout of 0', 'timeout', '0s', 'must be longer than 0'],
        ['a delivery timeout of 30 days', 'timeout', '720h', 'must be at most 2147483s'],
      ] as const
    ).flatMap(([what, field, value, message]) => [
      {
        name: `a KafkaTrigger with ${what}`,
        manifest: `kind: KafkaTrigger
metadata: {name: wait-${field.toLowerCase()}-${value.replace(/[^a-z0-9]/gu, '')}}
spec: {topic: t, functionName: f, delivery: {${field}: "${value}"}}`,
        message,
      },
      {
        name: `an SQSTrigger with ${what}`,
        manifest: `kind: SQSTrigger
metadata: {name: wait-${field.toLowerCase()}-${value.replace(/[^a-z0-9]/gu, '')}}
spec: {queueUrl: "http://127.0.0.1:9324/000000000000/orders", functionName: f, delivery: {${field}: "${value}"}}`,
        message,
      },
    ]),
    {
      name: 'an SQSTrigger with a queue name but no region',
      manifest: `kind: SQSTrigger
metadata: {name: no-region}
spec: {queueName: orders, functionName: f}`,
      message: 'queueName needs region',
    },
    {
      name: 'an SQSTrigger with a batch size over 10',
      manifest: `kind: SQSTrigger
metadata: {name: big-batch}
spec: {queueUrl: "http://127.0.0.1:9324/000000000000/orders", functionName: f, batchSize: 11}`,
      message: /spec\.batchSize: Invalid value: 11: spec\.batchSize in body should be less than or equal to 10/,
    },
  ];

  it.each(cases)('rejects $name', async ({ manifest, message }) => {
    const r = await kubectl(['create', '-n', ns.name, '-f', '-'], { input: `apiVersion: kubeless.io/v1beta1\n${manifest}\n` });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('is invalid');
    if (typeof message === 'string') expect(r.stderr).toContain(message);
    else expect(r.stderr).toMatch(message);
  });

  it('accepts a valid SQSTrigger by name and region', async () => {
    await kubectlOk(['create', '-n', ns.name, '-f', '-'], {
      input: `apiVersion: kubeless.io/v1beta1
kind: SQSTrigger
metadata: {name: orders}
spec: {queueName: orders, region: us-east-1, functionSelector: {matchLabels: {foo: bar}}, batchSize: 10, delivery: {deadLetter: orders-dlq, retry: 2}}
`,
    });
  });
});
