import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InFlightLimiter, RateLimiter, sleep } from '../src/index.js';

/** Lets settled promises run their callbacks. */
const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

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

describe('InFlightLimiter', () => {
  it('refuses nonsensical bounds', () => {
    expect(() => new InFlightLimiter(0, 10)).toThrow(RangeError);
    expect(() => new InFlightLimiter(1, 0)).toThrow(RangeError);
    expect(() => new InFlightLimiter(Number.NaN, 10)).toThrow(RangeError);
  });

  it('bounds the count', async () => {
    const l = new InFlightLimiter(2, 1_000_000);
    expect(l.tryAcquire(1)).toBe(true);
    expect(l.tryAcquire(1)).toBe(true);
    expect(l.tryAcquire(1)).toBe(false);
    expect(l.count).toBe(2);
    const third = track(l.acquire(1));
    await flush();
    expect(third.state()).toBe('pending');
    l.release(1);
    await flush();
    expect(third.state()).toBe('resolved');
    expect(l.count).toBe(2);
    expect(l.bytes).toBe(2);
  });

  it('bounds the bytes', async () => {
    const l = new InFlightLimiter(100, 100);
    await l.acquire(60);
    expect(l.tryAcquire(50)).toBe(false);
    const big = track(l.acquire(50));
    await flush();
    expect(big.state()).toBe('pending');
    expect(l.bytes).toBe(60);
    l.release(60);
    await flush();
    expect(big.state()).toBe('resolved');
    expect(l.bytes).toBe(50);
    expect(l.count).toBe(1);
    expect(l.tryAcquire(50)).toBe(true);
    expect(l.bytes).toBe(100);
  });

  it('serves waiters in FIFO order: a small item does not overtake a large one', async () => {
    const l = new InFlightLimiter(10, 100);
    await l.acquire(60);
    const order: string[] = [];
    const big = l.acquire(50).then(() => order.push('big'));
    const small = l.acquire(10).then(() => order.push('small'));
    // 10 bytes would fit now, but somebody is queued first.
    expect(l.tryAcquire(10)).toBe(false);
    await flush();
    expect(order).toEqual([]);
    l.release(60);
    await Promise.all([big, small]);
    expect(order).toEqual(['big', 'small']);
    expect(l.bytes).toBe(60);
    expect(l.count).toBe(2);
  });

  it('admits an item over maxBytes alone, so it cannot block forever', async () => {
    const l = new InFlightLimiter(10, 100);
    expect(l.tryAcquire(500)).toBe(true);
    expect(l.bytes).toBe(500);
    const next = track(l.acquire(1));
    await flush();
    expect(next.state()).toBe('pending');
    l.release(500);
    await flush();
    expect(next.state()).toBe('resolved');

    // And when others hold bytes, the oversize item waits for them to go.
    const over = track(l.acquire(1000));
    await flush();
    expect(over.state()).toBe('pending');
    l.release(1);
    await flush();
    expect(over.state()).toBe('resolved');
    expect(l.bytes).toBe(1000);
  });

  it('rejects a waiter whose signal aborts, with the reason, and serves the next one', async () => {
    const l = new InFlightLimiter(10, 100);
    await l.acquire(60);
    const ac = new AbortController();
    const big = track(l.acquire(50, ac.signal));
    const small = track(l.acquire(10));
    await flush();
    expect(small.state()).toBe('pending'); // queued behind big
    const reason = new Error('shutting down');
    ac.abort(reason);
    await flush();
    expect(big.state()).toBe('rejected');
    expect(big.error()).toBe(reason);
    expect(small.state()).toBe('resolved');
    expect(l.count).toBe(2);
    expect(l.bytes).toBe(70);
  });

  it('rejects at once when the signal is already aborted and no slot is free', async () => {
    const l = new InFlightLimiter(1, 100);
    l.tryAcquire(1);
    const ac = new AbortController();
    ac.abort(new Error('gone'));
    await expect(l.acquire(1, ac.signal)).rejects.toThrow('gone');
    expect(l.count).toBe(1);
    // With a free slot an aborted signal does not matter: nothing to wait for.
    l.release(1);
    await expect(l.acquire(1, ac.signal)).resolves.toBeUndefined();
  });

  it('listens to a signal once, however many waits use it (a runner signal outlives many waits), and still aborts its waiters', async () => {
    const l = new InFlightLimiter(1, 100);
    const ac = new AbortController();
    for (let i = 0; i < 30; i++) {
      l.tryAcquire(1);
      const p = l.acquire(1, ac.signal);
      l.release(1);
      await p;
      l.release(1);
    }
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);
    expect(l.count).toBe(0);
    // Two waiters on the signal, one on another: the abort takes out only its own, in order.
    l.tryAcquire(1);
    const other = new AbortController();
    const order: string[] = [];
    const a = l.acquire(1, ac.signal).catch(() => order.push('a'));
    const b = l.acquire(1, other.signal).then(() => order.push('b admitted'));
    const c = l.acquire(1, ac.signal).catch(() => order.push('c'));
    ac.abort(new Error('revoked'));
    await Promise.all([a, c]);
    expect(l.waiting).toBe(1);
    l.release(1);
    await b;
    expect(order).toEqual(['a', 'c', 'b admitted']);
    expect(l.count).toBe(1);
  });

  it('never goes below zero on an extra release', () => {
    const l = new InFlightLimiter(1, 10);
    l.release(5);
    expect(l.count).toBe(0);
    expect(l.bytes).toBe(0);
    expect(l.tryAcquire(10)).toBe(true);
  });
});

describe('RateLimiter', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('refuses a rate <= 0', () => {
    expect(() => new RateLimiter(0)).toThrow(RangeError);
    expect(() => new RateLimiter(-1)).toThrow(RangeError);
  });

  it('reserve: a burst of one second, then one token per 1/rate', () => {
    let t = 1000;
    const r = new RateLimiter(10, () => t);
    for (let i = 0; i < 10; i++) expect(r.reserve()).toBe(0);
    expect(r.reserve()).toBe(100);
    expect(r.reserve()).toBe(200);
    t += 200; // two tokens back: the debt is now one token
    expect(r.reserve()).toBe(100);
    t += 10_000; // idle long: refills to the burst, no more
    for (let i = 0; i < 10; i++) expect(r.reserve()).toBe(0);
    expect(r.reserve()).toBeGreaterThan(0);
  });

  it('a rate below 1/s still has a burst of one', () => {
    let t = 0;
    const r = new RateLimiter(0.5, () => t);
    expect(r.reserve()).toBe(0);
    expect(r.reserve()).toBe(2000);
    t += 4000;
    expect(r.reserve()).toBe(0);
  });

  it('take paces concurrent callers at the rate, in order (not cumulatively)', async () => {
    vi.useFakeTimers();
    const r = new RateLimiter(10, () => Date.now());
    const order: number[] = [];
    const all = Array.from({ length: 13 }, (_, i) => r.take().then(() => order.push(i)));
    await vi.advanceTimersByTimeAsync(0);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await vi.advanceTimersByTimeAsync(99);
    expect(order).toHaveLength(10);
    await vi.advanceTimersByTimeAsync(1);
    expect(order).toHaveLength(11);
    await vi.advanceTimersByTimeAsync(100);
    expect(order).toHaveLength(12);
    await vi.advanceTimersByTimeAsync(100);
    expect(order).toHaveLength(13);
    await Promise.all(all);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('take rejects with the signal reason when aborted while waiting', async () => {
    vi.useFakeTimers();
    const r = new RateLimiter(1, () => Date.now());
    await r.take();
    const ac = new AbortController();
    const p = track(r.take(ac.signal));
    await vi.advanceTimersByTimeAsync(500);
    expect(p.state()).toBe('pending');
    ac.abort(new Error('stop'));
    await vi.advanceTimersByTimeAsync(0);
    expect(p.state()).toBe('rejected');
    expect((p.error() as Error).message).toBe('stop');
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('sleep', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves after ms, not before', async () => {
    vi.useFakeTimers();
    const p = track(sleep(1000));
    await vi.advanceTimersByTimeAsync(999);
    expect(p.state()).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(p.state()).toBe('resolved');
  });

  it('rejects with the reason on abort and clears its timer and listener', async () => {
    vi.useFakeTimers();
    const ac = new AbortController();
    const p = track(sleep(60_000, ac.signal));
    await vi.advanceTimersByTimeAsync(10);
    const reason = new Error('cancel');
    ac.abort(reason);
    await flush();
    expect(p.state()).toBe('rejected');
    expect(p.error()).toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('rejects at once when already aborted, even for 0 ms', async () => {
    const ac = new AbortController();
    ac.abort(new Error('already'));
    await expect(sleep(0, ac.signal)).rejects.toThrow('already');
    await expect(sleep(10, ac.signal)).rejects.toThrow('already');
  });

  it('an abort without a reason still rejects with an Error', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(sleep(5, ac.signal)).rejects.toBeInstanceOf(Error);
  });

  it('waits for the next turn of the event loop for ms <= 0 (setImmediate, not a microtask) and drops its listener', async () => {
    const ac = new AbortController();
    const zero = track(sleep(0, ac.signal));
    const negative = track(sleep(-5));
    // Microtasks alone never settle it: a retry loop sleeping 0 ms cannot starve timers and I/O.
    await flush();
    expect(zero.state()).toBe('pending');
    expect(negative.state()).toBe('pending');
    await new Promise<void>((resolve) => setImmediate(resolve));
    await flush();
    expect(zero.state()).toBe('resolved');
    expect(negative.state()).toBe('resolved');
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('lets a timer due now run while a loop sleeps 0 ms again and again', async () => {
    const timer = { fired: false };
    setTimeout(() => {
      timer.fired = true;
    }, 0);
    let spins = 0;
    const fired = (): boolean => timer.fired;
    while (!fired() && spins < 1000) {
      await sleep(0);
      spins++;
    }
    expect(fired()).toBe(true);
    expect(spins).toBeLessThan(1000);
  });

  it('an abort during a 0 ms sleep rejects and cancels the immediate', async () => {
    const ac = new AbortController();
    const p = track(sleep(0, ac.signal));
    ac.abort(new Error('stop'));
    await new Promise<void>((resolve) => setImmediate(resolve));
    await flush();
    expect(p.state()).toBe('rejected');
    expect((p.error() as Error).message).toBe('stop');
  });

  it('drops its listener after a timed sleep', async () => {
    vi.useFakeTimers();
    const ac = new AbortController();
    const p = sleep(10, ac.signal);
    await vi.advanceTimersByTimeAsync(10);
    await p;
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });
});

describe('InFlightLimiter bulk release', () => {
  it('releaseMany gives back several slots and their bytes with one wake-up, FIFO', async () => {
    const l = new InFlightLimiter(3, 1000);
    for (let i = 0; i < 3; i++) expect(l.tryAcquire(10)).toBe(true);
    const a = track(l.acquire(10));
    const b = track(l.acquire(10));
    const c = track(l.acquire(10));
    expect(l.waiting).toBe(3);
    l.releaseMany(2, 20);
    await flush();
    expect([a.state(), b.state(), c.state()]).toEqual(['resolved', 'resolved', 'pending']);
    expect(l.count).toBe(3);
    expect(l.bytes).toBe(30);
    expect(l.waiting).toBe(1);
    l.releaseMany(0, 0);
    await flush();
    expect(c.state()).toBe('pending');
    l.releaseMany(5, 500); // more than held: clamps at zero, like release()
    await flush();
    expect(c.state()).toBe('resolved');
    expect(l.count).toBe(1);
    expect(l.bytes).toBe(10);
  });
});
