import { resolveDelivery } from '@kubeless/api';
import { createLogger } from '@kubeless/observability';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ConsumerSpec } from '../../src/plan.js';
import type { TriggerConsumer } from '../../src/runner/consumer.js';
import { Supervisor } from '@kubeless/controller';

const logger = createLogger({ name: 'supervisor-test', level: 'silent' });

const spec = (fn: string, topics: string[] = ['orders']): ConsumerSpec => ({
  key: `ns1/t1/${fn}`,
  namespace: 'ns1',
  trigger: 't1',
  function: fn,
  groupId: `kubeless.ns1.t1.${fn}`,
  topics,
  fromBeginning: false,
  delivery: resolveDelivery(undefined, 180_000),
  connection: { brokers: ['kafka:9092'], credentials: 'shared' },
});

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
}
function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** What the fake of one key does next; consumed per start/stop. */
interface Behaviour {
  /** Start waits for this before resolving. */
  startGate?: Promise<void>;
  startError?: Error;
  createError?: Error;
  stopDelayMs?: number;
}

/** A stand-in for TriggerConsumer: the supervisor only calls start/stop and reads state and spec. */
class FakeConsumer {
  readonly state = { running: false, joined: false };
  starts = 0;
  stops = 0;
  constructor(
    readonly spec: ConsumerSpec,
    readonly id: number,
    readonly log: string[],
    readonly behaviour: Behaviour,
  ) {}

  async start(): Promise<void> {
    this.starts++;
    this.log.push(`start-begin ${this.spec.function}#${String(this.id)}`);
    if (this.behaviour.startGate) await this.behaviour.startGate;
    if (this.behaviour.startError) throw this.behaviour.startError;
    this.state.running = true;
    this.state.joined = true;
    this.log.push(`started ${this.spec.function}#${String(this.id)}`);
  }

  async stop(): Promise<void> {
    this.stops++;
    this.log.push(`stop-begin ${this.spec.function}#${String(this.id)}`);
    if (this.behaviour.stopDelayMs) await new Promise((r) => setTimeout(r, this.behaviour.stopDelayMs));
    this.state.running = false;
    this.state.joined = false;
    this.log.push(`stopped ${this.spec.function}#${String(this.id)}`);
  }
}

function harness(retryAfterMs?: number) {
  const log: string[] = [];
  const created: FakeConsumer[] = [];
  /** Behaviours queued per function name; the last one sticks. */
  const plans = new Map<string, Behaviour[]>();
  const next = (fn: string): Behaviour => {
    const list = plans.get(fn) ?? [];
    return (list.length > 1 ? list.shift() : list[0]) ?? {};
  };
  const create = (s: ConsumerSpec): Promise<TriggerConsumer> => {
    const b = next(s.function);
    if (b.createError) return Promise.reject(b.createError);
    // Numbered per function: `a#2` is the second consumer made for function a.
    const c = new FakeConsumer(s, created.filter((x) => x.spec.function === s.function).length + 1, log, b);
    created.push(c);
    return Promise.resolve(c as unknown as TriggerConsumer);
  };
  const sup = new Supervisor({ create, logger, idleState: { running: false, joined: false }, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
  const of = (fn: string): FakeConsumer[] => created.filter((c) => c.spec.function === fn);
  return { sup, log, created, plans, of };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('ConsumerSupervisor', () => {
  it('starts every new consumer once and reports their state', async () => {
    const h = harness();
    h.sup.sync([spec('a'), spec('b')]);
    await h.sup.idle();
    expect(h.created.map((c) => c.spec.function).sort()).toEqual(['a', 'b']);
    for (const c of h.created) expect(c.starts).toBe(1);
    expect(h.sup.states()).toEqual(
      new Map([
        ['ns1/t1/a', { running: true, joined: true, error: undefined }],
        ['ns1/t1/b', { running: true, joined: true, error: undefined }],
      ]),
    );
    // The same desired set again (a fresh but equal object, keys in another order): nothing to do.
    const same = spec('a');
    h.sup.sync([{ ...same, connection: { brokers: ['kafka:9092'], credentials: 'shared' }, topics: ['orders'] }, spec('b')]);
    await h.sup.idle();
    expect(h.created).toHaveLength(2);
    expect(h.created.every((c) => c.stops === 0)).toBe(true);
  });

  it('stops consumers no longer desired and keeps the others', async () => {
    const h = harness();
    h.sup.sync([spec('a'), spec('b')]);
    await h.sup.idle();
    h.sup.sync([spec('a')]);
    await h.sup.idle();
    expect(h.of('b')[0]?.stops).toBe(1);
    expect(h.of('a')[0]?.stops).toBe(0);
    expect([...h.sup.states().keys()]).toEqual(['ns1/t1/a']);
    h.sup.sync([]);
    await h.sup.idle();
    expect(h.of('a')[0]?.stops).toBe(1);
    expect(h.sup.states().size).toBe(0);
  });

  it('restarts a changed consumer: the old one stops before the new one starts', async () => {
    const h = harness();
    h.plans.set('a', [{ stopDelayMs: 30 }, {}]);
    h.sup.sync([spec('a', ['orders'])]);
    await h.sup.idle();
    h.sup.sync([spec('a', ['orders', 'refunds'])]);
    await h.sup.idle();
    const [first, second] = h.of('a');
    expect(first?.spec.topics).toEqual(['orders']);
    expect(second?.spec.topics).toEqual(['orders', 'refunds']);
    expect(first?.stops).toBe(1);
    expect(second?.stops).toBe(0);
    expect(h.log).toEqual(['start-begin a#1', 'started a#1', 'stop-begin a#1', 'stopped a#1', 'start-begin a#2', 'started a#2']);
    expect(h.sup.states().get('ns1/t1/a')?.running).toBe(true);
  });

  it('a start that hangs does not delay other keys', async () => {
    const h = harness();
    const gate = deferred();
    h.plans.set('slow', [{ startGate: gate.promise }]);
    h.sup.sync([spec('slow'), spec('b')]);
    await vi.waitFor(() => {
      expect(h.of('b')[0]?.state.running).toBe(true);
    });
    // Removing b and adding c also proceed while `slow` is still starting.
    h.sup.sync([spec('slow'), spec('c')]);
    await vi.waitFor(() => {
      expect(h.of('b')[0]?.stops).toBe(1);
      expect(h.of('c')[0]?.state.running).toBe(true);
    });
    expect(h.of('slow')[0]?.state.running).toBe(false);
    expect(h.log).not.toContain('started slow#1');
    gate.resolve();
    await h.sup.idle();
    expect(h.of('slow')[0]?.state.running).toBe(true);
  });

  it('a start in progress is not started twice by another sync', async () => {
    const h = harness();
    const gate = deferred();
    h.plans.set('a', [{ startGate: gate.promise }]);
    h.sup.sync([spec('a')]);
    await vi.waitFor(() => {
      expect(h.log).toContain('start-begin a#1');
    });
    h.sup.sync([spec('a')]);
    h.sup.sync([spec('a')]);
    gate.resolve();
    await h.sup.idle();
    expect(h.created).toHaveLength(1);
  });

  it('a consumer removed while starting is stopped once its start finished', async () => {
    const h = harness();
    const gate = deferred();
    h.plans.set('a', [{ startGate: gate.promise }]);
    h.sup.sync([spec('a')]);
    await vi.waitFor(() => {
      expect(h.log).toContain('start-begin a#1');
    });
    h.sup.sync([]);
    await new Promise((r) => setTimeout(r, 20));
    expect(h.of('a')[0]?.stops).toBe(0);
    gate.resolve();
    await h.sup.idle();
    expect(h.of('a')[0]?.stops).toBe(1);
    expect(h.of('a')[0]?.state.running).toBe(false);
    expect(h.log).toEqual(['start-begin a#1', 'started a#1', 'stop-begin a#1', 'stopped a#1']);
    expect(h.sup.states().size).toBe(0);
  });

  it('removed and re-added while starting: the first is stopped, a second one runs', async () => {
    const h = harness();
    const gate = deferred();
    h.plans.set('a', [{ startGate: gate.promise }, {}]);
    h.sup.sync([spec('a')]);
    await vi.waitFor(() => {
      expect(h.log).toContain('start-begin a#1');
    });
    h.sup.sync([]);
    h.sup.sync([spec('a')]);
    gate.resolve();
    await h.sup.idle();
    const [first, second] = h.of('a');
    expect(first?.stops).toBe(1);
    expect(second?.state.running).toBe(true);
    expect(h.log.indexOf('stopped a#1')).toBeLessThan(h.log.indexOf('start-begin a#2'));
  });

  it.each<[string, Behaviour]>([
    ['start rejects', { startError: new Error('broker unreachable') }],
    ['the factory rejects', { createError: new Error('secret kafka-auth not found') }],
  ])('a failed start (%s) is retried only after retryAfterMs', async (_name, failure) => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2024-01-01T00:00:00Z'));
    const h = harness(10_000);
    h.plans.set('a', [failure, {}]);
    h.sup.sync([spec('a')]);
    await h.sup.idle();
    const state = h.sup.states().get('ns1/t1/a');
    expect(state?.running).toBe(false);
    expect(state?.error).toBe(failure.startError?.message ?? failure.createError?.message);
    const attemptsAfterFirst = h.created.length;

    vi.setSystemTime(new Date('2024-01-01T00:00:09.999Z'));
    h.sup.sync([spec('a')]);
    await h.sup.idle();
    expect(h.created).toHaveLength(attemptsAfterFirst);

    vi.setSystemTime(new Date('2024-01-01T00:00:10.000Z'));
    h.sup.sync([spec('a')]);
    await h.sup.idle();
    expect(h.created).toHaveLength(attemptsAfterFirst + 1);
    expect(h.sup.states().get('ns1/t1/a')).toEqual({ running: true, joined: true, error: undefined });
  });

  it('a failed consumer whose spec changes starts again at once', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2024-01-01T00:00:00Z'));
    const h = harness(60_000);
    h.plans.set('a', [{ startError: new Error('boom') }, {}]);
    h.sup.sync([spec('a', ['orders'])]);
    await h.sup.idle();
    h.sup.sync([spec('a', ['payments'])]);
    await h.sup.idle();
    expect(h.of('a')).toHaveLength(2);
    expect(h.of('a')[1]?.state.running).toBe(true);
  });

  it('stopAll stops every consumer, including one still starting, and waits for all', async () => {
    const h = harness();
    const gate = deferred();
    h.plans.set('a', [{ stopDelayMs: 40 }]);
    h.plans.set('b', [{ stopDelayMs: 10 }]);
    h.plans.set('slow', [{ startGate: gate.promise }]);
    h.sup.sync([spec('a'), spec('b'), spec('slow')]);
    await vi.waitFor(() => {
      expect(h.of('a')[0]?.state.running).toBe(true);
      expect(h.of('b')[0]?.state.running).toBe(true);
      expect(h.log).toContain('start-begin slow#1');
    });
    let done = false;
    const all = h.sup.stopAll().then(() => {
      done = true;
    });
    await vi.waitFor(() => {
      expect(h.of('a')[0]?.state.running).toBe(false);
      expect(h.of('b')[0]?.state.running).toBe(false);
    });
    // a and b are stopped, but `slow` has not finished starting: stopAll still waits.
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false);
    gate.resolve();
    await all;
    expect(done).toBe(true);
    for (const c of h.created) {
      expect(c.stops).toBe(1);
      expect(c.state.running).toBe(false);
    }
    expect(h.sup.states().size).toBe(0);
  });

  it('a failing stop is absorbed and does not block the key', async () => {
    const h = harness();
    h.sup.sync([spec('a')]);
    await h.sup.idle();
    const first = h.of('a')[0];
    if (first) first.stop = () => Promise.reject(new Error('leave failed'));
    h.sup.sync([]);
    await h.sup.idle();
    h.sup.sync([spec('a')]);
    await h.sup.idle();
    expect(h.of('a')).toHaveLength(2);
    expect(h.of('a')[1]?.state.running).toBe(true);
  });
});
