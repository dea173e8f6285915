/**
 * `kubeless topic create|delete|list|publish` through the Kafka admin and producer APIs (the
 * original exec'd into the broker pod). Brokers come from `--brokers`, else `KAFKA_BROKERS`, else
 * the in-cluster default `kafka.kubeless:9092`.
 */
import type { Kafka as KafkaClient } from 'kafkajs';
import { Command } from 'commander';
import { outputFormat, printList, type App } from '../app.js';
import { CliError } from '../errors.js';
import { renderTable } from '../output.js';
import { parseIntFlag, parseList } from '../parse.js';


export const DEFAULT_BROKERS = 'kafka.kubeless:9092';

interface KafkaOpts {
  brokers?: string;
}

function addBrokers(cmd: Command): Command {
  return cmd.option('--brokers <host:port,...>', `Kafka bootstrap brokers (default: $KAFKA_BROKERS, else ${DEFAULT_BROKERS})`);
}

/**
 * kafkajs 2.2.4 arms its request queue's throttle check with a negative delay when it is not
 * throttled (tulios/kafkajs#1751, open); Node.js has always run such a timer after 1 ms, and since
 * Node 24 also prints a TimeoutNegativeWarning for it, which would land in the CLI's output. That
 * one warning is dropped; every other warning is printed as before.
 */
function quietNegativeTimeouts(): void {
  if (quieted) return;
  quieted = true;
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  const quiet = (warning: string | Error, ...rest: unknown[]): void => {
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: unknown } | undefined)?.type;
    if (type === 'TimeoutNegativeWarning' || (warning instanceof Error && warning.name === 'TimeoutNegativeWarning')) return;
    emit(warning, ...rest);
  };
  process.emitWarning = quiet;
}
let quieted = false;

async function withKafka<T>(app: App, o: KafkaOpts, use: (kafka: KafkaClient) => Promise<T>): Promise<T> {
  const brokers = parseList([o.brokers ?? app.env.kafkaBrokers ?? DEFAULT_BROKERS]);
  if (brokers.length === 0) throw new CliError('--brokers is empty');
  // kafkajs (CommonJS) is loaded only by the topic commands.
  quietNegativeTimeouts();
  const { default: kafkajs } = await import('kafkajs');
  const { Kafka, logLevel } = kafkajs;
  // Fail fast: a CLI should not retry for minutes against a wrong address.
  const kafka = new Kafka({ clientId: 'kubeless-cli', brokers, logLevel: logLevel.NOTHING, connectionTimeout: 3000, requestTimeout: 10_000, retry: { retries: 2, initialRetryTime: 200 } });
  try {
    return await use(kafka);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`Kafka (${brokers.join(',')}): ${(err as Error).message}`, 'KUBELESS_CLI_KAFKA', { cause: err });
  }
}

async function withAdmin<T>(app: App, o: KafkaOpts, use: (admin: ReturnType<KafkaClient['admin']>) => Promise<T>): Promise<T> {
  return withKafka(app, o, async (kafka) => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      return await use(admin);
    } finally {
      await admin.disconnect();
    }
  });
}

export function topicCommand(app: App): Command {
  const topic = new Command('topic').description('manage Kafka topics and publish messages');

  const create = addBrokers(new Command('create').argument('<topic>', 'topic name').description('create a topic'))
    .option('--partitions <n>', 'number of partitions', '1')
    .option('--replication-factor <n>', 'replication factor', '1');
  create.action(async (name: string, o: KafkaOpts & { partitions: string; replicationFactor: string }) => {
    const numPartitions = parseIntFlag('partitions', o.partitions, 1);
    const replicationFactor = parseIntFlag('replication-factor', o.replicationFactor, 1);
    const created = await withAdmin(app, o, (admin) => admin.createTopics({ topics: [{ topic: name, numPartitions, replicationFactor }], waitForLeaders: true }));
    if (!created) throw new CliError(`topic "${name}" already exists`, 'KUBELESS_CLI_CONFLICT');
    app.out.write(`Created topic "${name}".\n`);
  });

  const del = addBrokers(new Command('delete').argument('<topic>', 'topic name').description('delete a topic'));
  del.action(async (name: string, o: KafkaOpts) => {
    await withAdmin(app, o, async (admin) => {
      const topics = await admin.listTopics();
      if (!topics.includes(name)) throw new CliError(`topic "${name}" not found`, 'KUBELESS_CLI_NOT_FOUND');
      await admin.deleteTopics({ topics: [name] });
    });
    app.out.write(`Deleted topic "${name}".\n`);
  });

  const list = addBrokers(new Command('list').alias('ls').description('list topics')).option('-o, --output <format>', 'output: json or yaml');
  list.action(async (o: KafkaOpts & { output?: string }) => {
    const format = outputFormat(o.output, ['json', 'yaml'] as const);
    const rows = await withAdmin(app, o, async (admin) => {
      const names = (await admin.listTopics()).filter((t) => !t.startsWith('__')).sort();
      if (names.length === 0) return [];
      const meta = await admin.fetchTopicMetadata({ topics: names });
      return meta.topics.map((t) => ({ name: t.name, partitions: t.partitions.length })).sort((a, b) => a.name.localeCompare(b.name));
    });
    if (format) {
      printList(app, format, rows);
      return;
    }
    app.out.write(renderTable(['NAME', 'PARTITIONS'], rows.map((r) => [r.name, r.partitions])));
  });

  const publish = addBrokers(new Command('publish').description('publish a message to a topic'))
    .option('--topic <topic>', 'topic to publish to', 'kubeless')
    .requiredOption('--data <data>', 'the message value')
    .option('--key <key>', 'the message key');
  publish.action(async (o: KafkaOpts & { topic: string; data: string; key?: string }) => {
    await withKafka(app, o, async (kafka) => {
      const admin = kafka.admin();
      await admin.connect();
      try {
        if (!(await admin.listTopics()).includes(o.topic)) throw new CliError(`topic "${o.topic}" not found; create it with 'kubeless topic create ${o.topic}'`, 'KUBELESS_CLI_NOT_FOUND');
      } finally {
        await admin.disconnect();
      }
      const producer = kafka.producer({ allowAutoTopicCreation: false });
      await producer.connect();
      try {
        await producer.send({ topic: o.topic, messages: [{ key: o.key ?? null, value: o.data }] });
      } finally {
        await producer.disconnect();
      }
    });
  });

  for (const c of [create, del, list, publish]) topic.addCommand(c);
  return topic;
}
