import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryBudget, memoryBudgetBytes } from '../src/index.js';

/** Tracks whether a promise settled, and how. */
function track(p: Promise<unknown>): { state: () => 'pending' | 'resolved' | 'rejected'; error: () => unknown } {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending';
  let error: unknown;
  p.then(
    () => {
      state = 'resolved';
    },
    (err: unknown) => {
      state = 'rejected';
      error = err;
    },
  );
  return { state: () => state, error: () => error };
}

describe('MemoryBudget', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('refuses a limit that is not a positive finite number', () => {
    expect(() => new MemoryBudget(0)).toThrow(RangeError);
    expect(() => new MemoryBudget(Number.NaN)).toThrow(RangeError);
    expect(() => new MemoryBudget(Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });

  it('counts what is held even over the limit, and reports the crossings once each', () => {
    const b = new MemoryBudget(100);
    const seen: string[] = [];
    b.on('over', () => seen.push('over'));
    b.on('under', () => seen.push('under'));
    b.reserve(60);
    b.reserve(60);
    expect(b.used).toBe(120);
    expect(b.over).toBe(true);
    b.reserve(10);
    b.release(20);
    expect(b.over).toBe(true);
    b.release(10);
    expect(b.used).toBe(100);
    expect(b.over).toBe(false);
    b.release(1000);
    expect(b.used).toBe(0);
    expect(b.highWater).toBe(130);
    expect(seen).toEqual(['over', 'under']);
  });

  it('grants room first come first served: a small request does not overtake a large one', async () => {
    const b = new MemoryBudget(100);
    expect(b.tryReserve(80)).toBe(true);
    const large = track(b.acquire(50));
    expect(b.waiting).toBe(1);
    // 10 would fit, but the large request waits before it.
    expect(b.tryReserve(10)).toBe(false);
    const small = track(b.acquire(10));
    await Promise.resolve();
    expect(large.state()).toBe('pending');
    b.release(30);
    await Promise.resolve();
    expect(large.state()).toBe('resolved');
    expect(small.state()).toBe('pending');
    b.release(10);
    await Promise.resolve();
    expect(small.state()).toBe('resolved');
    expect(b.used).toBe(100);
    expect(b.highWater).toBe(100);
  });

  it('admits one request larger than the whole budget when nothing is held', () => {
    const b = new MemoryBudget(100);
    expect(b.tryReserve(500)).toBe(true);
    expect(b.tryReserve(1)).toBe(false);
    b.release(500);
    expect(b.tryReserve(1)).toBe(true);
  });

  it('never exceeds the limit with producers that acquire before they hold (fake timers)', async () => {
    vi.useFakeTimers();
    const b = new MemoryBudget(1000);
    let done = 0;
    // 20 "consumers" each fetch 300 bytes, hold them for 50-250 ms, and fetch again, 5 times.
    const consumer = async (i: number): Promise<void> => {
      for (let n = 0; n < 5; n++) {
        await b.acquire(300);
        await new Promise((r) => setTimeout(r, 50 + ((i * 37 + n * 11) % 200)));
        b.release(300);
      }
      done++;
    };
    const all = Promise.all(Array.from({ length: 20 }, (_, i) => consumer(i)));
    await vi.advanceTimersByTimeAsync(60_000);
    await all;
    expect(done).toBe(20);
    expect(b.highWater).toBeLessThanOrEqual(1000);
    expect(b.used).toBe(0);
  });

  it('an aborted waiter leaves the queue, and those behind it are served', async () => {
    vi.useFakeTimers();
    const b = new MemoryBudget(100);
    b.reserve(90);
    const ac = new AbortController();
    const big = track(b.acquire(50, ac.signal));
    const small = track(b.acquire(10));
    setTimeout(() => {
      ac.abort(new Error('stopping'));
    }, 1000);
    await vi.advanceTimersByTimeAsync(999);
    expect(big.state()).toBe('pending');
    expect(small.state()).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(big.state()).toBe('rejected');
    expect((big.error() as Error).message).toBe('stopping');
    expect(small.state()).toBe('resolved');
    expect(b.waiting).toBe(0);
  });

  it('whenUnder resolves once released under the limit, or rejects on abort', async () => {
    vi.useFakeTimers();
    const b = new MemoryBudget(100);
    await expect(b.whenUnder()).resolves.toBeUndefined();
    b.reserve(150);
    const under = track(b.whenUnder());
    const ac = new AbortController();
    const aborted = track(b.whenUnder(ac.signal));
    setTimeout(() => {
      b.release(40);
    }, 100);
    setTimeout(() => {
      ac.abort(new Error('stop'));
    }, 150);
    setTimeout(() => {
      b.release(20);
    }, 200);
    await vi.advanceTimersByTimeAsync(120);
    expect(under.state()).toBe('pending');
    await vi.advanceTimersByTimeAsync(40);
    expect(aborted.state()).toBe('rejected');
    await vi.advanceTimersByTimeAsync(50);
    expect(under.state()).toBe('resolved');
    expect(b.over).toBe(false);
  });
});

describe('memoryBudgetBytes', () => {
  it('takes MEMORY_BUDGET_BYTES when set, else 40% of the container limit, else 256 MiB', () => {
    expect(memoryBudgetBytes(5 << 20, 512 << 20)).toBe(5 << 20);
    expect(memoryBudgetBytes(undefined, 512 << 20)).toBe(Math.floor((512 << 20) * 0.4));
    expect(memoryBudgetBytes(undefined, undefined)).toBe(256 << 20);
  });
});
