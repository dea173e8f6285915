import { createRequire } from 'node:module';

/** kafkajs's offset manager: the method this module replaces and the state it uses. */
interface OffsetManagerProto {
  setDefaultOffset(this: OffsetManagerState, tp: { topic: string; partition: number }): Promise<void>;
}
interface OffsetManagerState {
  cluster: { fetchTopicsOffset(topics: { topic: string; partitions: { partition: number }[]; fromBeginning?: boolean; fromTimestamp?: number }[]): Promise<{ topic: string; partitions: { partition: number; offset: string }[] }[]> };
  topicConfigurations: Record<string, { fromBeginning?: boolean; fromTimestamp?: number } | undefined>;
  memberAssignment: Record<string, number[] | undefined>;
  resolvedOffsets: Record<string, Record<number, string | undefined> | undefined>;
  committedOffsets(): Record<string, Record<number, string | undefined> | undefined>;
}

let applied: boolean | undefined;

/**
 * Mends what kafkajs 2.2.4 does when a fetch meets OFFSET_OUT_OF_RANGE (retention deleted the
 * records at the group's position): it *commits* the subscription's default offset (-2, "earliest")
 * for the group, over the group's own commit and its metadata. The runner reads the group's
 * commits at each join to find where each partition starts and what retention skipped: when that
 * commit of kafkajs landed first, the position the group had (and so RecordsSkipped) was lost,
 * and any commit of ours it raced was overwritten (attempts, stalls, the skip itself). Now the
 * partition moves to the default offset in the client's memory only (what kafkajs's own seek does
 * without auto-commit), and the runner commits the new position with what it knows.
 * Applied once; left alone when the kafkajs in use no longer has the method as it reads here.
 * Returns whether it applied.
 */
export function mendKafkajsOffsetReset(): boolean {
  if (applied !== undefined) return applied;
  const require = createRequire(import.meta.url);
  const proto = (require('kafkajs/src/consumer/offsetManager/index.js') as { prototype: OffsetManagerProto }).prototype;
  const original = proto.setDefaultOffset.toString();
  applied = original.includes('coordinator.offsetCommit') && original.includes('defaultOffset');
  if (!applied) return false;
  proto.setDefaultOffset = async function setDefaultOffset(this: OffsetManagerState, { topic, partition }): Promise<void> {
    const [t] = await this.cluster.fetchTopicsOffset([{ topic, partitions: [{ partition }], ...this.topicConfigurations[topic] }]);
    const offset = t?.partitions.find((p) => p.partition === partition)?.offset;
    const committed = this.committedOffsets()[topic];
    if (offset === undefined || !committed || !this.memberAssignment[topic]?.includes(partition)) return;
    // The next fetch starts here (nextOffset reads the committed offset once nothing is resolved).
    committed[partition] = offset;
    const resolved = this.resolvedOffsets[topic];
    if (resolved) Reflect.deleteProperty(resolved, partition);
  };
  return true;
}
