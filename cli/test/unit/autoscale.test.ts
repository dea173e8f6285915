/** `kubeless autoscale` on event metrics: flags, trigger choice, conflicts, delete and list rows. Pure. */
import { describe, expect, it } from 'vitest';
import {
  autoscalersToRemove,
  autoscalingPatch,
  buildEventAutoscaling,
  buildHpa,
  hpaRow,
  LIST_COLUMNS,
  ownerConflict,
  pickTrigger,
  replicaOwners,
  triggerRows,
  type AutoscaleFlags,
  type EventTrigger,
  type FunctionRef,
} from '../../src/autoscale-spec.js';
import { buildProgram, commandTree, createApp } from '../../src/index.js';
import { renderTable } from '../../src/output.js';

const flags = (f: Partial<AutoscaleFlags>): AutoscaleFlags => ({ min: '1', max: '1', metric: 'kafka-lag', ...f });

const trigger = (kind: EventTrigger['kind'], name: string, spec: EventTrigger['spec'], status?: EventTrigger['status']): EventTrigger => ({ kind, metadata: { name, namespace: 'ns' }, spec, status });

/** A matcher of the whole message (toThrow with a string matches any substring). */
const exactly = (message: string): RegExp => new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

const fn: FunctionRef = { name: 'f', labels: { app: 'x', tier: 'web' } };

describe('autoscale create --metric kafka-lag|sqs-depth flags', () => {
  it('--min 0 --max 5 --value 20 --cooldown 1m --polling-interval 2s is the whole block', () => {
    expect(buildEventAutoscaling(flags({ min: '0', max: '5', value: '20', cooldown: '1m', pollingInterval: '2s' }))).toEqual({
      minReplicas: 0,
      maxReplicas: 5,
      targetPerReplica: 20,
      cooldown: '1m',
      pollingInterval: '2s',
    });
  });

  it('without --value, --cooldown or --polling-interval the controller defaults apply: the patch clears what an earlier create set', () => {
    const spec = buildEventAutoscaling(flags({ metric: 'sqs-depth', max: '3' }));
    expect(spec).toEqual({ minReplicas: 1, maxReplicas: 3 });
    expect(autoscalingPatch(spec)).toEqual({ spec: { autoscaling: { minReplicas: 1, maxReplicas: 3, targetPerReplica: null, cooldown: null, pollingInterval: null } } });
  });

  it.each([
    [{ min: '3', max: '2' }, '--max (2) must be at least --min (3)'],
    [{ min: '0', max: '0' }, '--max: 0 is out of range [1, 1000]'],
    [{ min: '-1', max: '2' }, '--min: -1 is out of range [0, 1000]'],
    [{ max: '1001' }, '--max: 1001 is out of range [1, 1000]'],
    [{ max: 'ten' }, '--max: "ten" is not an integer'],
    [{ value: '0' }, '--value: 0 is out of range [1, 1000000000]'],
    [{ value: '1.5' }, '--value: "1.5" is not an integer'],
    [{ cooldown: '5 minutes' }, '--cooldown: "5 minutes" is not a duration such as 500ms, 10s or 2m'],
    [{ pollingInterval: '0s' }, '--polling-interval must be longer than 0'],
    [{ metric: 'memory' }, '--metric: "memory" is not one of cpu, qps, kafka-lag, sqs-depth'],
  ])('refuses %o: %s', (f, message) => {
    expect(() => buildEventAutoscaling(flags(f))).toThrow(exactly(message));
  });

  it('cpu and qps keep --min at least 1 and refuse the event-only flags', () => {
    expect(() => buildHpa('f', 'ns', {}, flags({ metric: 'cpu', min: '0', value: '50' }))).toThrow('--min must be at least 1 with --metric cpu (0 is allowed with kafka-lag and sqs-depth)');
    expect(() => buildHpa('f', 'ns', {}, flags({ metric: 'qps', value: '5', cooldown: '1m' }))).toThrow('--cooldown works with --metric kafka-lag or sqs-depth only');
    expect(() => buildHpa('f', 'ns', {}, flags({ metric: 'cpu', value: '5', trigger: 'kt' }))).toThrow('--trigger works with --metric kafka-lag or sqs-depth only');
    expect(() => buildHpa('f', 'ns', {}, flags({ metric: 'cpu', max: '2' }))).toThrow('--value is required');
    expect(() => buildHpa('f', 'ns', {}, flags({ metric: 'kafka-lag' }))).toThrow('--metric kafka-lag is not a metric of a HorizontalPodAutoscaler');
  });
});

describe('the trigger create writes', () => {
  const byName = trigger('KafkaTrigger', 'by-name', { functionName: 'f' });
  const other = trigger('KafkaTrigger', 'other', { functionName: 'g' });
  const bySelector = trigger('KafkaTrigger', 'by-label', { functionSelector: { matchLabels: { app: 'x' } } });
  const byExpression = trigger('KafkaTrigger', 'by-expr', { functionSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['web'] }] } });
  const empty = trigger('KafkaTrigger', 'empty', { functionSelector: {} });

  it('the only trigger that delivers to the function, by name or by selector; an empty selector selects none', () => {
    expect(pickTrigger('kafka-lag', fn, 'ns', [other, byName, empty])).toBe(byName);
    expect(pickTrigger('kafka-lag', fn, 'ns', [other, bySelector])).toBe(bySelector);
    expect(pickTrigger('kafka-lag', fn, 'ns', [byExpression])).toBe(byExpression);
  });

  it('none or several ask for --trigger; --trigger picks one, which must deliver to the function', () => {
    expect(() => pickTrigger('kafka-lag', fn, 'ns', [other, empty])).toThrow('no kafka trigger in namespace "ns" delivers to function "f"; create one with "kubeless trigger kafka create", or name one with --trigger');
    expect(() => pickTrigger('sqs-depth', fn, 'ns', [])).toThrow('no sqs trigger in namespace "ns" delivers to function "f"');
    expect(() => pickTrigger('kafka-lag', fn, 'ns', [byName, bySelector])).toThrow('function "f" has 2 kafka triggers (by-name, by-label); name the one to scale on with --trigger');
    expect(pickTrigger('kafka-lag', fn, 'ns', [byName, bySelector], 'by-label')).toBe(bySelector);
    expect(() => pickTrigger('kafka-lag', fn, 'ns', [byName], 'nope')).toThrow('kafka trigger "nope" not found in namespace "ns"');
    expect(() => pickTrigger('kafka-lag', fn, 'ns', [other], 'other')).toThrow('kafka trigger "other" does not deliver to function "f"');
  });
});

describe('one owner of the replicas at a time', () => {
  const scalingKafka = trigger('KafkaTrigger', 'kt', { functionName: 'f', autoscaling: { maxReplicas: 3 } });
  const idleSqs = trigger('SQSTrigger', 'sq', { functionName: 'f' });
  const scalingOther = trigger('SQSTrigger', 'sq2', { functionName: 'g', autoscaling: { maxReplicas: 3 } });
  const withHpa: FunctionRef = { ...fn, hpa: { metadata: { name: 'f' } } };

  it('owners are the HPA and the triggers that deliver to the function with autoscaling', () => {
    expect(replicaOwners(fn, [scalingKafka, idleSqs, scalingOther])).toEqual(['kafkatrigger/kt']);
    expect(replicaOwners(withHpa, [idleSqs])).toEqual(['hpa']);
    // A Function with an empty horizontalPodAutoscaler makes no HPA (as in the original kubeless).
    expect(replicaOwners({ ...fn, hpa: {} }, [])).toEqual([]);
  });

  it('kafka-lag over an HPA, cpu over a trigger, or a second trigger, is refused; rewriting the same owner is not', () => {
    expect(ownerConflict(withHpa, ['hpa'], 'sqstrigger/sq')).toBe(
      'function "f" is already autoscaled by its HorizontalPodAutoscaler; its replicas have one owner at a time: remove that autoscaling first with "kubeless autoscale delete f"',
    );
    expect(ownerConflict(fn, ['kafkatrigger/kt'], 'hpa')).toBe(
      'function "f" is already autoscaled by kafkatrigger/kt; its replicas have one owner at a time: remove that autoscaling first with "kubeless autoscale delete f --trigger kt"',
    );
    expect(ownerConflict(fn, ['kafkatrigger/kt'], 'sqstrigger/sq')).toContain('already autoscaled by kafkatrigger/kt');
    expect(ownerConflict(fn, ['kafkatrigger/kt'], 'kafkatrigger/kt')).toBeUndefined();
    expect(ownerConflict(withHpa, ['hpa'], 'hpa')).toBeUndefined();
  });
});

describe('autoscale delete', () => {
  const kt = trigger('KafkaTrigger', 'kt', { functionName: 'f', autoscaling: { maxReplicas: 3 } });
  const sq = trigger('SQSTrigger', 'kt', { functionSelector: { matchLabels: { app: 'x' } }, autoscaling: { maxReplicas: 2 } });
  const idle = trigger('SQSTrigger', 'idle', { functionName: 'f' });
  const elsewhere = trigger('KafkaTrigger', 'g', { functionName: 'g', autoscaling: { maxReplicas: 3 } });

  it('removes the HPA and every trigger autoscaling the function, or only the --trigger named', () => {
    const hpa: FunctionRef = { ...fn, hpa: { metadata: { name: 'f' } } };
    expect(autoscalersToRemove(hpa, [kt, idle, elsewhere], 'ns')).toEqual({ hpa: true, triggers: [kt] });
    expect(autoscalersToRemove(fn, [kt, sq, idle], 'ns', 'kt')).toEqual({ hpa: false, triggers: [kt, sq] });
  });

  it('nothing to remove is a not-found error', () => {
    expect(() => autoscalersToRemove(fn, [idle, elsewhere], 'ns')).toThrow('function "f" has no autoscaling in namespace "ns"');
    expect(() => autoscalersToRemove(fn, [kt], 'ns', 'idle')).toThrow('no trigger "idle" in namespace "ns" autoscales function "f"');
  });
});

describe('autoscale list', () => {
  it('HPAs as the original printed them, then one row per function a trigger scales, with its defaults and the trigger', () => {
    const hpa = buildHpa('web', 'ns', {}, flags({ metric: 'cpu', min: '2', max: '4', value: '70' }));
    const rows = [
      hpaRow(hpa),
      ...triggerRows(trigger('KafkaTrigger', 'kt', { functionName: 'f', autoscaling: { minReplicas: 0, maxReplicas: 5, targetPerReplica: 20 } })),
      ...triggerRows(trigger('SQSTrigger', 'sq', { functionSelector: { matchLabels: { app: 'x' } }, autoscaling: { maxReplicas: 3 } }, { functions: ['b', 'a'], autoscaling: [{ function: 'b', replicas: 1, desiredReplicas: 2, metric: 9 }] })),
      ...triggerRows(trigger('SQSTrigger', 'fresh', { functionSelector: { matchLabels: { app: 'y' } }, autoscaling: { maxReplicas: 2 } })),
      ...triggerRows(trigger('KafkaTrigger', 'plain', { functionName: 'f' })),
    ];
    expect(renderTable(LIST_COLUMNS, rows)).toBe(
      [
        'NAME      NAMESPACE   TARGET    MIN   MAX   METRIC      VALUE   TRIGGER',
        'web       ns          web       2     4     cpu         70',
        'f         ns          f         0     5     kafka-lag   20      kafkatrigger/kt',
        'a         ns          a         1     3     sqs-depth   5       sqstrigger/sq',
        'b         ns          b         1     3     sqs-depth   5       sqstrigger/sq',
        '<app=y>   ns          <app=y>   1     2     sqs-depth   5       sqstrigger/fresh',
        '',
      ].join('\n'),
    );
  });
});

describe('help and completion', () => {
  it('autoscale create offers the event flags and completes the metric values', () => {
    const sink = { write: () => true };
    const tree = commandTree(buildProgram(createApp({}, sink, sink, '0.0.0')));
    const autoscale = tree.subcommands.find((c) => c.name === 'autoscale');
    const create = autoscale?.subcommands.find((c) => c.name === 'create');
    const del = autoscale?.subcommands.find((c) => c.name === 'delete');
    expect(create?.options).toEqual(expect.arrayContaining(['--min', '--max', '--metric', '--value', '--cooldown', '--polling-interval', '--trigger']));
    expect(create?.values).toEqual({ '--metric': ['cpu', 'qps', 'kafka-lag', 'sqs-depth'] });
    expect(del?.options).toContain('--trigger');
  });
});
