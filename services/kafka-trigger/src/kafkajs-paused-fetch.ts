import { createRequire } from 'node:module';

/** kafkajs's consumer group: the two methods this module wraps and the state it reads. */
interface ConsumerGroupProto {
  fetch: (this: ConsumerGroupState, nodeId: number) => Promise<unknown[]>;
  resume: (this: ConsumerGroupState, topicPartitions: { topic: string; partitions?: number[] }[]) => void;
}
interface ConsumerGroupState {
  maxWaitTime: number;
  subscriptionState: { active(): { topic: string; partitions: number[] }[]; assigned(): { topic: string; partitions: number[] }[] };
  seekOffset: { size: number };
  seekOffsets(topicPartitions: { topic: string; partitions: number[] }[]): Promise<void>;
  cluster: { refreshMetadataIfNecessary(): Promise<void> };
  checkForStaleAssignment(): void;
  recoverFromFetch(e: unknown): Promise<void>;
}

let applied: boolean | undefined;
/** Whether the consumer may ask for any partition (one is assigned and not paused). */
const anyActive = (g: ConsumerGroupState): boolean => g.subscriptionState.active().some((t) => t.partitions.length > 0);
/** The fetches of each consumer group waiting for a resume. */
const waiting = new WeakMap<ConsumerGroupState, Set<() => void>>();

/**
 * Mends how kafkajs 2.2.4 fetches while every partition of a consumer is paused: it sleeps
 * `maxWaitTime` (the trigger's long poll, 5 s by default) and a resume meanwhile is not heard, so
 * a partition the runner resumed (a commit made room in its window, an ordered record's backoff
 * ended, the memory budget has room again) fetched again up to 5 s later: in ordered mode a 1 s
 * backoff held its partition for up to 5 s. Now such a fetch waits for a resume of that consumer,
 * or the same `maxWaitTime` at most, and returns nothing either way; the client's loop then
 * fetches at once what was resumed (it still refreshes metadata, checks the assignment and applies
 * pending seeks first, as kafkajs does). A fetch with any partition to ask for is kafkajs's own.
 * Applied once; left alone when the kafkajs in use no longer has the sleep as it reads here.
 * Returns whether it applied.
 */
export function mendKafkajsPausedFetch(): boolean {
  if (applied !== undefined) return applied;
  const require = createRequire(import.meta.url);
  const proto = (require('kafkajs/src/consumer/consumerGroup.js') as { prototype: ConsumerGroupProto }).prototype;
  const fetch = proto.fetch;
  const resume = proto.resume;
  applied = fetch.toString().includes('await sleep(this.maxWaitTime)') && typeof resume === 'function';
  if (!applied) return false;
  proto.fetch = async function pausedAwareFetch(this: ConsumerGroupState, nodeId: number): Promise<unknown[]> {
    if (anyActive(this)) return fetch.call(this, nodeId);
    // What kafkajs's fetch does before it asks for records, so a topic that grew still triggers a
    // rejoin here and a seek of a paused partition still lands (kafkajs's admin.setOffsets pauses
    // the topic, seeks, and counts on its first fetch to commit the seek).
    try {
      await this.cluster.refreshMetadataIfNecessary();
      this.checkForStaleAssignment();
      if (this.seekOffset.size > 0) await this.seekOffsets(this.subscriptionState.assigned());
    } catch (e) {
      await this.recoverFromFetch(e);
      return [];
    }
    // Resumed while the above awaited: the client's loop fetches at once.
    if (anyActive(this)) return [];
    let set = waiting.get(this);
    if (!set) waiting.set(this, (set = new Set()));
    const waiters = set;
    await new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, this.maxWaitTime);
      waiters.add(wake);
    });
    return [];
  };
  proto.resume = function wakingResume(this: ConsumerGroupState, topicPartitions): void {
    resume.call(this, topicPartitions);
    const set = waiting.get(this);
    if (set) for (const wake of [...set]) wake();
  };
  return true;
}
