import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '@kubeless/observability';
import { Supervisor } from '../src/supervisor.js';

const logger = createLogger({ name: 'supervisor-follow-test', level: 'silent' });

/** A change source like an Informer: handlers per event, fired by hand. */
class Source {
  readonly handlers: (() => void)[] = [];
  on(_event: 'add' | 'update' | 'delete', handler: () => void): void {
    this.handlers.push(handler);
  }
  change(): void {
    for (const h of this.handlers) h();
  }
}

describe('Supervisor following the caches', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const setup = () => {
    const synced: string[][] = [];
    let want = ['a'];
    const sources = [new Source(), new Source()];
    const s = new Supervisor<{ key: string }, object, { state: object; start(): Promise<void>; stop(): Promise<void> }>({
      create: () => Promise.reject(new Error('not in this test')),
      logger,
      idleState: {},
      desired: () => want.map((key) => ({ key })),
      sources,
      syncIntervalMs: 1000,
      debounceMs: 50,
    });
    // What it syncs, instead of runners (their lifecycle is supervisor.test.ts's).
    vi.spyOn(s, 'sync').mockImplementation((specs) => {
      synced.push(specs.map((x) => x.key));
    });
    return { s, synced, sources, setWant: (w: string[]) => (want = w) };
  };

  it('syncs nothing before start, at once on start, and once per burst of changes', () => {
    const { s, synced, sources, setWant } = setup();
    sources[0]?.change();
    vi.advanceTimersByTime(100);
    expect(synced).toEqual([]);
    s.start();
    s.start();
    expect(synced).toEqual([['a']]);
    setWant(['a', 'b']);
    sources[0]?.change();
    sources[1]?.change();
    sources[0]?.change();
    vi.advanceTimersByTime(49);
    expect(synced).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(synced).toEqual([['a'], ['a', 'b']]);
  });

  it('syncs on its interval without changes, and stops for good on stop', () => {
    const { s, synced, sources } = setup();
    s.start();
    s.start();
    vi.advanceTimersByTime(3000);
    // At start, then at 1 s, 2 s and 3 s: one interval though start ran twice.
    expect(synced).toHaveLength(4);
    sources[1]?.change();
    void s.stop();
    vi.advanceTimersByTime(5000);
    expect(synced).toHaveLength(4);
  });
});
