/**
 * `kubeless autoscale create|delete|list` (the original CLI's commands, plus event autoscaling): cpu and qps write
 * the Function's `spec.horizontalPodAutoscaler` (the function controller makes the HPA);
 * kafka-lag and sqs-depth write `spec.autoscaling` of the function's KafkaTrigger or SQSTrigger
 * (that trigger's controller sets the replicas). A function's replicas have one owner at a time:
 * `create` refuses a second one.
 */
import type { Function as KubelessFunction } from '@kubeless/api';
import type { KubeObject } from '@kubeless/controller';
import { Command, Option } from 'commander';
import { outputFormat, printList, type App } from '../app.js';
import {
  autoscalersToRemove,
  autoscalingPatch,
  buildEventAutoscaling,
  buildHpa,
  EVENT_TRIGGERS,
  hpaRow,
  isEventMetric,
  LIST_COLUMNS,
  METRICS,
  ownerConflict,
  pickTrigger,
  REMOVE_AUTOSCALING,
  replicaOwners,
  selectorOf,
  triggerRef,
  triggerRows,
  type AutoscaleFlags,
  type EventTrigger,
  type EventTriggerKind,
  type FunctionRef,
} from '../autoscale-spec.js';
import type { Cluster } from '../cluster.js';
import { apiStatus, CliError } from '../errors.js';
import { renderTable } from '../output.js';
import { kubelessPath } from '../paths.js';
import { addNamespace, getOrExplain } from './common.js';

type Fn = KubelessFunction & KubeObject;
type TriggerObj = KubeObject & Omit<EventTrigger, 'kind'>;

const KINDS: EventTriggerKind[] = ['KafkaTrigger', 'SQSTrigger'];

const functionRef = (name: string, fn: Fn): FunctionRef => ({ name, labels: fn.metadata.labels, hpa: fn.spec.horizontalPodAutoscaler });

/**
 * The triggers of `kind` in `namespace`, tagged with their kind. A kind whose CRD is not installed
 * (404) has none. A kind the user may not list (403) is skipped with a warning when `needed` is
 * false (it was read only to find conflicts or leftovers); else the Forbidden error stands.
 */
async function listTriggers(app: App, cluster: Cluster, kind: EventTriggerKind, namespace: string, needed: boolean): Promise<{ triggers: EventTrigger[]; items: TriggerObj[] }> {
  try {
    const items = (await cluster.client.list<TriggerObj>(kubelessPath(kind, namespace))).items;
    return { items, triggers: items.map((t) => ({ kind, metadata: t.metadata, spec: t.spec, status: t.status })) };
  } catch (err) {
    const status = apiStatus(err);
    if (status === 404) return { items: [], triggers: [] };
    if (status === 403 && !needed) {
      app.err.write(`Warning: cannot list ${kind}s in namespace "${namespace}", so their autoscaling was not checked\n`);
      return { items: [], triggers: [] };
    }
    throw err;
  }
}

async function listAllTriggers(app: App, cluster: Cluster, namespace: string, needed?: EventTriggerKind): Promise<EventTrigger[]> {
  const lists = await Promise.all(KINDS.map((k) => listTriggers(app, cluster, k, namespace, k === needed)));
  return lists.flatMap((l) => l.triggers);
}

/** A note on stderr when a trigger selects by labels: its autoscaling is every selected function's. */
function noteSelector(app: App, t: EventTrigger): void {
  const selector = selectorOf(t);
  if (selector !== undefined) app.err.write(`Note: ${triggerRef(t)} selects functions by label (${selector}); its autoscaling applies to every function it selects\n`);
}

export function autoscaleCommand(app: App): Command {
  const autoscale = new Command('autoscale').description('manage the autoscaling of functions: an HPA on cpu or qps, or a trigger on its event load');

  const metric = new Option('--metric <metric>', "metric to scale on: cpu and qps make an HPA; kafka-lag and sqs-depth scale on the load of the function's Kafka or SQS trigger").default('cpu');
  // A hint for help and shell completion only: the value is checked by buildHpa/buildEventAutoscaling,
  // whose message is the CLI's own (commander's `choices()` would answer first, in its words).
  metric.argChoices = [...METRICS];
  const create = addNamespace(new Command('create').argument('<function>', 'function name').description('autoscale a function'), 'the function')
    .option('--min <n>', 'minimum number of replicas; at least 1 for cpu and qps, 0 allowed for kafka-lag and sqs-depth (scale to zero)', '1')
    .option('--max <n>', 'maximum number of replicas', '1')
    .addOption(metric)
    .option('--value <value>', 'target: CPU utilisation in percent, calls per second (both required), or Kafka lag / SQS messages per replica (default: 10 / 5)')
    .option('--cooldown <duration>', 'kafka-lag, sqs-depth: how long the load must ask for fewer replicas before they go down, and to zero (default: 5m)')
    .option('--polling-interval <duration>', 'kafka-lag, sqs-depth: how often the lag or depth is read (default: 5s)')
    .option('--trigger <name>', "kafka-lag, sqs-depth: the trigger to scale on (default: the function's only trigger of that kind)");
  create.action(async (name: string, o: AutoscaleFlags & { namespace?: string }, cmd: Command) => {
    // Flags first: a bad value fails before any request.
    const event = isEventMetric(o.metric) ? { metric: o.metric, spec: buildEventAutoscaling(o) } : undefined;
    const cluster = await app.cluster(cmd);
    const ns = cluster.namespace(o.namespace);
    const p = kubelessPath('Function', ns, name);
    const fn = await getOrExplain<Fn>(app, cmd, p, `function "${name}"`, ns);
    const ref = functionRef(name, fn);
    if (!event) {
      const hpa = buildHpa(name, ns, fn.metadata.labels ?? {}, o);
      const problem = ownerConflict(ref, replicaOwners(ref, await listAllTriggers(app, cluster, ns)), 'hpa');
      if (problem) throw new CliError(problem, 'KUBELESS_CLI_CONFLICT');
      await cluster.client.mergePatch(p, { spec: { horizontalPodAutoscaler: hpa } });
      app.out.write(`Autoscaling of function ${name} set: ${o.min} to ${o.max} replicas on ${o.metric} ${o.value ?? ''}\n`);
      return;
    }
    const { kind, defaultTarget } = EVENT_TRIGGERS[event.metric];
    const triggers = await listAllTriggers(app, cluster, ns, kind);
    const target = pickTrigger(
      event.metric,
      ref,
      ns,
      triggers.filter((t) => t.kind === kind),
      o.trigger,
    );
    const problem = ownerConflict(ref, replicaOwners(ref, triggers), triggerRef(target));
    if (problem) throw new CliError(problem, 'KUBELESS_CLI_CONFLICT');
    await cluster.client.mergePatch(kubelessPath(kind, ns, target.metadata.name ?? ''), autoscalingPatch(event.spec));
    const s = event.spec;
    app.out.write(
      `Autoscaling of function ${name} set on ${triggerRef(target)}: ${String(s.minReplicas ?? 1)} to ${String(s.maxReplicas)} replicas on ${event.metric}, ${String(s.targetPerReplica ?? defaultTarget)} per replica\n`,
    );
    noteSelector(app, target);
  });

  const del = addNamespace(
    new Command('delete')
      .argument('<function>', 'function name')
      .description("remove a function's autoscaling: its HPA and the autoscaling of its triggers")
      .option('--trigger <name>', 'remove only the autoscaling of this trigger'),
    'the function',
  );
  del.action(async (name: string, o: { namespace?: string; trigger?: string }, cmd: Command) => {
    const cluster = await app.cluster(cmd);
    const ns = cluster.namespace(o.namespace);
    const p = kubelessPath('Function', ns, name);
    const ref = functionRef(name, await getOrExplain<Fn>(app, cmd, p, `function "${name}"`, ns));
    // With --trigger the triggers are what the command acts on: a Forbidden list is an error.
    const triggers = await Promise.all(KINDS.map((k) => listTriggers(app, cluster, k, ns, o.trigger !== undefined)));
    const remove = autoscalersToRemove(
      ref,
      triggers.flatMap((l) => l.triggers),
      ns,
      o.trigger,
    );
    if (remove.hpa) {
      await cluster.client.mergePatch(p, { spec: { horizontalPodAutoscaler: null } });
      app.out.write(`Autoscaling of function ${name} removed\n`);
    }
    for (const t of remove.triggers) {
      await cluster.client.mergePatch(kubelessPath(t.kind, ns, t.metadata.name ?? ''), REMOVE_AUTOSCALING);
      app.out.write(`Autoscaling of function ${name} removed from ${triggerRef(t)}\n`);
      noteSelector(app, t);
    }
  });

  const list = addNamespace(new Command('list').alias('ls').description('list the autoscalers of functions: HPAs and triggers with autoscaling'), 'the autoscalers').option(
    '-o, --output <format>',
    'output: json or yaml',
  );
  list.action(async (o: { namespace?: string; output?: string }, cmd: Command) => {
    const format = outputFormat(o.output, ['json', 'yaml'] as const);
    const cluster = await app.cluster(cmd);
    const ns = cluster.namespace(o.namespace);
    const hpas = (await cluster.client.list(`/apis/autoscaling/v2/namespaces/${encodeURIComponent(ns)}/horizontalpodautoscalers`, { labelSelector: 'created-by=kubeless' })).items;
    const lists = await Promise.all(KINDS.map((k) => listTriggers(app, cluster, k, ns, false)));
    const scaling = lists.map((l) => ({ items: l.items.filter((t) => t.spec.autoscaling !== undefined), triggers: l.triggers.filter((t) => t.spec.autoscaling !== undefined) }));
    if (format) {
      printList(app, format, [...hpas, ...scaling.flatMap((l) => l.items)]);
      return;
    }
    app.out.write(renderTable(LIST_COLUMNS, [...hpas.map(hpaRow), ...scaling.flatMap((l) => l.triggers.flatMap(triggerRows))]));
  });

  for (const c of [create, del, list]) autoscale.addCommand(c);
  return autoscale;
}
