import { describe, expect, it } from 'vitest';
import { OffsetTracker, PermitQueue, decodeMetadata, encodeMetadata, lowestStall, type CommitMetadata, type Stall } from '../../src/runner/offsets.js';

describe('OffsetTracker', () => {
  it('commits only the highest contiguous done offset, whatever the completion order', () => {
    const b = new OffsetTracker([10, 11, 12, 13]);
    expect(b.commitOffset).toBeUndefined();
    expect(b.allDone).toBe(false);

    expect(b.markDone(12)).toBe(false);
    expect(b.commitOffset).toBeUndefined();
    expect(b.markDone(13)).toBe(false);
    expect(b.commitOffset).toBeUndefined();

    expect(b.markDone(10)).toBe(true);
    expect(b.commitOffset).toBe(11);
    expect(b.allDone).toBe(false);

    // 11 closes the gap: the prefix jumps over the already-done 12 and 13.
    expect(b.markDone(11)).toBe(true);
    expect(b.commitOffset).toBe(14);
    expect(b.allDone).toBe(true);
  });

  it('ignores offsets it does not hold and offsets marked twice', () => {
    const b = new OffsetTracker([5, 6, 7]);
    expect(b.markDone(4)).toBe(false);
    expect(b.markDone(8)).toBe(false);
    expect(b.markDone(99)).toBe(false);
    expect(b.commitOffset).toBeUndefined();
    expect(b.markDone(5)).toBe(true);
    expect(b.markDone(5)).toBe(false);
    expect(b.commitOffset).toBe(6);
    expect(b.markDone(7)).toBe(false);
    expect(b.markDone(7)).toBe(false);
    expect(b.commitOffset).toBe(6);
    expect(b.allDone).toBe(false);
  });

  it('handles gaps between offsets (a compacted topic, filtered control records)', () => {
    const b = new OffsetTracker([100, 103, 104, 120]);
    expect(b.markDone(103)).toBe(false);
    expect(b.markDone(100)).toBe(true);
    // 100 and 103 done: the next message Kafka holds is 104, so the commit says "resume at 104".
    expect(b.commitOffset).toBe(104);
    expect(b.markDone(101)).toBe(false);
    expect(b.markDone(120)).toBe(false);
    expect(b.commitOffset).toBe(104);
    expect(b.markDone(104)).toBe(true);
    expect(b.commitOffset).toBe(121);
    expect(b.allDone).toBe(true);
  });

  it('copies its input and treats an empty batch as done with nothing to commit', () => {
    const input = [1, 2];
    const b = new OffsetTracker(input);
    input[0] = 50;
    expect(b.markDone(1)).toBe(true);
    expect(b.commitOffset).toBe(2);
    const empty = new OffsetTracker([]);
    expect(empty.allDone).toBe(true);
    expect(empty.commitOffset).toBeUndefined();
  });

  it('works for a long batch completed in reverse', () => {
    const offsets = Array.from({ length: 1000 }, (_, i) => 5000 + i);
    const b = new OffsetTracker(offsets);
    for (let i = offsets.length - 1; i > 0; i--) expect(b.markDone(offsets[i]!)).toBe(false);
    expect(b.commitOffset).toBeUndefined();
    expect(b.markDone(5000)).toBe(true);
    expect(b.commitOffset).toBe(6000);
  });
});

describe('OffsetTracker on large batches', () => {
  it('finds offsets by their distance from the first when consecutive, and by search otherwise', () => {
    const n = 10_000;
    const consecutive = new OffsetTracker(Array.from({ length: n }, (_, i) => 5000 + i));
    // Completion in reverse: nothing commits until the first, then all at once.
    for (let i = n - 1; i > 0; i--) expect(consecutive.markDone(5000 + i)).toBe(false);
    expect(consecutive.markDone(5000)).toBe(true);
    expect(consecutive.commitOffset).toBe(5000 + n);
    expect(consecutive.allDone).toBe(true);

    // Every other offset missing (a compacted topic): the distance guess misses, the search finds them.
    const sparse = new OffsetTracker(Array.from({ length: 100 }, (_, i) => 2 * i));
    expect(sparse.markDone(1)).toBe(false);
    expect(sparse.markDone(2)).toBe(false);
    expect(sparse.markDone(0)).toBe(true);
    expect(sparse.commitOffset).toBe(3);
    expect(sparse.markDone(198)).toBe(false);
    expect(sparse.markDone(0)).toBe(false);
    expect(sparse.commitOffset).toBe(3);
  });
});

describe('PermitQueue', () => {
  it('releases the slots below a committed offset, oldest first, with their bytes', () => {
    const q = new PermitQueue();
    q.push(10, 100);
    q.push(11, 5);
    q.push(13, 7);
    expect(q.size).toBe(3);
    expect(q.releaseBelow(10)).toEqual({ count: 0, bytes: 0 });
    expect(q.releaseBelow(12)).toEqual({ count: 2, bytes: 105 });
    expect(q.size).toBe(1);
    expect(q.releaseBelow(12)).toEqual({ count: 0, bytes: 0 });
    q.push(14, 1);
    expect(q.releaseAll()).toEqual({ count: 2, bytes: 8 });
    expect(q.size).toBe(0);
    expect(q.releaseBelow(1_000)).toEqual({ count: 0, bytes: 0 });
  });

  it('keeps its order and totals across compactions of a long queue', () => {
    const q = new PermitQueue();
    let next = 0;
    let held = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 700; i++) {
        q.push(next++, 3);
        held++;
      }
      const upTo = next - 200;
      const freed = q.releaseBelow(upTo);
      expect(freed.bytes).toBe(freed.count * 3);
      held -= freed.count;
      expect(q.size).toBe(held);
      expect(held).toBe(200);
    }
    expect(q.releaseAll()).toEqual({ count: 200, bytes: 600 });
  });
});

describe('encodeMetadata / decodeMetadata', () => {
  const since = '2024-05-01T10:00:00.000Z';

  it('round-trips attempts and the stalled message', () => {
    const m: CommitMetadata = { attempts: new Map([[42, 3], [7, 1], [1000, 12]]), stalled: { offset: 42, reason: 'http-503: Service Unavailable', since } };
    const text = encodeMetadata(m);
    const back = decodeMetadata(text);
    expect([...back.attempts.entries()].sort((a, b) => a[0] - b[0])).toEqual([[7, 1], [42, 3], [1000, 12]]);
    expect(back.stalled).toEqual({ offset: 42, reason: 'http-503: Service Unavailable', since });
  });

  it('round-trips empty metadata and leaves stalled out when not set', () => {
    const text = encodeMetadata({ attempts: new Map() });
    expect(JSON.parse(text)).toEqual({ v: 1, a: {} });
    const back = decodeMetadata(text);
    expect(back.attempts.size).toBe(0);
    expect(back.stalled).toBeUndefined();
  });

  it('shortens a long stalled reason to 300 characters', () => {
    const reason = 'x'.repeat(5000);
    const back = decodeMetadata(encodeMetadata({ attempts: new Map(), stalled: { offset: 1, reason, since } }));
    expect(back.stalled?.reason).toBe('x'.repeat(300));
    expect(back.stalled?.offset).toBe(1);
  });

  it('stays under the cap as valid JSON, keeping the lowest offsets', () => {
    const attempts = new Map<number, number>();
    // Inserted highest first: the cap must sort, not keep insertion order.
    for (let i = 2999; i >= 0; i--) attempts.set(1_000_000_000 + i, (i % 9) + 1);
    const text = encodeMetadata({ attempts, stalled: { offset: 1_000_000_000, reason: 'r'.repeat(1000), since } });
    expect(text.length).toBeLessThanOrEqual(3500);
    expect(() => JSON.parse(text) as unknown).not.toThrow();
    const back = decodeMetadata(text);
    expect(back.stalled?.offset).toBe(1_000_000_000);
    const kept = [...back.attempts.keys()].sort((a, b) => a - b);
    expect(kept.length).toBeGreaterThan(50);
    expect(kept.length).toBeLessThan(3000);
    // A prefix of the sorted offsets: nothing skipped, values intact.
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => 1_000_000_000 + i));
    for (const o of kept) expect(back.attempts.get(o)).toBe(attempts.get(o));
    expect(back.attempts.has(1_000_002_999)).toBe(false);
  });

  it('does not cut entries when everything fits', () => {
    const attempts = new Map(Array.from({ length: 20 }, (_, i) => [i, i + 1] as [number, number]));
    expect(decodeMetadata(encodeMetadata({ attempts })).attempts).toEqual(attempts);
  });

  it.each<[string, string | null | undefined]>([
    ['null', null],
    ['undefined', undefined],
    ['empty', ''],
    ['not JSON', 'consumer-1 was here'],
    ['JSON null', 'null'],
    ['a JSON number', '42'],
    ['a JSON array', '[1,2,3]'],
    ['another version', '{"v":2,"a":{"1":5}}'],
    ['no version', '{"a":{"1":5}}'],
    ['truncated', '{"v":1,"a":{"1":5'],
  ])('foreign metadata (%s) decodes as empty', (_name, text) => {
    const m = decodeMetadata(text);
    expect(m.attempts.size).toBe(0);
    expect(m.stalled).toBeUndefined();
  });

  it('skips malformed entries but keeps the good ones', () => {
    const m = decodeMetadata(JSON.stringify({ v: 1, a: { '3': 2, x: 1, '4.5': 1, '9': '7', '11': 4 }, s: { offset: '3', reason: 'r', since } }));
    expect([...m.attempts.entries()].sort((a, b) => a[0] - b[0])).toEqual([[3, 2], [11, 4]]);
    // A stalled entry whose offset is not a number is not ours.
    expect(m.stalled).toBeUndefined();
  });

  it('round-trips the stall cause, the records skipped by retention and the owner tag', () => {
    const m: CommitMetadata = {
      attempts: new Map([[5, 2]]),
      stalled: { offset: 5, reason: 'MESSAGE_TOO_LARGE', since, cause: 'deadLetter' },
      skipped: { count: 12, from: 3, to: 15, at: since },
      owner: 'abc123',
    };
    expect(decodeMetadata(encodeMetadata(m))).toEqual(m);
  });

  it('writes what the quadratic encoder wrote (same text), and keeps 100,000 entries under the limit', () => {
    const quadratic = (m: CommitMetadata): string => {
      const a: Record<string, number> = {};
      const out: { v: 1; a: Record<string, number>; s?: CommitMetadata['stalled'] } = { v: 1, a };
      if (m.stalled) out.s = { ...m.stalled, reason: m.stalled.reason.slice(0, 300) };
      let text = JSON.stringify(out);
      for (const [o, n] of [...m.attempts.entries()].sort((x, y) => x[0] - y[0])) {
        const next = JSON.stringify({ ...out, a: { ...out.a, [String(o)]: n } });
        if (Buffer.byteLength(next) > 3000) break;
        a[String(o)] = n;
        text = next;
      }
      return text;
    };
    for (const size of [0, 1, 7, 250, 600]) {
      const attempts = new Map(Array.from({ length: size }, (_, i) => [1_000_000 + i * 3, (i % 11) + 1] as [number, number]));
      const m: CommitMetadata = { attempts, stalled: size % 2 ? { offset: 1_000_000, reason: 'é'.repeat(400), since } : undefined };
      expect(encodeMetadata(m)).toBe(quadratic(m));
    }
    // 100,000 entries (the quadratic one took seconds; speed is not asserted here, a loaded
    // machine made a time bound flaky): the text stays under Kafka's metadata limit, lowest first.
    const big = new Map(Array.from({ length: 100_000 }, (_, i) => [i, 1] as [number, number]));
    const text = encodeMetadata({ attempts: big });
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(3000);
    expect(decodeMetadata(text).attempts.get(0)).toBe(1);
    expect(decodeMetadata(text).attempts.has(99_999)).toBe(false);
  });
});

describe('lowestStall', () => {
  const since = '2024-05-01T10:00:00.000Z';
  it('reports the lowest blocked offset while any is blocked', () => {
    const stalls = new Map<number, Stall>();
    expect(lowestStall(stalls)).toBeUndefined();
    stalls.set(9, { offset: 9, reason: 'b', since });
    stalls.set(4, { offset: 4, reason: 'a', since });
    expect(lowestStall(stalls)?.offset).toBe(4);
    // 4 settles: the partition is still stalled on 9 (it used to show Flowing).
    stalls.delete(4);
    expect(lowestStall(stalls)?.offset).toBe(9);
  });
});

describe('OffsetTracker across batches', () => {
  it('keeps the done prefix across pushes, with a record still pending from an earlier batch', () => {
    const t = new OffsetTracker();
    for (const o of [0, 1, 2]) t.push(o);
    expect(t.markDone(1)).toBe(false);
    expect(t.markDone(2)).toBe(false);
    // The next batch is dispatched while 0 backs off.
    for (const o of [3, 4]) t.push(o);
    expect(t.markDone(3)).toBe(false);
    expect(t.pending).toBe(5);
    expect(t.commitOffset).toBeUndefined();
    expect(t.markDone(0)).toBe(true);
    expect(t.commitOffset).toBe(4);
    expect(t.pending).toBe(1);
    expect(t.allDone).toBe(false);
    expect(t.markDone(4)).toBe(true);
    expect(t.commitOffset).toBe(5);
    expect(t.allDone).toBe(true);
  });

  it('finds offsets after compaction of a long prefix and across gaps', () => {
    const t = new OffsetTracker();
    for (let o = 0; o < 5000; o++) t.push(o * 2);
    for (let o = 0; o < 3000; o++) expect(t.markDone(o * 2)).toBe(true);
    expect(t.commitOffset).toBe(2 * 2999 + 1);
    expect(t.markDone(2 * 4000)).toBe(false);
    expect(t.markDone(2 * 4000 + 1)).toBe(false);
    for (let o = 3000; o < 4000; o++) t.markDone(o * 2);
    expect(t.commitOffset).toBe(2 * 4000 + 1);
    expect(t.pending).toBe(999);
  });
});
