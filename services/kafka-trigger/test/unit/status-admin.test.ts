import type { Admin } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { StatusAdmin } from '../../src/status-admin.js';

/** The admin calls the cache sits on, counted; `fail` makes the next read of that kind fail. */
function admin(): { a: Admin; reads: string[]; fail: Set<string> } {
  const reads: string[] = [];
  const fail = new Set<string>();
  const answer = <T>(what: string, value: T): Promise<T> => {
    reads.push(what);
    if (fail.delete(what)) return Promise.reject(new Error(`${what} failed`));
    return Promise.resolve(value);
  };
  const a = {
    listTopics: () => answer('topics', ['a', 'b']),
    fetchTopicOffsets: (topic: string) => answer(`ends ${topic}`, [{ partition: 0, offset: '5', high: '5', low: '0' }]),
    describeGroups: (ids: string[]) => answer(`describe ${ids.join()}`, { groups: [] }),
    fetchOffsets: (o: { groupId: string }) => answer(`offsets ${o.groupId}`, []),
  } as unknown as Admin;
  return { a, reads, fail };
}

describe('StatusAdmin', () => {
  it('reads the topics and each topic’s offsets once per ttl for every trigger of the connection, and each group every time', async () => {
    let now = 0;
    const { a, reads } = admin();
    const s = new StatusAdmin(a, 2000, () => now);
    await Promise.all([s.listTopics(), s.listTopics(), s.fetchTopicOffsets('a'), s.fetchTopicOffsets('a'), s.fetchTopicOffsets('b')]);
    await s.describeGroups(['g1']);
    await s.describeGroups(['g1']);
    await s.fetchOffsets({ groupId: 'g1', topics: ['a'] });
    expect(reads).toEqual(['topics', 'ends a', 'ends b', 'describe g1', 'describe g1', 'offsets g1']);
    now = 1999;
    expect(await s.listTopics()).toEqual(['a', 'b']);
    expect(reads).toHaveLength(6);
    now = 2000;
    await s.listTopics();
    await s.fetchTopicOffsets('a');
    expect(reads.slice(6)).toEqual(['topics', 'ends a']);
  });

  it('keeps no failed read: the next call asks the broker again', async () => {
    const { a, reads, fail } = admin();
    const s = new StatusAdmin(a, 60_000, () => 0);
    fail.add('topics');
    fail.add('ends a');
    await expect(s.listTopics()).rejects.toThrow('topics failed');
    await expect(s.fetchTopicOffsets('a')).rejects.toThrow('ends a failed');
    expect(await s.listTopics()).toEqual(['a', 'b']);
    expect(await s.fetchTopicOffsets('a')).toHaveLength(1);
    expect(reads).toEqual(['topics', 'ends a', 'topics', 'ends a']);
  });
});
