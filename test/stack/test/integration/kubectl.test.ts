/** kubectl shows the kinds usefully: printer columns, short names and the `kubeless` category. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectlOk, withNamespace } from '../helpers.js';

let ns: { name: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  ns = await withNamespace('kubectl');
  await kubectlOk(['apply', '-n', ns.name, '-f', '-'], {
    input: `apiVersion: kubeless.io/v1beta1
kind: Function
metadata: {name: foo, labels: {foo: bar, bar: baz}}
spec: {runtime: python3.11, handler: foo.handler, function: "def handler(event, context):\\n    return event['data']\\n"}
---
apiVersion: kubeless.io/v1beta1
kind: HTTPTrigger
metadata: {name: foo-http}
spec: {function-name: foo, host-name: foo.example.com, gateway: traefik}
---
apiVersion: kubeless.io/v1beta1
kind: KafkaTrigger
metadata: {name: foo-kafka}
spec: {topic: orders, functionSelector: {matchLabels: {foo: bar}}}
---
apiVersion: kubeless.io/v1beta1
kind: SQSTrigger
metadata: {name: foo-sqs}
spec: {queueName: jobs, region: us-east-1, functionName: foo}
`,
  });
  // Status is written by controllers; set a Ready condition through the status subresource to see the column.
  await kubectlOk(
    [
      'patch', 'function', 'foo', '-n', ns.name, '--subresource=status', '--type=merge', '-p',
      JSON.stringify({ status: { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'True', reason: 'Deployed', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }] } }),
    ],
  );
});
afterAll(async () => {
  await ns.cleanup();
});

/** Parses kubectl's table output into rows keyed by header. */
function table(text: string): Record<string, string>[] {
  const lines = text.trimEnd().split('\n');
  const header = lines[0] ?? '';
  const starts = [...header.matchAll(/\S+/g)].map((m) => ({ name: m[0], at: m.index }));
  return lines.slice(1).map((line) =>
    Object.fromEntries(
      starts.map((col, i) => [col.name, line.slice(col.at, starts[i + 1]?.at ?? line.length).trim()]),
    ),
  );
}

describe('kubectl get', () => {
  it('shows the printer columns of every kind', async () => {
    const fns = table(await kubectlOk(['get', 'functions', '-n', ns.name]));
    expect(fns).toEqual([{ NAME: 'foo', RUNTIME: 'python3.11', HANDLER: 'foo.handler', READY: 'True', AGE: expect.any(String) as string }]);

    const http = table(await kubectlOk(['get', 'httptriggers', '-n', ns.name]));
    expect(http[0]).toMatchObject({ NAME: 'foo-http', FUNCTION: 'foo', HOST: 'foo.example.com', GATEWAY: 'traefik' });

    const kafka = table(await kubectlOk(['get', 'kafkatriggers', '-n', ns.name]));
    expect(kafka[0]).toMatchObject({ NAME: 'foo-kafka', TOPIC: 'orders', SELECTOR: '{"foo":"bar"}' });

    const sqs = table(await kubectlOk(['get', 'sqstriggers', '-n', ns.name]));
    expect(sqs[0]).toMatchObject({ NAME: 'foo-sqs', QUEUE: 'jobs', FUNCTION: 'foo' });
  });

  it('lists all four kinds in one call, by plural names', async () => {
    const out = await kubectlOk(['get', 'functions,kafkatriggers,httptriggers,sqstriggers', '-n', ns.name, '-o', 'name']);
    expect(out.trim().split('\n').sort()).toEqual([
      'function.kubeless.io/foo',
      'httptrigger.kubeless.io/foo-http',
      'kafkatrigger.kubeless.io/foo-kafka',
      'sqstrigger.kubeless.io/foo-sqs',
    ]);
  });

  it('resolves the short names', async () => {
    for (const [short, name] of [
      ['kfn', 'function.kubeless.io/foo'],
      ['khttp', 'httptrigger.kubeless.io/foo-http'],
      ['kkafka', 'kafkatrigger.kubeless.io/foo-kafka'],
      ['ksqs', 'sqstrigger.kubeless.io/foo-sqs'],
    ] as const) {
      expect((await kubectlOk(['get', short, '-n', ns.name, '-o', 'name'])).trim()).toBe(name);
    }
  });

  it('lists every kind under the kubeless category', async () => {
    const out = await kubectlOk(['get', 'kubeless', '-n', ns.name, '-o', 'name']);
    expect(out.trim().split('\n').sort()).toEqual([
      'function.kubeless.io/foo',
      'httptrigger.kubeless.io/foo-http',
      'kafkatrigger.kubeless.io/foo-kafka',
      'sqstrigger.kubeless.io/foo-sqs',
    ]);
  });
});
