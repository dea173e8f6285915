import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CommitScheduler } from '../../src/runner/commit-scheduler.js';

/** A commit the test settles by hand, recording when each one started. */
class Commits {
  readonly started: number[] = [];
  readonly pending: { resolve: () => void; reject: (err: Error) => void }[] = [];
  commit = (): Promise<boolean> => {
    this.started.push(Date.now());
    return new Promise<boolean>((resolve, reject) => {
      this.pending.push({
        resolve: () => {
          resolve(true);
        },
        reject,
      });
    });
  };
  /** Settles the oldest commit on the wire and lets its continuation run. */
  async settle(err?: Error): Promise<void> {
    const p = this.pending.shift();
    if (!p) throw new Error('no commit on the wire');
    if (err) p.reject(err);
    else p.resolve();
    await vi.advanceTimersByTimeAsync(0);
  }
}

describe('CommitScheduler: when offsets are committed', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('starts a commit at most the interval after the first request, one for many requests', async () => {
    const c = new Commits();
    const s = new CommitScheduler({ intervalMs: 100, commit: c.commit });
    s.request();
    await vi.advanceTimersByTimeAsync(40);
    s.request();
    s.request();
    await vi.advanceTimersByTimeAsync(59);
    expect(c.started).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    // 100 ms after the first request, not after the last one.
    expect(c.started).toEqual([100]);
    await c.settle();
    // Nothing requested since: nothing more.
    await vi.advanceTimersByTimeAsync(1000);
    expect(c.started).toEqual([100]);
  });

  it('starts at once on an urgent request (a window waits for room)', async () => {
    const c = new Commits();
    const s = new CommitScheduler({ intervalMs: 100, commit: c.commit });
    await vi.advanceTimersByTimeAsync(7);
    s.request(true);
    expect(c.started).toEqual([7]);
    // The interval timer of an earlier plain request is not needed any more.
    await c.settle();
    await vi.advanceTimersByTimeAsync(500);
    expect(c.started).toEqual([7]);
  });

  it('keeps at most two commits on the wire; an urgent request waits for one to end, then goes at once', async () => {
    const c = new Commits();
    const s = new CommitScheduler({ intervalMs: 100, commit: c.commit });
    s.request(true);
    s.request(true);
    s.request(true);
    expect(c.started).toHaveLength(2);
    expect(s.inFlight).toBe(2);
    await vi.advanceTimersByTimeAsync(30);
    await c.settle();
    // The third request went as soon as the first commit ended.
    expect(c.started).toEqual([0, 0, 30]);
    await c.settle();
    await c.settle();
    expect(s.inFlight).toBe(0);
  });

  it('a request while a commit runs is committed within the interval after that', async () => {
    const c = new Commits();
    const s = new CommitScheduler({ intervalMs: 100, commit: c.commit, maxInFlight: 1 });
    s.request(true);
    await vi.advanceTimersByTimeAsync(10);
    s.request();
    await vi.advanceTimersByTimeAsync(90);
    // The timer fired at 110 but the only slot is busy: it goes when the commit ends.
    expect(c.started).toEqual([0]);
    await vi.advanceTimersByTimeAsync(50);
    await c.settle();
    expect(c.started).toEqual([0, 150]);
  });

  it('retries a failed commit after the retry delay, with whatever is marked then', async () => {
    const c = new Commits();
    const onError = vi.fn();
    const s = new CommitScheduler({ intervalMs: 100, commit: c.commit, retryDelayMs: 250, onError });
    s.request(true);
    await c.settle(new Error('REBALANCE_IN_PROGRESS'));
    expect(onError).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(249);
    expect(c.started).toEqual([0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(c.started).toEqual([0, 250]);
    await c.settle();
  });

  it('flush commits until nothing is marked nor on the wire, and gives up after its attempts', async () => {
    const c = new Commits();
    const s = new CommitScheduler({ intervalMs: 100, commit: c.commit });
    s.request(true);
    const flushed = s.flush(2);
    // The commit on the wire ends first, then the flush's own.
    await c.settle();
    expect(c.started).toHaveLength(2);
    await c.settle(new Error('lost'));
    expect(c.started).toHaveLength(3);
    await c.settle(new Error('lost again'));
    await expect(flushed).resolves.toBe(false);

    const ok = s.flush();
    await vi.advanceTimersByTimeAsync(0);
    await c.settle();
    await expect(ok).resolves.toBe(true);
  });

  it('does nothing after close, and close waits for the commit on the wire', async () => {
    const c = new Commits();
    const s = new CommitScheduler({ intervalMs: 100, commit: c.commit });
    s.request(true);
    let closed = false;
    void s.close().then(() => (closed = true));
    s.request(true);
    s.request();
    await vi.advanceTimersByTimeAsync(1000);
    expect(closed).toBe(false);
    expect(c.started).toHaveLength(1);
    await c.settle();
    expect(closed).toBe(true);
    expect(c.started).toHaveLength(1);
  });
});
