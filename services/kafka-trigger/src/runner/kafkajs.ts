import kafkajs, { type Admin, type Consumer, type EachBatchPayload, type PartitionAssigner, type Producer } from 'kafkajs';
import type { KafkaClient } from '../kafka.js';
import type { BatchContext, CommittedOffset, FetchedBatch, GroupAdmin, GroupConsumer, GroupConsumerOptions, KafkaPort, OffsetCommit, TopicPartitions, Watermarks } from './port.js';
import type { DeadLetterRecord, DeadLetterSink } from './dead-letter.js';

const { CompressionTypes, PartitionAssigners } = kafkajs;

/**
 * The Kafka port over kafkajs (the one adapter; see port.ts), for one connection. Its consumers'
 * admin calls share one admin client, connected at the first use and closed by `close()`: a
 * client per consumer cost every trigger a socket and a cluster of its own for its whole life.
 */
export function kafkajsPort(kafka: KafkaClient): KafkaPort & { close(): Promise<void> } {
  const shared = new KafkajsAdmin(kafka.admin());
  let connected: Promise<void> | undefined;
  const handle: GroupAdmin = {
    connect: () => {
      if (!connected) {
        const c = shared.connect();
        connected = c;
        c.catch(() => {
          if (connected === c) connected = undefined;
        });
      }
      return connected;
    },
    // The connection's owner closes the shared client.
    disconnect: () => Promise.resolve(),
    committed: (groupId, topic) => shared.committed(groupId, topic),
    watermarks: (topic) => shared.watermarks(topic),
    listGroups: () => shared.listGroups(),
  };
  return {
    consumer: (options) => new KafkajsConsumer(kafka, options),
    admin: () => handle,
    close: async () => {
      if (connected) await shared.disconnect().catch(() => undefined);
      connected = undefined;
    },
  };
}

/** The dead-letter producer of a connection as the runner's sink (kafkajs writes only GZIP itself). */
export function kafkajsDeadLetterSink(producer: () => Promise<Producer>): DeadLetterSink {
  return {
    producer: async () => {
      const p = await producer();
      return {
        send: async (topic: string, r: DeadLetterRecord) => {
          await p.send({
            topic,
            acks: -1,
            compression: r.compress ? CompressionTypes.GZIP : CompressionTypes.None,
            messages: [{ key: r.key, value: r.value, headers: r.headers, timestamp: r.timestamp }],
          });
        },
      };
    },
  };
}

function byTopic(offsets: OffsetCommit[]): { topic: string; partitions: { partition: number; offset: string; metadata: string }[] }[] {
  const topics = new Map<string, { partition: number; offset: string; metadata: string }[]>();
  for (const o of offsets) {
    let list = topics.get(o.topic);
    if (!list) topics.set(o.topic, (list = []));
    list.push({ partition: o.partition, offset: String(o.offset), metadata: o.metadata });
  }
  return [...topics].map(([topic, partitions]) => ({ topic, partitions }));
}

class KafkajsConsumer implements GroupConsumer {
  readonly #c: Consumer;
  readonly #o: GroupConsumerOptions;
  /** Seeks asked of the client so far: a batch can only go stale through one made after it began. */
  #seeks = 0;

  constructor(kafka: KafkaClient, o: GroupConsumerOptions) {
    this.#o = o;
    const listener = o.listener;
    // kafkajs builds the assigner's protocol right before every JoinGroup it sends: the one hook it
    // has ahead of a join. Its REBALANCING event misses the rejoin from the fetch path,
    // and GROUP_JOIN comes after the SyncGroup, when another member may already own a partition.
    const assigner: PartitionAssigner = (config) => {
      const roundRobin = PartitionAssigners.roundRobin(config);
      return {
        ...roundRobin,
        protocol: (args) => {
          try {
            listener.joining();
          } catch {
            // Never let the runner's bookkeeping break the client's join.
          }
          return roundRobin.protocol(args);
        },
      };
    };
    const c = kafka.consumer({
      groupId: o.groupId,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: o.heartbeatIntervalMs,
      rebalanceTimeout: o.rebalanceTimeoutMs,
      maxBytes: o.maxFetchBytes,
      maxBytesPerPartition: o.maxFetchBytesPerPartition,
      maxWaitTimeInMs: o.fetchMaxWaitMs,
      retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 10_000 },
      partitionAssigners: [assigner],
    });
    c.on(c.events.GROUP_JOIN, (e) => {
      listener.joined(e.payload.memberAssignment);
    });
    c.on(c.events.REBALANCING, () => {
      listener.rebalancing();
    });
    c.on(c.events.CRASH, (e) => {
      listener.crashed(e.payload.error, e.payload.restart);
    });
    if (o.fetchEvents) {
      c.on(c.events.FETCH_START, (e) => listener.fetchStart?.(e.payload.nodeId));
      c.on(c.events.FETCH, (e) => listener.fetchEnd?.(e.payload.nodeId));
    }
    this.#c = c;
  }

  async run(handle: (batch: FetchedBatch, ctx: BatchContext) => Promise<void>): Promise<void> {
    await this.#c.connect();
    // Always from the beginning for kafkajs: that is its reset on OFFSET_OUT_OF_RANGE (a
    // latest skipped the whole retained backlog). Where a new group starts is chosen at the join.
    await this.#c.subscribe({ topics: this.#o.topics, fromBeginning: true });
    await this.#c.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.#o.partitionsConcurrency,
      eachBatch: (p) => handle(p.batch, this.#batchContext(p)),
    });
  }

  stop(): Promise<void> {
    return this.#c.stop();
  }

  disconnect(): Promise<void> {
    return this.#c.disconnect();
  }

  seek(topic: string, partition: number, offset: number): void {
    this.#seeks++;
    this.#c.seek({ topic, partition, offset: String(offset) });
  }

  commit(offsets: OffsetCommit[]): Promise<void> {
    return this.#c.commitOffsets(offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: String(o.offset), metadata: o.metadata })));
  }

  pause(parts: TopicPartitions[]): void {
    this.#c.pause(parts);
  }

  resume(parts: TopicPartitions[]): void {
    this.#c.resume(parts);
  }

  /**
   * A batch's context. Commits go through the group directly (`commitOffsetsIfNecessary` with
   * offsets): kafkajs's `consumer.commitOffsets` does nothing once the consumer is stopping, and
   * the runner commits while it stops. kafkajs's staleness is a seek of the partition (the
   * runner seeks at a join); it is asked only after a seek since the batch began (it costs a
   * JSON.stringify per call, and the runner asks per record when the window is full).
   */
  #batchContext(p: EachBatchPayload): BatchContext {
    const seeks = this.#seeks;
    return {
      heartbeat: () => p.heartbeat(),
      isCurrent: () => p.isRunning() && (this.#seeks === seeks || !p.isStale()),
      resolveOffset: (offset) => {
        p.resolveOffset(String(offset));
      },
      commit: (offsets) => p.commitOffsetsIfNecessary({ topics: byTopic(offsets) }),
    };
  }
}

class KafkajsAdmin implements GroupAdmin {
  readonly #a: Admin;

  constructor(admin: Admin) {
    this.#a = admin;
  }

  connect(): Promise<void> {
    return this.#a.connect();
  }

  disconnect(): Promise<void> {
    return this.#a.disconnect();
  }

  async committed(groupId: string, topic: string): Promise<CommittedOffset[]> {
    const out: CommittedOffset[] = [];
    for (const t of await this.#a.fetchOffsets({ groupId, topics: [topic] })) {
      for (const p of t.partitions) out.push({ partition: p.partition, offset: Number(p.offset), metadata: p.metadata });
    }
    return out;
  }

  async watermarks(topic: string): Promise<Watermarks[]> {
    return (await this.#a.fetchTopicOffsets(topic)).map((x) => ({ partition: x.partition, low: Number(x.low), high: Number(x.high) }));
  }

  async listGroups(): Promise<string[]> {
    return (await this.#a.listGroups()).groups.map((g) => g.groupId);
  }
}
