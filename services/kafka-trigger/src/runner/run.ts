import type { Deliverer, InFlightLimiter, MemoryBudget } from '@kubeless/delivery';
import type { Counter, Logger } from '@kubeless/observability';
import type { ConsumerSpec } from '../plan.js';
import { BatchRunner } from './batch-runner.js';
import { FetchBudget } from './budget-gate.js';
import { CommitScheduler } from './commit-scheduler.js';
import type { TriggerConsumer } from './consumer.js';
import type { DeadLetterSink } from './dead-letter.js';
import { Pauses, type Countdown } from './partition.js';
import type { GroupListener, GroupAdmin, GroupConsumer, KafkaPort } from './port.js';
import { StartPositions } from './start-position.js';

export interface ConsumerOptions {
  spec: ConsumerSpec;
  /** The connection's Kafka client, behind the port (kafkajs.ts). */
  port: KafkaPort;
  /** The connection's dead-letter producer. */
  deadLetter: DeadLetterSink;
  deliverer: Deliverer;
  logger: Logger;
  /** Bytes of record bodies in requests in flight (with `delivery.maxInFlight`, the requests bound). */
  maxBytesInFlight: number;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
  /** Partitions handed over at once by the client. */
  partitionsConcurrency: number;
  /**
   * How long an idle fetch waits at the broker (default 5 s). Each consumer's idle cost is one
   * fetch per wait, and kafkajs heartbeats between fetches, so it is held under a third of the
   * session timeout; a stop waits for the fetch in flight, so this also bounds a restart's delay.
   */
  fetchMaxWaitMs?: number | undefined;
  /** Fetch limits (bounded memory). */
  maxFetchBytes: number;
  maxFetchBytesPerPartition: number;
  /** How long `stop()` waits for deliveries in flight before aborting them. */
  drainTimeoutMs: number;
  /** The consumers whose partitions' lag `kubeless_kafka_consumer_lag` shows at a scrape: a consumer is in it from start to stop. */
  lagSources?: Set<TriggerConsumer> | undefined;
  /** Offset commits this replica made (`kubeless_kafka_offset_commits_total`). */
  commitCounter?: Counter<'namespace' | 'trigger' | 'function'> | undefined;
  /** The process's memory budget, shared by every consumer (docs/delivery.md#back-pressure; see budget-gate.ts). None: unbounded. */
  budget?: MemoryBudget | undefined;
}

/** What this replica knows about the consumer, for logs and readiness. */
export interface ConsumerState {
  running: boolean;
  joined: boolean;
  lastError?: string | undefined;
}

/** What one start of the client is made of (a crash restarts all of it). */
export interface Run {
  consumer: GroupConsumer;
  admin: GroupAdmin;
  pauses: Pauses;
  scheduler: CommitScheduler;
  runner: BatchRunner;
  positions: StartPositions;
  gate: FetchBudget | undefined;
}

/** What `createRun` wires together for one start of the client. */
export interface RunWiring {
  options: ConsumerOptions;
  /** What the client tells the consumer (joins, rebalances, crashes, fetches). */
  listener: GroupListener;
  limiter: InFlightLimiter;
  log: Logger;
  owner: string;
  rebalanceTimeoutMs: number;
  /** Commits what is marked (the consumer's, through its latest batch context). */
  commit: () => Promise<boolean>;
  calm: () => AbortSignal;
  jobs: Countdown;
  startEnds: Map<string, Map<number, number>>;
  assignment: () => Record<string, number[]>;
  /** The most one fetch may bring (set at each join). */
  fetchBound: () => number;
}

/** The parts of one start of the client: the group client, pauses, commits, the runner, start positions and the memory gate. */
export function createRun(w: RunWiring): Run {
  const o = w.options;
  const spec = o.spec;
  const consumer = o.port.consumer({
    groupId: spec.groupId,
    topics: spec.topics,
    sessionTimeoutMs: o.sessionTimeoutMs,
    heartbeatIntervalMs: o.heartbeatIntervalMs,
    rebalanceTimeoutMs: w.rebalanceTimeoutMs,
    maxFetchBytes: o.maxFetchBytes,
    maxFetchBytesPerPartition: o.maxFetchBytesPerPartition,
    partitionsConcurrency: o.partitionsConcurrency,
    fetchMaxWaitMs: Math.max(100, Math.min(o.fetchMaxWaitMs ?? 5000, Math.floor(o.sessionTimeoutMs / 3))),
    fetchEvents: o.budget !== undefined,
    listener: w.listener,
  });
  const admin = o.port.admin();
  const pauses = new Pauses((pause, resume) => {
    try {
      if (pause.length > 0) consumer.pause(pause);
      if (resume.length > 0) consumer.resume(resume);
    } catch {
      // Not running any more: nothing fetches.
    }
  });
  const scheduler = new CommitScheduler({
    intervalMs: spec.delivery.commitIntervalMs,
    commit: w.commit,
    onError: (err) => {
      w.log.info({ err }, 'offset commit failed; retrying');
    },
  });
  const gate = o.budget
    ? new FetchBudget({
        budget: o.budget,
        log: w.log,
        pauseAll: (on) => {
          pauses.setAll(on);
        },
        bound: () => w.fetchBound() || o.maxFetchBytesPerPartition,
      })
    : undefined;
  const runner = new BatchRunner({
    spec,
    deliverer: o.deliverer,
    limiter: w.limiter,
    scheduler,
    pauses,
    deadLetter: o.deadLetter,
    log: w.log,
    heartbeatMs: Math.max(200, Math.min(1000, o.heartbeatIntervalMs)),
    rebalanceDrainMs: Math.max(1000, w.rebalanceTimeoutMs * 0.8),
    calm: w.calm,
    jobs: w.jobs,
    releaseBytes: gate
      ? (bytes) => {
          gate.release(bytes);
        }
      : undefined,
  });
  const positions = new StartPositions({ spec, admin, consumer, owner: w.owner, log: w.log, startEnds: w.startEnds, assignment: w.assignment });
  return { consumer, admin, pauses, scheduler, runner, positions, gate };
}
