import { recordBytes } from './batch-runner.js';
import type { PartitionState } from './partition.js';
import type { PartitionTable } from './partitions.js';
import type { BatchContext, FetchedBatch } from './port.js';
import type { Run } from './run.js';

/** A batch accepted for delivery: its partition and the bytes it holds in the memory budget. */
export interface Taken {
  ps: PartitionState;
  held: number;
}

/**
 * One fetched batch on its way to the BatchRunner: its bytes enter the memory budget, its
 * partition's state is found (opened at the partition's first batch of the generation, from where
 * the join said it starts), a gap left by retention is reported, and a batch fetched for a
 * position past the partition's is sought back instead of delivered. Batches of a generation or
 * a start that ended are dropped (undefined). `current` says whether `run` is still the consumer's start.
 */
export async function intake(run: Run, parts: PartitionTable, current: () => boolean, batch: FetchedBatch, ctx: BatchContext): Promise<Taken | undefined> {
  const messages = batch.messages;
  if (messages.length === 0) return undefined;
  const gate = run.gate;
  let held = 0;
  if (gate) {
    for (const m of messages) held += recordBytes(m);
    gate.hold(held);
  }
  let ps: PartitionState | undefined;
  try {
    ps = parts.get(batch.topic, batch.partition) ?? (await open(run, parts, current, batch.topic, batch.partition));
    // Fetched before the join chose this partition's start (it was sought elsewhere), or in an older generation: not ours.
    if (!ps || !ctx.isCurrent()) ps = undefined;
  } finally {
    if (gate && !ps) gate.release(held);
  }
  if (!ps) return undefined;
  const first = Number(messages[0]?.offset ?? 0);
  const expected = ps.next;
  const from = batch.fetchedOffset === undefined ? undefined : Number(batch.fetchedOffset);
  if (expected !== undefined && first > expected) {
    if (await run.positions.checkRetention(ps, expected)) {
      ps.dirty = true;
      run.scheduler.request();
    } else if (from !== undefined && from > expected) {
      // Fetched for a position past where this partition is (a batch of a generation that
      // ended, handed over after the join): delivering it would skip what lies between.
      gate?.release(held);
      run.consumer.seek(ps.topic, ps.partition, expected);
      return undefined;
    }
  }
  // Stalls below where the generation starts were settled by an earlier owner.
  if (ps.firstOffset === undefined) for (const o of ps.stalls.keys()) if (o < first) ps.stalls.delete(o);
  return { ps, held };
}

/** The partition's state at its first batch of the generation; undefined when a join or a restart came meanwhile. */
async function open(run: Run, parts: PartitionTable, current: () => boolean, topic: string, partition: number): Promise<PartitionState | undefined> {
  const generation = parts.generation;
  const prepared = (await run.positions.load(topic)).get(partition);
  if (generation !== parts.generation || !current()) return undefined;
  return parts.open(topic, partition, prepared);
}
