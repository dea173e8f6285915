import { Writable } from 'node:stream';
import { createLogger } from '@kubeless/observability';
import { describe, expect, it, vi } from 'vitest';
import { Supervisor } from '../src/supervisor.js';

/** A spec whose `targets` a runner may take in place; any other change needs a restart. */
interface Spec {
  key: string;
  queue: string;
  targets: string[];
}
const spec = (targets: string[], queue = 'q'): Spec => ({ key: 'ns/t', queue, targets });

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** A runner that takes a change of targets in place (when it has `reconfigure` at all). */
class FakeRunner {
  readonly state = { running: false, targets: [] as string[] };
  readonly calls: string[] = [];
  startGate: Promise<void> | undefined;
  startError: Error | undefined;
  throwOnReconfigure = false;
  constructor(
    public spec: Spec,
    readonly id: number,
    readonly log: string[],
  ) {
    this.state.targets = spec.targets;
  }
  async start(): Promise<void> {
    this.log.push(`start-begin #${String(this.id)}`);
    if (this.startGate) await this.startGate;
    if (this.startError) throw this.startError;
    this.state.running = true;
    this.log.push(`started #${String(this.id)}`);
  }
  stop(): Promise<void> {
    this.log.push(`stopped #${String(this.id)}`);
    this.state.running = false;
    return Promise.resolve();
  }
  reconfigure(next: Spec): boolean {
    this.log.push(`reconfigure #${String(this.id)} [${next.targets.join(',')}]`);
    if (this.throwOnReconfigure) throw new Error('boom');
    if (next.queue !== this.spec.queue) return false;
    this.spec = next;
    this.state.targets = next.targets;
    return true;
  }
}

/** The same runner without `reconfigure`: every change restarts it. */
class PlainRunner {
  readonly state = { running: false, targets: [] as string[] };
  constructor(
    readonly spec: Spec,
    readonly id: number,
    readonly log: string[],
  ) {}
  start(): Promise<void> {
    this.state.running = true;
    this.log.push(`started #${String(this.id)}`);
    return Promise.resolve();
  }
  stop(): Promise<void> {
    this.log.push(`stopped #${String(this.id)}`);
    return Promise.resolve();
  }
}

function harness<R extends FakeRunner | PlainRunner>(make: (s: Spec, id: number, log: string[]) => R) {
  const log: string[] = [];
  const messages: string[] = [];
  const created: R[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim() !== '') messages.push((JSON.parse(l) as { msg: string }).msg);
      cb();
    },
  });
  const sup = new Supervisor<Spec, { running: boolean; targets: string[] }, R>({
    create: (s) => {
      const r = make(s, created.length + 1, log);
      created.push(r);
      return Promise.resolve(r);
    },
    logger: createLogger({ name: 'supervisor-test', level: 'info', destination }),
    idleState: { running: false, targets: [] },
  });
  return { sup, log, messages, created };
}

/** FakeRunners, the first of which starts only once `gate` resolves. */
const gatedFirst = (gate: Promise<void>) => (s: Spec, id: number, log: string[]): FakeRunner => {
  const r = new FakeRunner(s, id, log);
  if (id === 1) r.startGate = gate;
  return r;
};

describe('Supervisor: a changed spec offered in place', () => {
  it('a runner that takes the change keeps running: no stop, no start; its spec and hash are the new ones', async () => {
    const h = harness((s, id, log) => new FakeRunner(s, id, log));
    h.sup.sync([spec(['foo'])]);
    await h.sup.idle();
    h.sup.sync([spec(['bar', 'foo'])]);
    await h.sup.idle();
    expect(h.created).toHaveLength(1);
    expect(h.log).toEqual(['start-begin #1', 'started #1', 'reconfigure #1 [bar,foo]']);
    expect(h.sup.states().get('ns/t')).toEqual({ running: true, targets: ['bar', 'foo'], error: undefined });
    expect(h.sup.state('ns/t')).toEqual(h.sup.states().get('ns/t'));
    expect(h.sup.state('ns/none')).toBeUndefined();
    expect(h.messages).toEqual(['runner started', 'runner reconfigured']);
    // The new spec is the one it runs: the same desired set again is nothing to do.
    h.sup.sync([spec(['bar', 'foo'])]);
    await h.sup.idle();
    expect(h.log).toHaveLength(3);
    // And the next change is compared with it (offered again, in place again).
    h.sup.sync([spec(['foo'])]);
    await h.sup.idle();
    expect(h.log.slice(3)).toEqual(['reconfigure #1 [foo]']);
    expect(h.created).toHaveLength(1);
  });

  it('a runner that refuses the change is restarted: the old one stops before the new one starts', async () => {
    const h = harness((s, id, log) => new FakeRunner(s, id, log));
    h.sup.sync([spec(['foo'])]);
    await h.sup.idle();
    h.sup.sync([spec(['foo'], 'other-queue')]);
    await h.sup.idle();
    expect(h.log).toEqual(['start-begin #1', 'started #1', 'reconfigure #1 [foo]', 'stopped #1', 'start-begin #2', 'started #2']);
    expect(h.created[1]?.spec.queue).toBe('other-queue');
    expect(h.messages).toEqual(['runner started', 'stopping runner', 'runner started']);
    expect(h.sup.states().get('ns/t')?.running).toBe(true);
    // The restarted runner's spec is the one compared with from now on.
    h.sup.sync([spec(['foo'], 'other-queue')]);
    await h.sup.idle();
    expect(h.created).toHaveLength(2);
  });

  it('a runner without reconfigure is restarted, as before', async () => {
    const h = harness((s, id, log) => new PlainRunner(s, id, log));
    h.sup.sync([spec(['foo'])]);
    await h.sup.idle();
    h.sup.sync([spec(['bar', 'foo'])]);
    await h.sup.idle();
    expect(h.log).toEqual(['started #1', 'stopped #1', 'started #2']);
  });

  it('a reconfigure that throws counts as refused: the runner is restarted', async () => {
    const h = harness((s, id, log) => new FakeRunner(s, id, log));
    h.sup.sync([spec(['foo'])]);
    await h.sup.idle();
    const first = h.created[0];
    if (first) first.throwOnReconfigure = true;
    h.sup.sync([spec(['bar', 'foo'])]);
    await h.sup.idle();
    expect(h.log).toEqual(['start-begin #1', 'started #1', 'reconfigure #1 [bar,foo]', 'stopped #1', 'start-begin #2', 'started #2']);
    expect(h.created[1]?.spec.targets).toEqual(['bar', 'foo']);
  });

  it('a change during the start is offered once the start finished, never during it', async () => {
    const gate = deferred();
    const h = harness(gatedFirst(gate.promise));
    h.sup.sync([spec(['foo'])]);
    await vi.waitFor(() => {
      expect(h.log).toEqual(['start-begin #1']);
    });
    // The runner is made and starting: the change waits for the start.
    h.sup.sync([spec(['bar', 'foo'])]);
    await new Promise((r) => setTimeout(r, 20));
    expect(h.log).toEqual(['start-begin #1']);
    gate.resolve();
    await h.sup.idle();
    expect(h.log).toEqual(['start-begin #1', 'started #1', 'reconfigure #1 [bar,foo]']);
    expect(h.created).toHaveLength(1);
  });

  it('a change queued behind a start that fails starts a new runner with it at once', async () => {
    const gate = deferred();
    const h = harness((s, id, log) => {
      const r = gatedFirst(gate.promise)(s, id, log);
      if (id === 1) r.startError = new Error('queue unreachable');
      return r;
    });
    h.sup.sync([spec(['foo'])]);
    await vi.waitFor(() => {
      expect(h.log).toEqual(['start-begin #1']);
    });
    h.sup.sync([spec(['bar', 'foo'])]);
    gate.resolve();
    await h.sup.idle();
    expect(h.log).toEqual(['start-begin #1', 'start-begin #2', 'started #2']);
    expect(h.created[1]?.spec.targets).toEqual(['bar', 'foo']);
    expect(h.sup.states().get('ns/t')).toEqual({ running: true, targets: ['bar', 'foo'], error: undefined });
  });

  it('several changes before the runner is free: only the latest is offered', async () => {
    const gate = deferred();
    const h = harness(gatedFirst(gate.promise));
    h.sup.sync([spec(['foo'])]);
    await vi.waitFor(() => {
      expect(h.log).toEqual(['start-begin #1']);
    });
    h.sup.sync([spec(['bar', 'foo'])]);
    h.sup.sync([spec(['bar', 'baz', 'foo'])]);
    gate.resolve();
    await h.sup.idle();
    expect(h.log).toEqual(['start-begin #1', 'started #1', 'reconfigure #1 [bar,baz,foo]']);
    // Changed and changed back before it was free: nothing to offer.
    h.sup.sync([spec(['foo'])]);
    h.sup.sync([spec(['bar', 'baz', 'foo'])]);
    await h.sup.idle();
    expect(h.log).toHaveLength(3);
  });

  it('removed while a change is queued: stopped, and the change never offered', async () => {
    const gate = deferred();
    const h = harness(gatedFirst(gate.promise));
    h.sup.sync([spec(['foo'])]);
    await vi.waitFor(() => {
      expect(h.log).toEqual(['start-begin #1']);
    });
    h.sup.sync([spec(['bar', 'foo'])]);
    h.sup.sync([]);
    gate.resolve();
    await h.sup.idle();
    expect(h.log).toEqual(['start-begin #1', 'started #1', 'stopped #1']);
    expect(h.sup.states().size).toBe(0);
  });

  it('stopAll with a change queued stops the runner and offers nothing', async () => {
    const h = harness((s, id, log) => new FakeRunner(s, id, log));
    h.sup.sync([spec(['foo'])]);
    await h.sup.idle();
    h.sup.sync([spec(['bar', 'foo'])]);
    await h.sup.stopAll();
    expect(h.log).toEqual(['start-begin #1', 'started #1', 'stopped #1']);
    expect(h.sup.states().size).toBe(0);
  });
});
