/**
 * The Kafka port: what the runner needs of a Kafka client, in its own types. One adapter
 * (`kafkajs.ts`) implements it; kafkajs's types appear only there, in `../connections.ts` and in
 * the status admin. A second client (e.g. `@platformatic/kafka`) would be a second adapter.
 */

/** A fetched record: the fields the runner reads (kafkajs's KafkaMessage has them as they are). */
export interface KafkaRecord {
  /** A bigint-safe decimal string, as the wire has it. */
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  /** Milliseconds since the epoch, as text. */
  timestamp: string;
  headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
}

/** The records of one partition from one fetch. */
export interface FetchedBatch {
  topic: string;
  partition: number;
  /** The partition's log end when it was fetched. */
  highWatermark: string;
  /** The offset the fetch asked for (the records may start later: compaction, transaction markers). */
  fetchedOffset?: string;
  messages: KafkaRecord[];
}

/** What the runner may do while the client hands it a batch. */
export interface BatchContext {
  /** Tells the group this member is alive; rejects when the group is rebalancing. */
  heartbeat(): Promise<void>;
  /** False once the consumer stops or the partition's position was moved by a seek: deliver no more of it. */
  isCurrent(): boolean;
  /** The partition's next fetch starts after `offset`. */
  resolveOffset(offset: number): void;
  /** Commits offsets within the current generation (also while the client is stopping). */
  commit(offsets: OffsetCommit[]): Promise<void>;
}

export interface OffsetCommit {
  topic: string;
  partition: number;
  /** The next offset to read. */
  offset: number;
  metadata: string;
}

export interface TopicPartitions {
  topic: string;
  partitions: number[];
}

/** A partition's committed offset in a group (-1: none) and the metadata committed with it. */
export interface CommittedOffset {
  partition: number;
  offset: number;
  metadata: string | null;
}

export interface Watermarks {
  partition: number;
  low: number;
  high: number;
}

/** What the group tells the runner, in the order it happens. */
export interface GroupListener {
  /** A join is about to be sent (every join: rebalance, fetch-path rejoin, restart): work of this generation must stop now. */
  joining(): void;
  /** The member joined with this assignment (a new generation). */
  joined(assignment: Record<string, number[]>): void;
  /** The group is rebalancing (seen by a heartbeat): the member rejoins next. */
  rebalancing(): void;
  /** The client crashed; `restart`: it restarts itself. */
  crashed(error: Error, restart: boolean): void;
  /** A fetch from broker `nodeId` is about to go out / landed (only with `fetchEvents`). */
  fetchStart?(nodeId: number): void;
  fetchEnd?(nodeId: number): void;
}

export interface GroupConsumerOptions {
  groupId: string;
  topics: string[];
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
  maxFetchBytes: number;
  maxFetchBytesPerPartition: number;
  partitionsConcurrency: number;
  /** How long a fetch waits at the broker for records (a long poll; also how long a stop may wait for it). */
  fetchMaxWaitMs: number;
  listener: GroupListener;
  /** Whether `fetchStart`/`fetchEnd` are wanted (the memory budget). */
  fetchEvents: boolean;
}

/** One member of one consumer group. */
export interface GroupConsumer {
  /** Connects, subscribes (from the log start when nothing is committed) and starts handing batches to `handle`. */
  run(handle: (batch: FetchedBatch, ctx: BatchContext) => Promise<void>): Promise<void>;
  /** Stops fetching, waits for the batches being handled and leaves the group. */
  stop(): Promise<void>;
  disconnect(): Promise<void>;
  /** Moves a partition's next fetch (its batches in hand stop being current). */
  seek(topic: string, partition: number, offset: number): void;
  /** Commits through the running client (at a join, for positions the runner chose). */
  commit(offsets: OffsetCommit[]): Promise<void>;
  pause(parts: TopicPartitions[]): void;
  resume(parts: TopicPartitions[]): void;
}

/** The admin calls of the runner (start positions, retention gaps). */
export interface GroupAdmin {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  committed(groupId: string, topic: string): Promise<CommittedOffset[]>;
  watermarks(topic: string): Promise<Watermarks[]>;
  listGroups(): Promise<string[]>;
}

/** A client: the consumers and admins of one connection. */
export interface KafkaPort {
  consumer(options: GroupConsumerOptions): GroupConsumer;
  admin(): GroupAdmin;
}
