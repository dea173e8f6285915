/**
 * `kubeless autoscale create|delete|list` (reference/kubeless.md §5.4): writes the Function's
 * `spec.horizontalPodAutoscaler`; the function controller makes the HPA.
 */
import type { Function as KubelessFunction } from '@kubeless/api';
import type { KubeObject } from '@kubeless/controller';
import { Command } from 'commander';
import { outputFormat, printList, type App } from '../app.js';
import { buildHpa, describeMetric, METRICS } from '../autoscale-spec.js';
import { CliError } from '../errors.js';
import { renderTable } from '../output.js';
import { kubelessPath } from '../paths.js';
import { addNamespace, getOrExplain } from './common.js';

type Fn = KubelessFunction & KubeObject;

export function autoscaleCommand(app: App): Command {
  const autoscale = new Command('autoscale').description('manage the autoscaling of functions');

  const create = addNamespace(new Command('create').argument('<function>', 'function name').description('autoscale a function'), 'the function')
    .option('--min <n>', 'minimum number of replicas', '1')
    .option('--max <n>', 'maximum number of replicas', '1')
    .option('--metric <metric>', `metric to scale on: ${METRICS.join(' or ')}`, 'cpu')
    .option('--value <value>', 'target: CPU utilisation in percent, or calls per second (required)');
  create.action(async (name: string, o: { namespace?: string; min: string; max: string; metric: string; value?: string }, cmd: Command) => {
    const cluster = await app.cluster(cmd);
    const ns = cluster.namespace(o.namespace);
    const p = kubelessPath('Function', ns, name);
    const fn = await getOrExplain<Fn>(app, cmd, p, `function "${name}"`, ns);
    const hpa = buildHpa(name, ns, fn.metadata.labels ?? {}, o);
    await cluster.client.mergePatch(p, { spec: { horizontalPodAutoscaler: hpa } });
    app.out.write(`Autoscaling of function ${name} set: ${o.min} to ${o.max} replicas on ${o.metric} ${o.value ?? ''}\n`);
  });

  const del = addNamespace(new Command('delete').argument('<function>', 'function name').description("remove a function's autoscaling"), 'the function');
  del.action(async (name: string, o: { namespace?: string }, cmd: Command) => {
    const cluster = await app.cluster(cmd);
    const ns = cluster.namespace(o.namespace);
    const p = kubelessPath('Function', ns, name);
    const fn = await getOrExplain<Fn>(app, cmd, p, `function "${name}"`, ns);
    const h = fn.spec.horizontalPodAutoscaler as { metadata?: { name?: string } } | undefined;
    if (!h?.metadata?.name) throw new CliError(`function "${name}" has no autoscaling`);
    await cluster.client.mergePatch(p, { spec: { horizontalPodAutoscaler: null } });
    app.out.write(`Autoscaling of function ${name} removed\n`);
  });

  const list = addNamespace(new Command('list').alias('ls').description('list the autoscalers of functions'), 'the autoscalers').option('-o, --output <format>', 'output: json or yaml');
  list.action(async (o: { namespace?: string; output?: string }, cmd: Command) => {
    const format = outputFormat(o.output, ['json', 'yaml'] as const);
    const cluster = await app.cluster(cmd);
    const ns = cluster.namespace(o.namespace);
    const hpas = (await cluster.client.list(`/apis/autoscaling/v2/namespaces/${encodeURIComponent(ns)}/horizontalpodautoscalers`, { labelSelector: 'created-by=kubeless' })).items;
    if (format) {
      printList(app, format, hpas);
      return;
    }
    app.out.write(
      renderTable(
        ['NAME', 'NAMESPACE', 'TARGET', 'MIN', 'MAX', 'METRIC', 'VALUE'],
        hpas.map((h) => {
          const spec = h.spec as { scaleTargetRef?: { name?: string }; minReplicas?: number; maxReplicas?: number } & Record<string, unknown>;
          const m = describeMetric(spec);
          return [h.metadata?.name, h.metadata?.namespace, spec.scaleTargetRef?.name, spec.minReplicas ?? 1, spec.maxReplicas, m.metric, m.value];
        }),
      ),
    );
  });

  for (const c of [create, del, list]) autoscale.addCommand(c);
  return autoscale;
}
