import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WorkQueue } from '../src/workqueue.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('WorkQueue', () => {
  it('dedupes a key that is already queued', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('a');
    q.add('b');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
  });

  it('never hands out a key being processed; a re-add waits for done', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = await q.get();
    expect(key).toBe('a');
    q.add('a');
    expect(q.length).toBe(0);
    let second: string | undefined;
    void q.get().then((k) => (second = k));
    await Promise.resolve();
    expect(second).toBeUndefined();
    q.done('a');
    await Promise.resolve();
    expect(second).toBe('a');
  });

  it('backs a failing key off exponentially from 5 ms, and forget resets it', () => {
    const q = new WorkQueue({ qps: 1e9, burst: 1e9 });
    expect([1, 2, 3, 4, 5].map(() => q.nextRetryDelay('k'))).toEqual([5, 10, 20, 40, 80]);
    expect(q.retries('k')).toBe(5);
    q.forget('k');
    expect(q.nextRetryDelay('k')).toBe(5);
  });

  it('caps the per-item backoff', () => {
    const q = new WorkQueue({ baseDelayMs: 1000, maxDelayMs: 5000, qps: 1e9, burst: 1e9 });
    const delays = Array.from({ length: 6 }, () => q.nextRetryDelay('k'));
    expect(delays).toEqual([1000, 2000, 4000, 5000, 5000, 5000]);
  });

  it('limits retries of all keys together with a token bucket (10 qps, burst 100)', () => {
    let now = 0;
    const q = new WorkQueue({ now: () => now });
    // 100 different keys retry at once: the burst covers them with only the 5 ms item delay.
    for (let i = 0; i < 100; i++) expect(q.nextRetryDelay(`k${String(i)}`)).toBe(5);
    // The 101st waits for a token: 100 ms at 10 qps; the 110th, a second.
    expect(q.nextRetryDelay('k100')).toBe(100);
    for (let i = 101; i < 109; i++) q.nextRetryDelay(`k${String(i)}`);
    expect(q.nextRetryDelay('k109')).toBe(1000);
    // Tokens refill with time.
    now += 60_000;
    expect(q.nextRetryDelay('k110')).toBe(5);
  });

  it('adds a rate-limited key after its delay', async () => {
    const q = new WorkQueue({ qps: 1e9, burst: 1e9 });
    q.nextRetryDelay('k');
    q.nextRetryDelay('k');
    expect(q.addRateLimited('k')).toBe(20);
    expect(q.length).toBe(0);
    expect(q.delayed).toBe(1);
    await vi.advanceTimersByTimeAsync(19);
    expect(q.length).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('k');
  });

  it('an immediate add supersedes a pending delayed add', async () => {
    const q = new WorkQueue();
    q.addAfter('k', 10_000);
    q.add('k');
    expect(await q.get()).toBe('k');
    q.done('k');
    await vi.advanceTimersByTimeAsync(20_000);
    expect(q.length).toBe(0);
  });

  it('shutdown releases waiting workers and drops delayed keys', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.addAfter('later', 1000);
    q.shutdown();
    expect(await waiting).toBeUndefined();
    await vi.advanceTimersByTimeAsync(2000);
    expect(q.length).toBe(0);
    q.add('x');
    expect(q.length).toBe(0);
  });
});
