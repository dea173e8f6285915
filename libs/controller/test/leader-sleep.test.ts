import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sleepUnlessAborted } from '../src/leader.js';

describe('sleepUnlessAborted (the leader elector between attempts)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('leaves no abort listener behind, however many retry periods it sleeps on one signal', async () => {
    const ac = new AbortController();
    for (let i = 0; i < 50; i++) {
      const slept = sleepUnlessAborted(2000, ac.signal);
      await vi.advanceTimersByTimeAsync(2000);
      await slept;
    }
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('wakes at once on abort, and does not sleep on an aborted signal', async () => {
    const ac = new AbortController();
    let woke = false;
    const slept = sleepUnlessAborted(60_000, ac.signal).then(() => (woke = true));
    await vi.advanceTimersByTimeAsync(10);
    expect(woke).toBe(false);
    ac.abort();
    await slept;
    expect(woke).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    await sleepUnlessAborted(60_000, ac.signal);
    expect(vi.getTimerCount()).toBe(0);
  });
});
