/**
 * LeaderElector against the real API server, read back from the Lease itself: acquire, renew,
 * release to a waiting follower; lose when the Lease is overwritten and regain it once the other
 * holder's lease expires; and a leader cut off from the API server steps down before a follower
 * takes over (never two leaders).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, withNamespace } from '@kubeless/stack';
import { LeaderElector, type KubeClient, type KubeObject } from '../../src/index.js';
import type { LeadershipEnd } from '../../src/leader.js';
import { ApiProxy, adminClient, sleep, until } from './kit.js';

type Lease = KubeObject & { spec?: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number } };

const admin = adminClient('kubeless-kit-test/leader');
let ns: { name: string; cleanup: () => Promise<void> };
// A 3 s lease, renewed every 400 ms, given up 2 s after the last renewal started.
const TIMING = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 400 };

beforeAll(async () => {
  ns = await withNamespace('kit-leader');
});
afterAll(async () => {
  await ns.cleanup();
  admin.close();
});

const leasePath = (name: string): string => `/apis/coordination.k8s.io/v1/namespaces/${ns.name}/leases/${name}`;
const lease = (name: string): Promise<Lease> => admin.get<Lease>(leasePath(name));

interface Campaign {
  elector: LeaderElector;
  startedAt?: number;
  stopped?: { why: LeadershipEnd; at: number };
  done: Promise<void>;
  stop: () => Promise<void>;
}

function campaign(client: KubeClient, name: string, identity: string): Campaign {
  const ac = new AbortController();
  const elector = new LeaderElector(client, { namespace: ns.name, name, identity, ...TIMING });
  const c: Campaign = {
    elector,
    done: Promise.resolve(),
    stop: async () => {
      ac.abort();
      await c.done;
    },
  };
  c.done = elector.run(ac.signal, {
    onStarted: () => (c.startedAt = Date.now()),
    onStopped: (why) => (c.stopped = { why, at: Date.now() }),
  });
  return c;
}

describe('LeaderElector', () => {
  it('acquires a free Lease, renews it while a follower waits, and releases it on stop to the follower', async () => {
    const a = campaign(admin, 'handover', 'a');
    await until('a leads', () => a.elector.isLeader, 10_000);
    const first = await lease('handover');
    expect(first.spec).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 3, leaseTransitions: 0 });

    const b = campaign(admin, 'handover', 'b');
    await eventually('a renewed', async () => ((await lease('handover')).spec?.renewTime ?? '') > (first.spec?.renewTime ?? '') || undefined, 10_000);
    await sleep(1000);
    const renewed = await lease('handover');
    expect(renewed.spec?.holderIdentity).toBe('a');
    expect(renewed.spec?.acquireTime).toBe(first.spec?.acquireTime);
    expect(b.elector.isLeader).toBe(false);
    expect(b.startedAt).toBeUndefined();

    await a.stop();
    expect(a.stopped?.why).toBe('released');
    // Released: the follower need not wait out the lease duration.
    await until('b leads', () => b.elector.isLeader, 2500);
    expect((await lease('handover')).spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    await b.stop();
    expect((await lease('handover')).spec?.holderIdentity).toBe('');
  });

  it('loses the Lease when another holder overwrites it, and regains it once that holder stops renewing', async () => {
    const c = campaign(admin, 'overwrite', 'c');
    await until('c leads', () => c.elector.isLeader, 10_000);
    const held = await lease('overwrite');
    const now = new Date().toISOString().replace(/Z$/, '000Z');
    await admin.replace(leasePath('overwrite'), { ...held, spec: { ...held.spec, holderIdentity: 'intruder', acquireTime: now, renewTime: now, leaseTransitions: 1 } });

    await c.done;
    expect(c.stopped?.why).toBe('lost');
    expect(c.elector.isLeader).toBe(false);
    // It did not write over the new holder.
    expect((await lease('overwrite')).spec?.holderIdentity).toBe('intruder');

    // The intruder never renews: a new elector of the same identity takes the Lease once it expired.
    const takenAt = Date.now();
    const again = campaign(admin, 'overwrite', 'c');
    await until('c leads again', () => again.elector.isLeader, 10_000);
    expect(Date.now() - takenAt).toBeGreaterThanOrEqual(2500);
    expect((await lease('overwrite')).spec).toMatchObject({ holderIdentity: 'c', leaseTransitions: 2 });
    await again.stop();
  });

  it('a leader cut off from the API server steps down before a follower takes over', async () => {
    const proxy = new ApiProxy();
    await proxy.start();
    const cutOff = adminClient('kubeless-kit-test/leader-cut-off', proxy.kubeConfig());
    try {
      const d = campaign(cutOff, 'cut-off', 'd');
      await until('d leads', () => d.elector.isLeader, 10_000);
      const e = campaign(admin, 'cut-off', 'e');
      await sleep(500);
      await proxy.stop();

      await d.done;
      expect(d.stopped?.why).toBe('lost');
      await until('e leads', () => e.elector.isLeader, 10_000);
      // Never two leaders: d stepped down (renew deadline 2 s) before e took over (lease 3 s).
      expect(e.startedAt! - d.stopped!.at).toBeGreaterThan(0);
      expect((await lease('cut-off')).spec).toMatchObject({ holderIdentity: 'e', leaseTransitions: 1 });
      await e.stop();
    } finally {
      cutOff.close();
      await proxy.stop();
    }
  });
});
