import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Deadlines, InFlightEntry, SignalWatchers } from '../src/inflight.js';

/** An entry that records what happened to it, and when (fake time). */
class Entry extends InFlightEntry {
  readonly events: string[] = [];
  constructor(readonly name: string) {
    super();
  }
  expire(): void {
    this.events.push(`expired@${String(Math.round(performance.now()))}`);
  }
  abortBySignal(reason: unknown): void {
    this.events.push(`aborted:${String(reason)}`);
  }
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Deadlines', () => {
  it('expires each request at its own deadline, in the order they started, with one timer per timeout', () => {
    const d = new Deadlines();
    const a = new Entry('a');
    const b = new Entry('b');
    const c = new Entry('c');
    const t0 = performance.now();
    d.add(a, 100);
    vi.advanceTimersByTime(30);
    d.add(b, 100);
    vi.advanceTimersByTime(30);
    d.add(c, 100);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(39);
    expect([a, b, c].map((e) => e.events.length)).toEqual([0, 0, 0]);
    vi.advanceTimersByTime(1);
    expect(a.events).toEqual([`expired@${String(Math.round(t0 + 100))}`]);
    vi.advanceTimersByTime(30);
    expect(b.events).toEqual([`expired@${String(Math.round(t0 + 130))}`]);
    expect(c.events).toEqual([]);
    vi.advanceTimersByTime(30);
    expect(c.events).toEqual([`expired@${String(Math.round(t0 + 160))}`]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not expire a request that settled, and drops the timer with the last one', () => {
    const d = new Deadlines();
    const a = new Entry('a');
    const b = new Entry('b');
    d.add(a, 100);
    vi.advanceTimersByTime(50);
    d.add(b, 100);
    d.delete(a);
    // The oldest settled first: the timer armed for it fires early, finds b not due, and re-arms for b.
    vi.advanceTimersByTime(60);
    expect(a.events).toEqual([]);
    expect(b.events).toEqual([]);
    d.delete(b);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(b.events).toEqual([]);
    // Deleting twice (a settled request's clean-up after its expiry) is harmless.
    d.delete(b);
  });

  it('keeps requests with different timeouts apart: a short one behind a long one expires first', () => {
    const d = new Deadlines();
    const long = new Entry('long');
    const short = new Entry('short');
    d.add(long, 1000);
    d.add(short, 10);
    vi.advanceTimersByTime(10);
    expect(short.events).toHaveLength(1);
    expect(long.events).toHaveLength(0);
    vi.advanceTimersByTime(990);
    expect(long.events).toHaveLength(1);
  });

  it('an expiry that settles the next request does not expire it too', () => {
    const d = new Deadlines();
    const b = new Entry('b');
    const a = new (class extends Entry {
      override expire(): void {
        super.expire();
        d.delete(b);
      }
    })('a');
    d.add(a, 100);
    d.add(b, 100);
    vi.advanceTimersByTime(100);
    expect(a.events).toHaveLength(1);
    expect(b.events).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('SignalWatchers', () => {
  it('aborts every request in flight under a signal, none that settled, and listens only while some are', () => {
    const w = new SignalWatchers();
    const ac = new AbortController();
    const other = new AbortController();
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => new Entry(n)) as [Entry, Entry, Entry, Entry];
    w.add(ac.signal, a);
    w.add(ac.signal, b);
    w.add(other.signal, d);
    w.add(ac.signal, c);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);
    w.delete(b);
    ac.abort('stop');
    expect([a.events, b.events, c.events, d.events]).toEqual([['aborted:stop'], [], ['aborted:stop'], []]);
    // The aborted ones left the list: settling them afterwards changes nothing.
    w.delete(a);
    w.delete(c);
    w.delete(d);
    expect(getEventListeners(other.signal, 'abort')).toHaveLength(0);
  });

  it('removes the listener with the last request, and adds it again for the next', () => {
    const w = new SignalWatchers();
    const ac = new AbortController();
    const a = new Entry('a');
    w.add(ac.signal, a);
    w.delete(a);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    const b = new Entry('b');
    w.add(ac.signal, b);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);
    ac.abort('later');
    expect(a.events).toEqual([]);
    expect(b.events).toEqual(['aborted:later']);
  });
});

/**
 * Runs `fn` with `queueMicrotask` captured (a callback's error is rethrown in one: run, it would
 * end the test run); returns what was queued.
 */
function capturingMicrotasks(fn: () => void): (() => void)[] {
  const queued: (() => void)[] = [];
  const spy = vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((cb) => {
    queued.push(cb);
  });
  try {
    fn();
  } finally {
    spy.mockRestore();
  }
  return queued;
}

describe('a callback that throws', () => {
  it('does not keep the other requests of its list from expiring, nor the timer from re-arming; the error is rethrown on its own', () => {
    const queued = capturingMicrotasks(() => {
      const d = new Deadlines();
      const bad = new (class extends Entry {
        override expire(): void {
          throw new Error('callback bug');
        }
      })('bad');
      const good = new Entry('good');
      const later = new Entry('later');
      d.add(bad, 100);
      d.add(good, 100);
      vi.advanceTimersByTime(50);
      d.add(later, 100);
      vi.advanceTimersByTime(50);
      expect(good.events).toHaveLength(1);
      vi.advanceTimersByTime(50);
      expect(later.events).toHaveLength(1);
    });
    expect(queued).toHaveLength(1);
    expect(() => {
      queued[0]?.();
    }).toThrow('callback bug');
  });

  it('does not keep the other requests under an aborted signal from aborting', () => {
    const queued = capturingMicrotasks(() => {
      const w = new SignalWatchers();
      const ac = new AbortController();
      const bad = new (class extends Entry {
        override abortBySignal(): void {
          throw new Error('abort bug');
        }
      })('bad');
      const good = new Entry('good');
      w.add(ac.signal, good);
      w.add(ac.signal, bad);
      ac.abort('stop');
      expect(good.events).toEqual(['aborted:stop']);
    });
    expect(queued).toHaveLength(1);
    expect(() => {
      queued[0]?.();
    }).toThrow('abort bug');
  });
});
