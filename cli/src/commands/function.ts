/**
 * `kubeless function deploy|update|delete|list|describe|call|logs|top`, as the original kubeless CLI's.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { CronJobTrigger, Function as KubelessFunction } from '@kubeless/api';
import type { KubeObject } from '@kubeless/controller';
import { Command } from 'commander';
import { outputFormat, printDoc, printList, type App } from '../app.js';
import { apiStatus, CliError } from '../errors.js';
import { buildCronJobTrigger, functionOwner, parseSchedule, updateCronJobTrigger } from '../trigger-spec.js';
import { buildFunction, codeFromFile, codeFromUrl, isUrl, PORT_NAME, updateFunction, type CodeSource, type FunctionFlags } from '../function-spec.js';
import { parseFunctionMetrics, topRow } from '../metrics.js';
import { age, renderTable } from '../output.js';
import { parseEnv, parseIntFlag, parseKeyValues, parseList, parseQuantity } from '../parse.js';
import { corePath, kubelessPath, serviceProxyPath } from '../paths.js';
import { checkRuntime } from '../runtimes.js';
import { statusMessage } from '../cluster.js';
import { addDryRun, addNamespace, addWait, collect, getOrExplain, isDryRun, maybeWait, readRuntimes, replaceWithRetry } from './common.js';

interface SpecOptions {
  runtime?: string;
  handler?: string;
  fromFile?: string;
  dependencies?: string;
  label?: string[];
  annotation?: string[];
  env?: string[];
  secrets?: string[];
  nodeSelectors?: string[];
  serviceAccount?: string;
  memory?: string;
  cpu?: string;
  runtimeImage?: string;
  imagePullPolicy?: string;
  timeout?: string;
  port?: string;
  servicePort?: string;
  headless?: boolean;
  namespace?: string;
  dryrun?: boolean;
  output?: string;
  wait?: boolean;
  waitTimeout?: string;
  schedule?: string;
}

function addSpecOptions(cmd: Command, deploy: boolean): Command {
  const d = (text: string, dflt: string): string => (deploy ? `${text} (default: ${dflt})` : `${text} (default: unchanged)`);
  return cmd
    .option('-r, --runtime <runtime>', 'runtime id, e.g. python3.12 or nodejs22 (see get-server-config)')
    .option('--handler <module.function>', 'the function to call, e.g. hello.handler')
    .option('-f, --from-file <file|url>', 'code: a file, a .zip or compressed tar archive, or an http(s) URL')
    .option('-d, --dependencies <file>', 'dependency file (package.json, requirements.txt)')
    .option('-l, --label <k=v,...>', 'labels of the function (repeatable)', collect)
    .option('--annotation <k=v,...>', 'annotations of the function and its pods, e.g. for pod identity (repeatable)', collect)
    .option('-e, --env <NAME=value,...>', 'environment variables of the function (repeatable)', collect)
    .option('--secrets <name,...>', 'Secrets to mount at /<name> (repeatable)', collect)
    .option('--node-selectors <k=v,...>', 'node selector of the function pods (repeatable)', collect)
    .option('--service-account <name>', 'service account of the function pods')
    .option('--memory <quantity>', 'memory request and limit, e.g. 128Mi')
    .option('--cpu <quantity>', 'CPU request and limit, e.g. 250m')
    .option('--runtime-image <image>', 'custom runtime image')
    .option('--image-pull-policy <policy>', d('image pull policy: Always, IfNotPresent or Never', 'Always'))
    .option('--timeout <seconds>', d('function timeout in seconds', '180'))
    .option('--port <port>', d('port the function listens on', '8080'))
    .option('--servicePort <port>', d('port of the function Service', 'the --port'))
    .option('--headless', 'make the Service headless (clusterIP: None)')
    .option('--schedule <cron>', `call the function on this cron schedule: a CronJobTrigger named like the function${deploy ? '' : ' (created, or its schedule changed)'}`);
}

/** Reads code and dependency files and parses every flag; nothing is sent yet. */
async function specFlags(o: SpecOptions): Promise<FunctionFlags> {
  let code: CodeSource | undefined;
  if (o.fromFile !== undefined) {
    if (isUrl(o.fromFile)) {
      const res = await fetch(o.fromFile).catch((err: unknown) => {
        throw new CliError(`cannot download ${o.fromFile ?? ''}: ${(err as Error).message}`, 'KUBELESS_CLI_DOWNLOAD', { cause: err });
      });
      if (!res.ok) throw new CliError(`cannot download ${o.fromFile}: HTTP ${String(res.status)}`, 'KUBELESS_CLI_DOWNLOAD');
      code = codeFromUrl(o.fromFile, new Uint8Array(await res.arrayBuffer()));
    } else {
      code = codeFromFile(path.basename(o.fromFile), await readText(o.fromFile, 'code'));
    }
  }
  const deps = o.dependencies === undefined ? undefined : Buffer.from(await readText(o.dependencies, 'dependencies')).toString('utf8');
  return {
    runtime: o.runtime,
    handler: o.handler,
    code,
    deps,
    labels: o.label ? parseKeyValues('label', o.label) : undefined,
    annotations: o.annotation ? parseKeyValues('annotation', o.annotation, { commasInValues: true }) : undefined,
    env: o.env ? parseEnv(o.env) : undefined,
    secrets: o.secrets ? parseList(o.secrets) : undefined,
    nodeSelectors: o.nodeSelectors ? parseKeyValues('node-selectors', o.nodeSelectors) : undefined,
    serviceAccount: o.serviceAccount,
    memory: o.memory === undefined ? undefined : parseQuantity('memory', o.memory),
    cpu: o.cpu === undefined ? undefined : parseQuantity('cpu', o.cpu),
    runtimeImage: o.runtimeImage,
    imagePullPolicy: o.imagePullPolicy,
    timeout: o.timeout,
    port: o.port === undefined ? undefined : parseIntFlag('port', o.port, 1, 65535),
    servicePort: o.servicePort === undefined ? undefined : parseIntFlag('servicePort', o.servicePort, 1, 65535),
    headless: o.headless,
  };
}

async function readText(file: string, what: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new CliError(`cannot read the ${what} file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

type Fn = KubelessFunction & KubeObject;

export function functionCommand(app: App): Command {
  const fn = new Command('function').description('deploy, update, call and inspect functions');

  const deploy = addSpecOptions(new Command('deploy').argument('<name>', 'function name').description('deploy a function'), true);
  addWait(addDryRun(addNamespace(deploy, 'the function')));
  deploy.action(async (name: string, o: SpecOptions, cmd: Command) => {
    const format = outputFormat(o.output, ['yaml', 'json'] as const) ?? 'yaml';
    const dry = isDryRun(cmd);
    if (o.schedule !== undefined) parseSchedule(o.schedule);
    const flags = await specFlags(o);
    const cluster = await app.cluster(cmd);
    const ns = cluster.namespace(o.namespace);
    const schedule = o.schedule === undefined ? undefined : parseSchedule(o.schedule);
    const obj = buildFunction(name, ns, flags);
    if (flags.runtime) checkRuntime(flags.runtime, (await readRuntimes(app, cmd, undefined, 'check', dry)).ids);
    if (dry) {
      if (schedule === undefined) printDoc(app, format, obj);
      else printList(app, format, [obj, buildCronJobTrigger(name, ns, { function: name, schedule })]);
      return;
    }
    app.out.write('Deploying function...\n');
    const created = await cluster.client.create(kubelessPath('Function', ns), obj as unknown as KubeObject);
    app.out.write(`Function ${name} submitted for deployment\nCheck the deployment status executing 'kubeless function ls ${name}'\n`);
    if (schedule !== undefined) {
      // Owned by the function: deleting the function deletes it (garbage collection), as the original did.
      await cluster.client.create(kubelessPath('CronJobTrigger', ns), buildCronJobTrigger(name, ns, { function: name, schedule }, functionOwner(created)) as unknown as KubeObject);
      app.out.write(`CronJobTrigger ${name} created: the function is called on "${schedule}"\n`);
    }
    await maybeWait(app, cmd, `function ${name}`, kubelessPath('Function', ns, name), o);
  });

  const update = addSpecOptions(new Command('update').argument('<name>', 'function name').description('update a function; settings not given keep their values'), false);
  addWait(addDryRun(addNamespace(update, 'the function')));
  update.action(async (name: string, o: SpecOptions, cmd: Command) => {
    const format = outputFormat(o.output, ['yaml', 'json'] as const) ?? 'yaml';
    const dry = isDryRun(cmd);
    if (o.schedule !== undefined) parseSchedule(o.schedule);
    const flags = await specFlags(o);
    const cluster = await app.cluster(cmd);
    const ns = cluster.namespace(o.namespace);
    const p = kubelessPath('Function', ns, name);
    const existing = await getOrExplain<Fn>(app, cmd, p, `function "${name}"`, ns);
    updateFunction(existing, flags);
    const schedule = o.schedule === undefined ? undefined : parseSchedule(o.schedule);
    if (flags.runtime) checkRuntime(flags.runtime, (await readRuntimes(app, cmd, undefined, 'check', dry)).ids);
    if (dry) {
      printDoc(app, format, updateFunction(existing, flags));
      return;
    }
    const updated = await replaceWithRetry<Fn>(app, cmd, p, (current) => updateFunction(current, flags) as Fn);
    app.out.write(`Function ${name} updated\n`);
    if (schedule !== undefined) await scheduleFunction(app, cmd, ns, updated, schedule);
    await maybeWait(app, cmd, `function ${name}`, p, o);
  });

  const del = addNamespace(new Command('delete').argument('<name>', 'function name').description('delete a function'), 'the function');
  del.action(async (name: string, o: { namespace?: string }, cmd: Command) => {
    const cluster = await app.cluster(cmd);
    const ns = cluster.namespace(o.namespace);
    try {
      await cluster.client.delete(kubelessPath('Function', ns, name));
    } catch (err) {
      if (apiStatus(err) === 404) throw new CliError(`function "${name}" not found in namespace "${ns}"`, 'KUBELESS_CLI_NOT_FOUND', { cause: err });
      throw err;
    }
  });

  const list = addNamespace(new Command('list').alias('ls').argument('[names...]', 'only these functions').description('list functions'), 'the functions');
  list.option('-o, --output <format>', 'output: wide, json or yaml');
  list.action(async (names: string[], o: { namespace?: string; output?: string }, cmd: Command) => {
    const format = outputFormat(o.output, ['wide', 'json', 'yaml'] as const);
    const cluster = await app.cluster(cmd);
    const ns = cluster.namespace(o.namespace);
    let items: Fn[];
    if (names.length > 0) {
      items = await Promise.all(names.map((n) => getOrExplain<Fn>(app, cmd, kubelessPath('Function', ns, n), `function "${n}"`, ns)));
    } else {
      items = (await cluster.client.list<Fn>(kubelessPath('Function', ns))).items;
    }
    if (format === 'json' || format === 'yaml') {
      printList(app, format, items);
      return;
    }
    const wide = format === 'wide';
    const headers = ['NAME', 'NAMESPACE', 'HANDLER', 'RUNTIME', 'DEPENDENCIES', 'STATUS', ...(wide ? ['MEMORY', 'ENV', 'LABEL', 'AGE'] : [])];
    const rows = items.map((f) => {
      const c0 = container0(f);
      return [
        f.metadata.name,
        f.metadata.namespace,
        f.spec.handler ?? '',
        f.spec.runtime ?? '',
        dependencies(f),
        functionStatus(f),
        ...(wide
          ? [
              c0.resources?.requests?.memory ?? '',
              (c0.env ?? []).map((e) => `${e.name}=${e.value ?? ''}`).join(', '),
              Object.entries(f.metadata.labels ?? {})
                .map(([k, v]) => `${k}=${v}`)
                .join(', '),
              age(f.metadata.creationTimestamp),
            ]
          : []),
      ];
    });
    app.out.write(renderTable(headers, rows));
  });

  const describe = addNamespace(new Command('describe').argument('<name>', 'function name').description('show the details of a function'), 'the function');
  describe.option('-o, --output <format>', 'output: json or yaml');
  describe.action(async (name: string, o: { namespace?: string; output?: string }, cmd: Command) => {
    const format = outputFormat(o.output, ['json', 'yaml'] as const);
    const ns = (await app.cluster(cmd)).namespace(o.namespace);
    const f = await getOrExplain<Fn>(app, cmd, kubelessPath('Function', ns, name), `function "${name}"`, ns);
    if (format) {
      printDoc(app, format, f);
      return;
    }
    const c0 = container0(f);
    const ready = f.status?.conditions?.find((c) => c.type === 'Ready');
    const rows: [string, string][] = [
      ['Name', f.metadata.name ?? ''],
      ['Namespace', f.metadata.namespace ?? ''],
      ['Handler', f.spec.handler ?? ''],
      ['Runtime', f.spec.runtime ?? ''],
      ['Label', JSON.stringify(f.metadata.labels ?? {})],
      ['Envvar', JSON.stringify(c0.env ?? [])],
      ['Memory', c0.resources?.requests?.memory ?? ''],
      ['Timeout', String(f.spec.timeout ?? '')],
      ['Content-Type', f.spec['function-content-type'] ?? ''],
      ['Checksum', f.spec.checksum ?? ''],
      ['Dependencies', dependencies(f)],
      ['Status', functionStatus(f)],
      ['Reason', ready ? `${ready.reason ?? ''}${ready.message ? `: ${ready.message}` : ''}` : ''],
      ['URL', f.status?.url ?? ''],
    ];
    const width = Math.max(...rows.map(([k]) => k.length)) + 2;
    app.out.write(rows.map(([k, v]) => `${`${k}:`.padEnd(width)}${v.replace(/\n/g, ', ')}`).join('\n') + '\n');
  });

  const call = addNamespace(new Command('call').argument('<name>', 'function name').description('call a function through the API server'), 'the function');
  call.option('-d, --data <data>', 'request body; without it the call is a GET');
  call.action(async (name: string, o: { namespace?: string; data?: string }, cmd: Command) => {
    const cluster = await app.cluster(cmd);
    const ns = cluster.namespace(o.namespace);
    const f = await getOrExplain<Fn>(app, cmd, kubelessPath('Function', ns, name), `function "${name}"`, ns);
    const isJson = o.data !== undefined && isJsonObject(o.data);
    const type = isJson ? 'application/json' : 'application/x-www-form-urlencoded';
    const headers: Record<string, string> = {
      'event-id': randomBytes(11).toString('base64url'),
      'event-time': new Date().toISOString(),
      'event-type': type,
      'event-namespace': 'cli.kubeless.io',
    };
    if (o.data !== undefined) headers['content-type'] = type;
    const timeoutS = Number(f.spec.timeout ?? 180);
    const res = await cluster.raw(o.data === undefined ? 'GET' : 'POST', serviceProxyPath(ns, name, servicePort(f)), {
      headers,
      body: o.data,
      timeoutMs: ((Number.isFinite(timeoutS) ? timeoutS : 180) + 10) * 1000,
    });
    if (res.status === 408) throw new CliError('Request timeout exceeded', 'KUBELESS_CLI_CALL_TIMEOUT');
    if (res.status < 200 || res.status >= 300) throw new CliError(`calling function "${name}" failed (${String(res.status)}): ${statusMessage(res.status, res.body)}`, 'KUBELESS_CLI_CALL_FAILED');
    const text = res.body.toString();
    app.out.write(text.endsWith('\n') || text === '' ? text : `${text}\n`);
  });

  const logs = addNamespace(new Command('logs').argument('<name>', 'function name').description("print the logs of a function's pod"), 'the function');
  logs.option('-f, --follow', 'stream new log lines');
  logs.action(async (name: string, o: { namespace?: string; follow?: boolean }, cmd: Command) => {
    const cluster = await app.cluster(cmd);
    const ns = cluster.namespace(o.namespace);
    const pods = await cluster.client.list(corePath('pods', ns), { labelSelector: `function=${name}` });
    const ready = pods.items.filter((p) => {
      const st = (p.status ?? {}) as { containerStatuses?: { ready?: boolean }[] };
      return (st.containerStatuses ?? []).length > 0 && (st.containerStatuses ?? []).every((c) => c.ready === true);
    });
    const pod = ready[0] ?? pods.items[0];
    if (!pod?.metadata?.name) throw new CliError(`no pod of function "${name}" in namespace "${ns}"`, 'KUBELESS_CLI_NOT_FOUND');
    const query = new URLSearchParams({ container: name, ...(o.follow ? { follow: 'true' } : {}) });
    const p = `${corePath('pods', ns, pod.metadata.name)}/log?${query.toString()}`;
    if (!o.follow) {
      const res = await cluster.raw('GET', p);
      if (res.status >= 300) throw new CliError(statusMessage(res.status, res.body), res.status === 404 ? 'KUBELESS_CLI_NOT_FOUND' : 'KUBELESS_CLI_API');
      app.out.write(res.body.toString());
      return;
    }
    const ac = new AbortController();
    process.once('SIGINT', () => {
      ac.abort();
    });
    await cluster.stream(
      p,
      (c) => {
        app.out.write(c.toString());
      },
      ac.signal,
    );
  });

  const top = addNamespace(new Command('top').alias('stats').description('show call counts and durations from the functions\' metrics'), 'the functions');
  top.option('-f, --function <name>', 'only this function').option('-o, --output <format>', 'output: json or yaml');
  top.action(async (o: { namespace?: string; function?: string; output?: string }, cmd: Command) => {
    const format = outputFormat(o.output, ['json', 'yaml'] as const);
    const cluster = await app.cluster(cmd);
    const ns = cluster.namespace(o.namespace);
    const fns = o.function
      ? [await getOrExplain<Fn>(app, cmd, kubelessPath('Function', ns, o.function), `function "${o.function}"`, ns)]
      : (await cluster.client.list<Fn>(kubelessPath('Function', ns))).items;
    const rows = (
      await Promise.all(
        fns.map(async (f) => {
          const base = { name: f.metadata.name ?? '', namespace: f.metadata.namespace ?? ns };
          try {
            const res = await cluster.raw('GET', serviceProxyPath(ns, base.name, servicePort(f), 'metrics'), { timeoutMs: 5000 });
            if (res.status >= 300) throw new Error(statusMessage(res.status, res.body));
            const stats = parseFunctionMetrics(res.body.toString());
            if (stats.length === 0) return [topRow(base, undefined, 'no calls yet')];
            return stats.map((s) => topRow(base, s, ''));
          } catch (err) {
            return [topRow(base, undefined, (err as Error).message)];
          }
        }),
      )
    ).flat();
    if (format) {
      printDoc(app, format, rows);
      return;
    }
    app.out.write(
      renderTable(
        ['NAME', 'NAMESPACE', 'METHOD', 'TOTAL_CALLS', 'TOTAL_FAILURES', 'TOTAL_DURATION_SECONDS', 'AVG_DURATION_SECONDS', 'MESSAGE'],
        rows.map((r) => [r.name, r.namespace, r.method, r.total_calls, r.total_failures, round(r.total_duration_seconds), round(r.avg_duration_seconds), r.message]),
      ),
    );
  });

  for (const c of [deploy, update, del, list, describe, call, logs, top]) fn.addCommand(c);
  return fn;
}

/** `function update --schedule`: the CronJobTrigger named like the function gets the schedule, created (owned by the function) if absent. */
async function scheduleFunction(app: App, cmd: Command, ns: string, fn: Fn, schedule: string): Promise<void> {
  const name = fn.metadata.name ?? '';
  const client = (await app.cluster(cmd)).client;
  const path = kubelessPath('CronJobTrigger', ns, name);
  const owner = functionOwner(fn);
  try {
    await client.get(path);
  } catch (err) {
    if (apiStatus(err) !== 404) throw err;
    await client.create(kubelessPath('CronJobTrigger', ns), buildCronJobTrigger(name, ns, { function: name, schedule }, owner) as unknown as KubeObject);
    app.out.write(`CronJobTrigger ${name} created: the function is called on "${schedule}"\n`);
    return;
  }
  await replaceWithRetry<KubeObject>(app, cmd, path, (current) => updateCronJobTrigger(current as unknown as CronJobTrigger, { function: name, schedule }, owner) as unknown as KubeObject);
  app.out.write(`CronJobTrigger ${name} updated: the function is called on "${schedule}"\n`);
}

function round(n: number): string {
  return String(Math.round(n * 1e6) / 1e6);
}

interface Container0 {
  env?: { name: string; value?: string }[];
  resources?: { requests?: { memory?: string } };
}

function container0(f: Fn): Container0 {
  const d = f.spec.deployment as { spec?: { template?: { spec?: { containers?: Container0[] } } } } | undefined;
  return d?.spec?.template?.spec?.containers?.[0] ?? {};
}

/** The Service port the proxy should use: the first port's name, else its number, else the default name. */
function servicePort(f: Fn): string | number {
  const ports = (f.spec.service as { ports?: { name?: string; port?: number }[] } | undefined)?.ports;
  const p = ports?.[0];
  return p?.name ?? p?.port ?? PORT_NAME;
}

function isJsonObject(s: string): boolean {
  try {
    const v = JSON.parse(s) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

/** Dependencies as the original listed them: `pkg: version` for package.json, else the file's lines. */
function dependencies(f: Fn): string {
  const deps = f.spec.deps ?? '';
  if (deps.trim() === '') return '';
  if (f.spec.runtime?.startsWith('nodejs')) {
    try {
      const pkg = JSON.parse(deps) as { dependencies?: Record<string, string> };
      return Object.entries(pkg.dependencies ?? {})
        .map(([k, v]) => `${k}: ${v}`)
        .join('\n');
    } catch {
      // not JSON: show it as it is
    }
  }
  return deps.trim();
}

/** `1/1 READY`, `0/1 NOT READY` (with the failure reason), or a note that no status came yet. */
export function functionStatus(f: { status?: KubelessFunction['status'] }): string {
  const st = f.status;
  const ready = st?.conditions?.find((c) => c.type === 'Ready');
  if (!st || !ready) return 'UNKNOWN: no status from the controller yet';
  const counts = `${String(st.readyReplicas ?? 0)}/${String(st.replicas ?? 1)}`;
  if (ready.status === 'True') return `${counts} READY`;
  const why = ready.status === 'False' && ready.reason && !ready.reason.startsWith('Waiting') ? `: ${ready.reason}` : '';
  return `${counts} NOT READY${why}`;
}

