import { createLogger } from '@kubeless/observability';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeleteBatcher, VisibilityHeartbeat } from '../../src/index.js';

const logger = createLogger({ name: 'test', level: 'silent' });

describe('DeleteBatcher', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends 10 at once without waiting, and the rest after the interval', async () => {
    const calls: string[][] = [];
    const b = new DeleteBatcher({ intervalMs: 100, logger, send: (e) => (calls.push(e.map((x) => x.ReceiptHandle)), Promise.resolve({ failed: [] })) });
    const done = Array.from({ length: 13 }, (_, i) => b.delete(`h${String(i)}`));
    expect(calls).toHaveLength(1);
    expect(calls[0]).toHaveLength(10);
    await vi.advanceTimersByTimeAsync(99);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls[1]).toEqual(['h10', 'h11', 'h12']);
    expect(await Promise.all(done)).toEqual(Array.from({ length: 13 }, () => true));
  });

  it('resolves false for the entries SQS refused, true for the others', async () => {
    const b = new DeleteBatcher({ intervalMs: 10, logger, send: () => Promise.resolve({ failed: [{ id: 'm1', message: 'ReceiptHandleIsInvalid' }] }) });
    const r = [b.delete('a'), b.delete('b')];
    await b.flush();
    expect(await Promise.all(r)).toEqual([true, false]);
  });

  it('retries a failed call, then gives up with false', async () => {
    let n = 0;
    const b = new DeleteBatcher({ intervalMs: 10, logger, send: () => (n++, Promise.reject(new Error('down'))) });
    const r = b.delete('a');
    await vi.advanceTimersByTimeAsync(2000);
    expect(await r).toBe(false);
    expect(n).toBe(3);
  });

  it('add queues without waiting until maxPending deletes are outstanding, then makes the caller wait for room', async () => {
    const answers: (() => void)[] = [];
    const calls: string[][] = [];
    const b = new DeleteBatcher({
      intervalMs: 100,
      maxPending: 20,
      logger,
      send: (e) => {
        calls.push(e.map((x) => x.ReceiptHandle));
        return new Promise((resolve) => {
          answers.push(() => {
            resolve({ failed: [] });
          });
        });
      },
    });
    const done: boolean[] = [];
    for (let i = 0; i < 19; i++) expect(b.add(`h${String(i)}`, (ok) => done.push(ok))).toBeUndefined();
    // 10 went out at once; 9 wait for the timer or the 10th.
    expect(calls).toHaveLength(1);
    expect(b.outstanding).toBe(19);
    const room = b.add('h19');
    expect(room).toBeInstanceOf(Promise);
    expect(calls).toHaveLength(2);
    let roomy = false;
    void room?.then(() => (roomy = true));
    await vi.advanceTimersByTimeAsync(1000);
    expect(roomy).toBe(false);
    answers[0]?.();
    await vi.advanceTimersByTimeAsync(0);
    expect(roomy).toBe(true);
    expect(b.outstanding).toBe(10);
    expect(done).toEqual(Array.from({ length: 10 }, () => true));
    answers[1]?.();
    await b.flush();
    expect(b.outstanding).toBe(0);
    expect(done).toHaveLength(19);
  });

  it('sends a partial batch after the interval, never before', async () => {
    const calls: number[] = [];
    const b = new DeleteBatcher({ intervalMs: 50, logger, send: (e) => (calls.push(e.length), Promise.resolve({ failed: [] })) });
    expect(b.add('a')).toBeUndefined();
    await vi.advanceTimersByTimeAsync(30);
    expect(b.add('b')).toBeUndefined();
    await vi.advanceTimersByTimeAsync(19);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([2]);
    expect(b.outstanding).toBe(0);
  });

  it('flush waits for calls in flight, including their retries', async () => {
    let n = 0;
    const b = new DeleteBatcher({ intervalMs: 60_000, logger, send: () => (++n < 2 ? Promise.reject(new Error('blip')) : Promise.resolve({ failed: [] })) });
    const r = b.delete('a');
    let flushed = false;
    const f = b.flush().then(() => (flushed = true));
    await vi.advanceTimersByTimeAsync(100);
    expect(flushed).toBe(false);
    await vi.advanceTimersByTimeAsync(100);
    await f;
    expect(n).toBe(2);
    expect(await r).toBe(true);
  });

  it('flush sends what is pending at once', async () => {
    const calls: number[] = [];
    const b = new DeleteBatcher({ intervalMs: 60_000, logger, send: (e) => (calls.push(e.length), Promise.resolve({ failed: [] })) });
    const r = b.delete('a');
    await b.flush();
    expect(calls).toEqual([1]);
    expect(await r).toBe(true);
  });
});

describe('DeleteBatcher at a stop', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('hurry sends what is pending now, and each later delete in the same turn, without waiting for the interval', async () => {
    const calls: string[][] = [];
    const b = new DeleteBatcher({ intervalMs: 60_000, logger, send: (e) => (calls.push(e.map((x) => x.ReceiptHandle)), Promise.resolve({ failed: [] })) });
    void b.add('a');
    b.hurry();
    expect(calls).toEqual([['a']]);
    // Deliveries that finish during the drain: one call for those finishing together.
    void b.add('b');
    void b.add('c');
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toEqual([['a'], ['b', 'c']]);
    expect(b.outstanding).toBe(0);
  });

  it('flush gives up waiting after its timeout, saying so', async () => {
    const b = new DeleteBatcher({ intervalMs: 10, logger, send: () => new Promise(() => undefined) });
    void b.add('a');
    const f = b.flush(3000);
    await vi.advanceTimersByTimeAsync(2999);
    let result: boolean | undefined;
    void f.then((r) => (result = r));
    await vi.advanceTimersByTimeAsync(0);
    expect(result).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(result).toBe(false);
    const ok = new DeleteBatcher({ intervalMs: 10, logger, send: () => Promise.resolve({ failed: [] }) });
    void ok.add('b');
    expect(await ok.flush(3000)).toBe(true);
  });
});

describe('VisibilityHeartbeat', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('extends held messages to the full timeout each time half of it passed, in batches of 10, until untracked', async () => {
    const calls: { n: number; sec: number }[] = [];
    const hb = new VisibilityHeartbeat({ visibilitySec: 4, logger, extend: (e, sec) => (calls.push({ n: e.length, sec }), Promise.resolve()) });
    const keys = Array.from({ length: 12 }, () => ({}));
    for (const k of keys) hb.track(k, 'h', Date.now());
    hb.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls).toEqual([
      { n: 10, sec: 4 },
      { n: 2, sec: 4 },
    ]);
    for (const k of keys.slice(1)) hb.untrack(k);
    await vi.advanceTimersByTimeAsync(2000);
    expect(calls.slice(2)).toEqual([{ n: 1, sec: 4 }]);
    hb.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toHaveLength(3);
  });
});
