/**
 * `kubeless autoscale` on event metrics against the API server (issue 23): create writes the
 * trigger's spec.autoscaling, list shows it beside the HPAs, delete clears it; one owner of a
 * function's replicas at a time; bad input is refused by the CLI, and by the CRD's CEL rule when
 * sent anyway. Objects only: no controller runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { kubectl, kubectlOk, withNamespace } from '@kubeless/stack';
import { kubeless, kubelessOk } from './helpers.js';

let ns: { name: string; cleanup: () => Promise<void> };
let n: string[];

const apply = (obj: object): Promise<string> => kubectlOk(['apply', '-n', ns.name, '-f', '-'], { input: JSON.stringify(obj) });
const get = async (kind: string, name: string): Promise<any> => JSON.parse(await kubectlOk(['get', kind, name, '-n', ns.name, '-o', 'json']));
const KT = 'kafkatriggers.kubeless.io';
const SQ = 'sqstriggers.kubeless.io';
const FN = 'functions.kubeless.io';

beforeAll(async () => {
  // A stack started before the API gained spec.autoscaling would prune it silently: say so instead.
  const schema = await kubectlOk(['get', 'crd', KT, '-o', 'jsonpath={.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.autoscaling.required}']);
  if (!schema.includes('maxReplicas')) throw new Error(`the stack's ${KT} CRD has no spec.autoscaling: its CRDs predate the API (restart the stack)`);
  ns = await withNamespace('cli-autoscale');
  n = ['-n', ns.name];
  const fn = (name: string, labels: Record<string, string>): object => ({ apiVersion: 'kubeless.io/v1beta1', kind: 'Function', metadata: { name, labels }, spec: { runtime: 'python3.11', handler: 'a.b', function: 'x' } });
  await apply(fn('fn', { app: 'x' }));
  await apply(fn('other', { app: 'y' }));
  await apply({ apiVersion: 'kubeless.io/v1beta1', kind: 'KafkaTrigger', metadata: { name: 'kt' }, spec: { topic: 't', functionName: 'fn' } });
  await apply({ apiVersion: 'kubeless.io/v1beta1', kind: 'SQSTrigger', metadata: { name: 'sq' }, spec: { queueUrl: 'http://127.0.0.1:9324/queue/q', functionSelector: { matchLabels: { app: 'x' } } } });
});
afterAll(async () => {
  await ns.cleanup();
});

describe('autoscale on kafka-lag', () => {
  it('create writes the whole block, and only it, on the function\'s KafkaTrigger; a second create replaces it', async () => {
    const out = await kubelessOk(['autoscale', 'create', 'fn', '--metric', 'kafka-lag', '--min', '0', '--max', '5', '--value', '20', '--cooldown', '1m', '--polling-interval', '2s', ...n]);
    expect(out).toBe('Autoscaling of function fn set on kafkatrigger/kt: 0 to 5 replicas on kafka-lag, 20 per replica\n');
    expect((await get(KT, 'kt')).spec).toEqual({ topic: 't', functionName: 'fn', autoscaling: { minReplicas: 0, maxReplicas: 5, targetPerReplica: 20, cooldown: '1m', pollingInterval: '2s' } });
    await kubelessOk(['autoscale', 'create', 'fn', '--metric', 'kafka-lag', '--max', '3', '--trigger', 'kt', ...n]);
    expect((await get(KT, 'kt')).spec).toEqual({ topic: 't', functionName: 'fn', autoscaling: { minReplicas: 1, maxReplicas: 3 } });
  });

  it('list shows it beside the HPAs, with the default target; -o json and --out yaml include the trigger', async () => {
    const table = await kubelessOk(['autoscale', 'list', ...n]);
    expect(table.split('\n')[0]?.split(/\s+/)).toEqual(['NAME', 'NAMESPACE', 'TARGET', 'MIN', 'MAX', 'METRIC', 'VALUE', 'TRIGGER']);
    expect(table.trim().split('\n').slice(1).map((l) => l.split(/\s+/))).toEqual([['fn', ns.name, 'fn', '1', '3', 'kafka-lag', '10', 'kafkatrigger/kt']]);
    const json = JSON.parse(await kubelessOk(['autoscale', 'list', '-o', 'json', ...n])) as { kind: string; metadata: { name: string }; spec: { autoscaling: unknown } }[];
    expect(json.map((o) => [o.kind, o.metadata.name, o.spec.autoscaling])).toEqual([['KafkaTrigger', 'kt', { minReplicas: 1, maxReplicas: 3 }]]);
    const yaml = parse(await kubelessOk(['autoscale', 'ls', '--out', 'yaml', ...n])) as { kind: string; items: typeof json };
    expect([yaml.kind, ...yaml.items.map((o) => [o.kind, o.metadata.name, o.spec.autoscaling])]).toEqual(['List', ['KafkaTrigger', 'kt', { minReplicas: 1, maxReplicas: 3 }]]);
  });

  it('bad input is refused before anything is written; the CRD refuses min > max when sent anyway', async () => {
    const bad = await kubeless(['autoscale', 'create', 'fn', '--metric', 'kafka-lag', '--min', '3', '--max', '2', ...n]);
    expect(bad).toMatchObject({ code: 2, stdout: '', stderr: 'Error: --max (2) must be at least --min (3)\n' });
    const zero = await kubeless(['autoscale', 'create', 'fn', '--metric', 'kafka-lag', '--max', '2', '--cooldown', '0s', ...n]);
    expect(zero).toMatchObject({ code: 2, stderr: 'Error: --cooldown must be longer than 0\n' });
    const cpuZero = await kubeless(['autoscale', 'create', 'other', '--metric', 'cpu', '--min', '0', '--max', '2', '--value', '50', ...n]);
    expect(cpuZero).toMatchObject({ code: 2, stderr: 'Error: --min must be at least 1 with --metric cpu (0 is allowed with kafka-lag and sqs-depth)\n' });
    const sent = await kubectl(['patch', KT, 'kt', '-n', ns.name, '--type=merge', '-p', JSON.stringify({ spec: { autoscaling: { minReplicas: 3, maxReplicas: 2 } } })]);
    expect(sent.code).not.toBe(0);
    expect(sent.stderr).toContain('minReplicas must not exceed maxReplicas');
    expect((await get(KT, 'kt')).spec.autoscaling).toEqual({ minReplicas: 1, maxReplicas: 3 });
    expect((await get(FN, 'other')).spec.horizontalPodAutoscaler).toBeUndefined();
  });

  it('a second owner of the replicas is refused: another trigger, or an HPA', async () => {
    const sqs = await kubeless(['autoscale', 'create', 'fn', '--metric', 'sqs-depth', '--max', '2', ...n]);
    expect(sqs).toMatchObject({
      code: 1,
      stderr: 'Error: function "fn" is already autoscaled by kafkatrigger/kt; its replicas have one owner at a time: remove that autoscaling first with "kubeless autoscale delete fn --trigger kt"\n',
    });
    const cpu = await kubeless(['autoscale', 'create', 'fn', '--metric', 'cpu', '--max', '2', '--value', '50', ...n]);
    expect(cpu).toMatchObject({ code: 1, stderr: expect.stringContaining('Error: function "fn" is already autoscaled by kafkatrigger/kt;') as unknown });
    expect((await get(SQ, 'sq')).spec.autoscaling).toBeUndefined();
    expect((await get(FN, 'fn')).spec.horizontalPodAutoscaler).toBeUndefined();
  });

  it('a trigger that is not the function\'s, or several candidates, ask for --trigger', async () => {
    await apply({ apiVersion: 'kubeless.io/v1beta1', kind: 'KafkaTrigger', metadata: { name: 'kt2' }, spec: { topic: 'u', functionSelector: { matchLabels: { app: 'x' } } } });
    expect(await kubeless(['autoscale', 'create', 'fn', '--metric', 'kafka-lag', '--max', '2', ...n])).toMatchObject({
      code: 1,
      stderr: 'Error: function "fn" has 2 kafka triggers (kt, kt2); name the one to scale on with --trigger\n',
    });
    expect(await kubeless(['autoscale', 'create', 'other', '--metric', 'kafka-lag', '--max', '2', ...n])).toMatchObject({
      code: 3,
      stderr: `Error: no kafka trigger in namespace "${ns.name}" delivers to function "other"; create one with "kubeless trigger kafka create", or name one with --trigger\n`,
    });
    expect(await kubeless(['autoscale', 'create', 'other', '--metric', 'kafka-lag', '--max', '2', '--trigger', 'kt', ...n])).toMatchObject({ code: 1, stderr: 'Error: kafka trigger "kt" does not deliver to function "other"\n' });
    await kubelessOk(['trigger', 'kafka', 'delete', 'kt2', ...n]);
  });

  it('delete clears it; a second delete is a not-found error', async () => {
    expect(await kubelessOk(['autoscale', 'delete', 'fn', ...n])).toBe('Autoscaling of function fn removed from kafkatrigger/kt\n');
    expect((await get(KT, 'kt')).spec).toEqual({ topic: 't', functionName: 'fn' });
    expect(await kubeless(['autoscale', 'delete', 'fn', ...n])).toMatchObject({ code: 3, stderr: `Error: function "fn" has no autoscaling in namespace "${ns.name}"\n` });
    expect(await kubelessOk(['autoscale', 'list', ...n])).toBe('NAME   NAMESPACE   TARGET   MIN   MAX   METRIC   VALUE   TRIGGER\n');
  });
});

describe('autoscale on sqs-depth and beside an HPA', () => {
  it('a selector SQSTrigger scales every function it selects: a note says so, list shows its functions', async () => {
    const r = await kubeless(['autoscale', 'create', 'fn', '--metric', 'sqs-depth', '--min', '0', '--max', '4', ...n]);
    expect(r).toEqual({ code: 0, stdout: 'Autoscaling of function fn set on sqstrigger/sq: 0 to 4 replicas on sqs-depth, 5 per replica\n', stderr: 'Note: sqstrigger/sq selects functions by label (app=x); its autoscaling applies to every function it selects\n' });
    expect((await get(SQ, 'sq')).spec.autoscaling).toEqual({ minReplicas: 0, maxReplicas: 4 });
    const row = async (): Promise<string[] | undefined> => (await kubelessOk(['autoscale', 'list', ...n])).trim().split('\n')[1]?.split(/\s+/);
    expect(await row()).toEqual(['<app=x>', ns.name, '<app=x>', '0', '4', 'sqs-depth', '5', 'sqstrigger/sq']);
    // What the SQS controller writes once it found the functions.
    await kubectlOk(['patch', SQ, 'sq', '-n', ns.name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { functions: ['fn'] } })]);
    expect(await row()).toEqual(['fn', ns.name, 'fn', '0', '4', 'sqs-depth', '5', 'sqstrigger/sq']);
  });

  it('delete --trigger removes only that trigger\'s autoscaling; then an HPA, which a kafka-lag create may not join', async () => {
    expect(await kubeless(['autoscale', 'delete', 'fn', '--trigger', 'kt', ...n])).toMatchObject({ code: 3, stderr: `Error: no trigger "kt" in namespace "${ns.name}" autoscales function "fn"\n` });
    await kubelessOk(['autoscale', 'delete', 'fn', '--trigger', 'sq', ...n]);
    expect((await get(SQ, 'sq')).spec.autoscaling).toBeUndefined();
    await kubelessOk(['autoscale', 'create', 'fn', '--metric', 'cpu', '--min', '1', '--max', '3', '--value', '70', ...n]);
    expect((await get(FN, 'fn')).spec.horizontalPodAutoscaler.spec).toMatchObject({ minReplicas: 1, maxReplicas: 3 });
    const kafka = await kubeless(['autoscale', 'create', 'fn', '--metric', 'kafka-lag', '--max', '2', ...n]);
    expect(kafka).toMatchObject({
      code: 1,
      stderr: 'Error: function "fn" is already autoscaled by its HorizontalPodAutoscaler; its replicas have one owner at a time: remove that autoscaling first with "kubeless autoscale delete fn"\n',
    });
    expect((await get(KT, 'kt')).spec.autoscaling).toBeUndefined();
    expect(await kubelessOk(['autoscale', 'delete', 'fn', ...n])).toBe('Autoscaling of function fn removed\n');
    expect((await get(FN, 'fn')).spec.horizontalPodAutoscaler).toBeUndefined();
  });
});
