import { describe, expect, it } from 'vitest';
import { Pauses } from '../../src/runner/partition.js';
import type { TopicPartitions } from '../../src/runner/port.js';

/** The client's pause state as kafkajs keeps it for explicit partitions. */
function client(): { paused: Set<string>; calls: { pause: TopicPartitions[]; resume: TopicPartitions[] }[]; apply: (p: TopicPartitions[], r: TopicPartitions[]) => void } {
  const paused = new Set<string>();
  const calls: { pause: TopicPartitions[]; resume: TopicPartitions[] }[] = [];
  return {
    paused,
    calls,
    apply: (p, r) => {
      calls.push({ pause: p, resume: r });
      for (const t of p) for (const x of t.partitions) paused.add(`${t.topic}/${String(x)}`);
      for (const t of r) for (const x of t.partitions) paused.delete(`${t.topic}/${String(x)}`);
    },
  };
}

describe('Pauses', () => {
  it('pauses one partition for its own reasons and resumes it only when none is left', () => {
    const c = client();
    const p = new Pauses(c.apply);
    p.assign({ t: [0, 1, 2] });
    p.set('t', 1, 'window', true);
    p.set('t', 1, 'backoff', true);
    expect([...c.paused]).toEqual(['t/1']);
    p.set('t', 1, 'window', false);
    expect([...c.paused]).toEqual(['t/1']);
    p.set('t', 1, 'backoff', false);
    expect([...c.paused]).toEqual([]);
    expect(p.isPaused('t', 1)).toBe(false);
  });

  it('the budget pauses every assigned partition and gives back only those without reasons of their own', () => {
    const c = client();
    const p = new Pauses(c.apply);
    p.assign({ a: [0, 1], b: [3] });
    p.set('a', 0, 'window', true);
    p.setAll(true);
    expect([...c.paused].sort()).toEqual(['a/0', 'a/1', 'b/3']);
    // A partition's own resume does not reach the client while the budget holds everything.
    p.set('a', 0, 'window', false);
    p.set('a', 1, 'backoff', true);
    expect([...c.paused].sort()).toEqual(['a/0', 'a/1', 'b/3']);
    p.setAll(false);
    expect([...c.paused]).toEqual(['a/1']);
  });

  it('a new generation starts with its partitions resumed in the client (it keeps pauses across a rejoin)', () => {
    const c = client();
    const p = new Pauses(c.apply);
    p.assign({ t: [0, 1] });
    p.set('t', 0, 'backoff', true);
    expect([...c.paused]).toEqual(['t/0']);
    p.assign({ t: [0] });
    expect([...c.paused]).toEqual([]);
    expect(p.isPaused('t', 0)).toBe(false);
  });
});

describe('carryOf: what a partition did beyond its commit, for its next generation here', () => {
  it('keeps the done prefix and the done offsets ahead of it, merged with what it carried in', async () => {
    const { newPartition, carryOf } = await import('../../src/runner/partition.js');
    const lag = { labels: { namespace: 'n', trigger: 't', function: 'f', topic: 't', partition: '0' }, value: 0 };
    const ps = newPartition({ topic: 't', partition: 0, source: 's', lag, meta: { attempts: new Map() }, committed: 10, carried: { below: 12, done: new Set([14, 30]) } });
    expect(carryOf(newPartition({ topic: 't', partition: 0, source: 's', lag, meta: { attempts: new Map() }, committed: 10 }))).toBeUndefined();
    for (const o of [10, 11, 12, 13, 14, 15]) ps.tracker.push(o);
    ps.tracker.markDone(10);
    ps.tracker.markDone(11);
    ps.tracker.markDone(13);
    const c = carryOf(ps);
    // 12 was done in the generation before (below 12 carried in): the prefix here stopped at 12.
    expect(c?.below).toBe(12);
    expect([...(c?.done ?? [])].sort((a, b) => a - b)).toEqual([13, 14, 30]);
  });
});
