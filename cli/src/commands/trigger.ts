/**
 * `kubeless trigger http|kafka|sqs|cronjob create|update|delete|list`, as the original kubeless CLI's.
 * The CLI writes the trigger objects; the trigger controllers act on them.
 */
import { readFile } from 'node:fs/promises';
import type { CronJobTrigger, HTTPTrigger, KafkaTrigger, OwnerReference, SQSTrigger } from '@kubeless/api';
import type { KubeObject } from '@kubeless/controller';
import { Command } from 'commander';
import { outputFormat, printDoc, printList, type App } from '../app.js';
import { apiStatus, CliError } from '../errors.js';
import { age, renderTable } from '../output.js';
import { kubelessPath, type KubelessKind } from '../paths.js';
import {
  buildCronJobTrigger,
  buildHttpTrigger,
  functionOwner,
  updateCronJobTrigger,
  buildKafkaTrigger,
  buildSqsTrigger,
  updateHttpTrigger,
  updateKafkaTrigger,
  updateSqsTrigger,
  type CronFlags,
  type HttpFlags,
  type KafkaFlags,
  type SqsFlags,
} from '../trigger-spec.js';
import { addDryRun, addNamespace, addWait, getOrExplain, isDryRun, maybeWait, replaceWithRetry } from './common.js';

type Obj = KubeObject & { metadata: NonNullable<KubeObject['metadata']>; spec: Record<string, unknown>; status?: { conditions?: { type: string; status: string; reason?: string }[] } };

interface Kind<F> {
  name: string;
  kind: KubelessKind;
  describe: string;
  options: (cmd: Command, create: boolean) => Command;
  build: (name: string, ns: string, f: F, owner?: OwnerReference) => object;
  update: (existing: Obj, f: F, owner?: OwnerReference) => object;
  /** The function a create must find first, if the trigger names one. */
  functionOf?: (f: F) => string | undefined;
  /** The trigger is owned by its function (deleted with it): the owner reference is set from the function read. */
  ownedByFunction?: boolean;
  /** Reads what the flags name (files) before the pure build. */
  prepare?: (f: F) => Promise<F>;
  columns: string[];
  row: (t: Obj) => string[];
}

function readyOf(t: Obj): string {
  const c = t.status?.conditions?.find((x) => x.type === 'Ready');
  return c ? (c.status === 'True' ? 'True' : `${c.status}${c.reason ? ` (${c.reason})` : ''}`) : '';
}

const selectorText = (s: unknown): string =>
  Object.entries((s as { matchLabels?: Record<string, string> } | undefined)?.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

function deliveryOptions(cmd: Command): Command {
  return cmd
    .option('--ordering <mode>', 'ordered, unordered or key-ordered (default: ordered)')
    .option('--max-in-flight <n>', 'deliveries in flight per function (default: 1 when ordered, else 100)')
    .option('--delivery-timeout <duration>', "timeout of one delivery (default: the function's timeout)")
    .option('--retry <n>', 'retries after the first attempt (default: 3)')
    .option('--backoff-policy <policy>', 'exponential or linear (default: exponential)')
    .option('--backoff-delay <duration>', 'first backoff delay (default: 1s)')
    .option('--backoff-max <duration>', 'longest backoff delay (default: 60s)')
    .option('--dead-letter <target>', 'where exhausted messages go')
    .option('--on-exhausted <action>', 'deadLetter, block or drop (default: deadLetter with --dead-letter, else block)')
    .option('--rate-limit <events/s>', 'events per second per function')
    .option('--event-mode <mode>', 'CloudEvents mode: binary or structured (default: binary)');
}

const httpKind: Kind<HttpFlags> = {
  name: 'http',
  kind: 'HTTPTrigger',
  describe: 'expose functions over HTTP through an Ingress',
  options: (cmd, create) =>
    cmd
      .option('--function-name <name>', `function to expose${create ? ' (required; must exist)' : ''}`)
      .option('--hostname <host>', 'host name of the route')
      .option('--path <path>', 'path of the route (default: /)')
      .option('--gateway <gateway>', `nginx, traefik or kong${create ? ' (default: nginx)' : ''}`)
      .option('--basic-auth-secret <secret>', 'Secret with htpasswd credentials (nginx, traefik)')
      .option('--tls-secret <secret>', 'Secret with the TLS certificate and key')
      .option('--enableTLSAcme', 'get a certificate through ACME (cert-manager)')
      .option('--cors-enable', 'enable CORS on the route')
      .option('--ingress-class <class>', "ingress class (default: the gateway's name)"),
  build: buildHttpTrigger,
  update: (e, f) => updateHttpTrigger(e as unknown as HTTPTrigger, f),
  functionOf: (f) => f.functionName,
  columns: ['NAME', 'NAMESPACE', 'FUNCTION NAME', 'HOST', 'PATH', 'GATEWAY', 'READY'],
  row: (t) => [t.metadata.name ?? '', t.metadata.namespace ?? '', str(t.spec['function-name']), str(t.spec['host-name']), `/${str(t.spec.path)}`, str(t.spec.gateway), readyOf(t)],
};

const kafkaKind = {
  name: 'kafka',
  kind: 'KafkaTrigger',
  describe: 'deliver Kafka messages to functions',
  options: (cmd: Command, create: boolean) =>
    deliveryOptions(
      cmd
        .option('--trigger-topic <topic,...>', `topic(s) to consume${create ? ' (required)' : ''}`)
        .option('--function-selector <k=v,...>', 'labels of the functions that receive the messages')
        .option('--function-name <name>', 'a single function to receive the messages, instead of a selector')
        .option('--consumer-group <prefix>', 'prefix of the consumer group names')
        .option('--initial-offset <offset>', 'where a new consumer group starts: earliest or latest (default: latest)')
        .option('--brokers <host:port,...>', "brokers for this trigger (default: the controller's)")
        .option('--auth-secret <secret>', 'Secret with SASL and TLS settings'),
    ),
  build: buildKafkaTrigger,
  update: (e: Obj, f: KafkaFlags) => updateKafkaTrigger(e as unknown as KafkaTrigger, f),
  functionOf: (f: KafkaFlags) => f.functionName,
  columns: ['NAME', 'NAMESPACE', 'TOPIC', 'FUNCTION SELECTOR', 'READY'],
  row: (t: Obj) => [
    t.metadata.name ?? '',
    t.metadata.namespace ?? '',
    [t.spec.topic, ...((t.spec.topics as string[] | undefined) ?? [])].filter(Boolean).join(','),
    t.spec.functionName ? `name=${str(t.spec.functionName)}` : selectorText(t.spec.functionSelector),
    readyOf(t),
  ],
} satisfies Kind<KafkaFlags>;

const sqsKind = {
  name: 'sqs',
  kind: 'SQSTrigger',
  describe: 'deliver SQS messages to functions',
  options: (cmd: Command) =>
    deliveryOptions(
      cmd
        .option('--queue-url <url>', 'URL of the queue')
        .option('--queue-name <name>', 'name of the queue (with --region)')
        .option('--region <region>', 'AWS region')
        .option('--endpoint <url>', 'endpoint override, e.g. an SQS-compatible server')
        .option('--credentials-secret <secret>', 'Secret with aws_access_key_id and aws_secret_access_key (default: the AWS provider chain)')
        .option('--function-name <name>', 'the function that receives the messages')
        .option('--function-selector <k=v,...>', 'labels of the functions that receive the messages, instead of a name')
        .option('--batch-size <n>', 'messages per receive, 1-10 (default: 10)')
        .option('--receivers <n>', 'long-poll receivers per function (default: 1)')
        .option('--visibility-timeout <duration>', "visibility timeout of received messages (default: the queue's)"),
    ),
  build: buildSqsTrigger,
  update: (e: Obj, f: SqsFlags) => updateSqsTrigger(e as unknown as SQSTrigger, f),
  functionOf: (f: SqsFlags) => f.functionName,
  columns: ['NAME', 'NAMESPACE', 'QUEUE', 'FUNCTION', 'READY'],
  row: (t: Obj) => [
    t.metadata.name ?? '',
    t.metadata.namespace ?? '',
    str(t.spec.queueUrl ?? t.spec.queueName),
    t.spec.functionName ? str(t.spec.functionName) : selectorText(t.spec.functionSelector),
    readyOf(t),
  ],
} satisfies Kind<SqsFlags>;

const cronjobKind = {
  name: 'cronjob',
  kind: 'CronJobTrigger',
  describe: 'call functions on a cron schedule',
  options: (cmd: Command, create: boolean) =>
    cmd
      .option('--function <name>', `function to call${create ? ' (required; must exist)' : ''}`)
      .option('--schedule <cron>', `five cron fields or @hourly, @daily...${create ? ' (required)' : ''}`)
      .option('-p, --payload <json>', 'JSON body of every call')
      .option('-f, --payload-from-file <file>', 'file with the JSON body of every call (exclusive with --payload)')
      .option('--time-zone <zone>', 'IANA time zone of the schedule, e.g. Europe/Paris (default: UTC)')
      .option('--concurrency-policy <policy>', 'Allow, Forbid or Replace, as a CronJob (default: Allow)')
      .option('--starting-deadline-seconds <n>', 'a slot started later than this is missed (default: no deadline)')
      .option('--suspend [bool]', 'stop scheduling new slots (true or false)', (v: string) => v !== 'false')
      .option('--delivery-timeout <duration>', "timeout of one attempt (default: the function's timeout)")
      .option('--retry <n>', 'retries after the first attempt (default: 3)')
      .option('--backoff-policy <policy>', 'exponential or linear (default: exponential)')
      .option('--backoff-delay <duration>', 'first backoff delay (default: 1s)')
      .option('--backoff-max <duration>', 'longest backoff delay (default: 60s)')
      .option('--event-mode <mode>', 'CloudEvents mode: binary or structured (default: binary)'),
  build: buildCronJobTrigger,
  update: (e: Obj, f: CronFlags, owner?: OwnerReference) => updateCronJobTrigger(e as unknown as CronJobTrigger, f, owner),
  functionOf: (f: CronFlags) => f.function,
  ownedByFunction: true,
  prepare: async (f: CronFlags) => {
    const file = (f as { payloadFromFile?: string }).payloadFromFile;
    if (file === undefined) return f;
    try {
      return { ...f, payloadFromFile: await readFile(file, 'utf8') };
    } catch (err) {
      throw new CliError(`cannot read the payload file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  },
  columns: ['NAME', 'NAMESPACE', 'SCHEDULE', 'FUNCTION NAME', 'READY'],
  row: (t: Obj) => [t.metadata.name ?? '', t.metadata.namespace ?? '', str(t.spec.schedule), str(t.spec['function-name']), readyOf(t)],
} satisfies Kind<CronFlags>;

function str(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' ? String(v) : '';
}

type CommonOpts = { namespace?: string; dryrun?: boolean; output?: string; wait?: boolean; waitTimeout?: string } & Record<string, unknown>;

function kindCommand<F>(app: App, k: Kind<F>): Command {
  const label = `${k.name} trigger`;
  const group = new Command(k.name).description(k.describe);

  const create = addWait(addDryRun(addNamespace(k.options(new Command('create').argument('<name>', 'trigger name').description(`create a ${label}`), true), `the ${label}`)));
  create.action(async (name: string, o: CommonOpts, cmd: Command) => {
    const format = outputFormat(o.output, ['yaml', 'json'] as const) ?? 'yaml';
    const dry = isDryRun(cmd);
    const cluster = await app.cluster(cmd);
    const ns = cluster.namespace(o.namespace);
    const flags = k.prepare ? await k.prepare(o as F) : (o as F);
    const obj = k.build(name, ns, flags);
    if (dry) {
      printDoc(app, format, obj);
      return;
    }
    const fn = k.functionOf?.(flags);
    const target = fn === undefined ? undefined : await getOrExplain(app, cmd, kubelessPath('Function', ns, fn), `function "${fn}"`, ns);
    const owned = k.ownedByFunction && target ? k.build(name, ns, flags, functionOwner(target)) : obj;
    await cluster.client.create(kubelessPath(k.kind, ns), owned as KubeObject);
    app.out.write(`${k.kind} ${name} created in namespace ${ns}\n`);
    await maybeWait(app, cmd, `${label} ${name}`, kubelessPath(k.kind, ns, name), o);
  });

  const update = addWait(addDryRun(addNamespace(k.options(new Command('update').argument('<name>', 'trigger name').description(`update a ${label}; settings not given keep their values`), false), `the ${label}`)));
  update.action(async (name: string, o: CommonOpts, cmd: Command) => {
    const format = outputFormat(o.output, ['yaml', 'json'] as const) ?? 'yaml';
    const dry = isDryRun(cmd);
    const cluster = await app.cluster(cmd);
    const ns = cluster.namespace(o.namespace);
    const p = kubelessPath(k.kind, ns, name);
    const existing = await getOrExplain<Obj>(app, cmd, p, `${label} "${name}"`, ns);
    const flags = k.prepare ? await k.prepare(o as F) : (o as F);
    const next = k.update(existing, flags);
    if (dry) {
      printDoc(app, format, next);
      return;
    }
    const fn = k.functionOf?.(flags);
    const target = fn === undefined ? undefined : await getOrExplain(app, cmd, kubelessPath('Function', ns, fn), `function "${fn}"`, ns);
    const owner = k.ownedByFunction && target ? functionOwner(target) : undefined;
    await replaceWithRetry<Obj>(app, cmd, p, (current) => k.update(current, flags, owner) as Obj);
    app.out.write(`${k.kind} ${name} updated\n`);
    await maybeWait(app, cmd, `${label} ${name}`, p, o);
  });

  const del = addNamespace(new Command('delete').argument('<name>', 'trigger name').description(`delete a ${label}`), `the ${label}`);
  del.action(async (name: string, o: CommonOpts, cmd: Command) => {
    const cluster = await app.cluster(cmd);
    const ns = cluster.namespace(o.namespace);
    try {
      await cluster.client.delete(kubelessPath(k.kind, ns, name));
    } catch (err) {
      if (apiStatus(err) === 404) throw new CliError(`${label} "${name}" not found in namespace "${ns}"`, 'KUBELESS_CLI_NOT_FOUND', { cause: err });
      throw err;
    }
  });

  const list = addNamespace(new Command('list').alias('ls').description(`list ${label}s`), `the ${label}s`);
  list.option('-o, --output <format>', 'output: json or yaml');
  list.action(async (o: CommonOpts, cmd: Command) => {
    const format = outputFormat(o.output, ['json', 'yaml'] as const);
    const cluster = await app.cluster(cmd);
    const items = (await cluster.client.list<Obj>(kubelessPath(k.kind, cluster.namespace(o.namespace)))).items;
    if (format) {
      printList(app, format, items);
      return;
    }
    app.out.write(renderTable([...k.columns, 'AGE'], items.map((t) => [...k.row(t), age(t.metadata.creationTimestamp)])));
  });

  for (const c of [create, update, del, list]) group.addCommand(c);
  return group;
}

export function triggerCommand(app: App): Command {
  const trigger = new Command('trigger').description('manage http, kafka, sqs and cronjob triggers');
  trigger.addCommand(kindCommand(app, httpKind));
  trigger.addCommand(kindCommand(app, kafkaKind));
  trigger.addCommand(kindCommand(app, sqsKind));
  trigger.addCommand(kindCommand(app, cronjobKind));
  return trigger;
}
