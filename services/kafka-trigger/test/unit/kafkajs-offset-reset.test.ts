import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import { mendKafkajsOffsetReset } from '../../src/kafkajs-offset-reset.js';

interface OffsetManager {
  setDefaultOffset(tp: { topic: string; partition: number }): Promise<void>;
  nextOffset(topic: string, partition: number): { toString(): string };
  resolveOffset(tp: { topic: string; partition: number; offset: string }): void;
  committedOffsets(): Record<string, Record<number, string>>;
}

const require = createRequire(import.meta.url);

/** kafkajs's own offset manager for one member holding t[0] and t[1], over a cluster whose log starts at 10 and a coordinator that records commits. */
function manager(): { m: OffsetManager; commits: unknown[]; listed: unknown[] } {
  const OffsetManagerClass = require('kafkajs/src/consumer/offsetManager/index.js') as new (o: Record<string, unknown>) => OffsetManager;
  const commits: unknown[] = [];
  const listed: unknown[] = [];
  const coordinator = {
    isConnected: () => true,
    offsetCommit: (req: unknown) => {
      commits.push(req);
      return Promise.resolve({});
    },
  };
  // The cluster keeps each group's committed offsets in memory (kafkajs's own shape).
  const committed: Record<string, Record<number, string>> = {};
  const cluster = {
    committedOffsets: () => committed,
    fetchTopicsOffset: (topics: { topic: string; partitions: { partition: number }[]; fromBeginning?: boolean }[]) => {
      listed.push(topics);
      return Promise.resolve(topics.map((t) => ({ topic: t.topic, partitions: t.partitions.map((p) => ({ partition: p.partition, offset: t.fromBeginning ? '10' : '20' })) })));
    },
    defaultOffset: ({ fromBeginning }: { fromBeginning?: boolean }) => (fromBeginning ? -2 : -1),
  };
  const m = new OffsetManagerClass({
    cluster,
    coordinator,
    memberAssignment: { t: [0, 1] },
    autoCommit: false,
    topicConfigurations: { t: { fromBeginning: true } },
    instrumentationEmitter: { emit: () => undefined },
    groupId: 'g',
    generationId: 1,
    memberId: 'm',
  });
  // The group's commits as read at the join: 5 on t[0] (below the log start), 12 on t[1].
  m.committedOffsets().t = { 0: '5', 1: '12' };
  return { m, commits, listed };
}

describe('the kafkajs offset-reset fix', () => {
  beforeAll(() => {
    expect(mendKafkajsOffsetReset()).toBe(true);
  });

  it('moves a partition whose offset is out of range to the earliest offset without committing anything for the group', async () => {
    const { m, commits, listed } = manager();
    m.resolveOffset({ topic: 't', partition: 0, offset: '6' });
    expect(m.nextOffset('t', 0).toString()).toBe('7');
    await m.setDefaultOffset({ topic: 't', partition: 0 });
    // kafkajs 2.2.4 committed -2 here, over the group's commit (5) and its metadata.
    expect(commits).toEqual([]);
    expect(listed).toEqual([[{ topic: 't', partitions: [{ partition: 0 }], fromBeginning: true }]]);
    expect(m.nextOffset('t', 0).toString()).toBe('10');
    // The other partition is left where it was.
    expect(m.nextOffset('t', 1).toString()).toBe('12');
  });

  it('leaves a partition no longer assigned alone', async () => {
    const { m, commits } = manager();
    await m.setDefaultOffset({ topic: 't', partition: 7 });
    expect(commits).toEqual([]);
    expect(m.committedOffsets().t?.[7]).toBeUndefined();
  });
});
