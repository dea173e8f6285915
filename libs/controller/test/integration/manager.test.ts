/**
 * The Manager's runnables against a real Lease: runnables of every replica run on followers too,
 * leader-only ones only on the Lease holder; a stop drains the runnables while the Lease is still
 * held and releases it after; a lost Lease aborts the leader-only runnables at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, createRegistry, type Registry } from '@kubeless/observability';
import { withNamespace } from '@kubeless/stack';
import { Manager, type KubeObject, type Runnable } from '../../src/index.js';
import { adminClient, until } from './kit.js';

type Lease = KubeObject & { spec?: { holderIdentity?: string; acquireTime?: string; renewTime?: string; leaseTransitions?: number } };

const admin = adminClient('kubeless-kit-test/manager');
const logger = createLogger({ name: 'manager-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });
let ns: { name: string; cleanup: () => Promise<void> };
const TIMING = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 400 };

beforeAll(async () => {
  ns = await withNamespace('kit-manager');
});
afterAll(async () => {
  await ns.cleanup();
  admin.close();
});

const leasePath = (name: string): string => `/apis/coordination.k8s.io/v1/namespaces/${ns.name}/leases/${name}`;
const holder = async (name: string): Promise<string | undefined> => (await admin.get<Lease>(leasePath(name))).spec?.holderIdentity;

interface Replica {
  manager: Manager;
  registry: Registry;
  log: string[];
  lost: boolean;
}

/** A replica with one runnable of each kind; the leader-only one notes the Lease holder when it stops. */
function replica(lease: string, identity: string): Replica {
  const r: Replica = { manager: undefined as unknown as Manager, registry: createRegistry({ defaultMetrics: false }), log: [], lost: false };
  r.manager = new Manager({
    client: admin,
    logger,
    registry: r.registry,
    leaderElection: { namespace: ns.name, name: lease, identity, ...TIMING },
    onLostLeadership: () => {
      r.lost = true;
    },
  });
  const everywhere: Runnable = {
    name: 'consumers',
    needLeaderElection: false,
    start: () => {
      r.log.push('start consumers');
    },
    stop: () => {
      r.log.push('stop consumers');
      return Promise.resolve();
    },
  };
  const leaderOnly: Runnable = {
    name: 'scheduler',
    needLeaderElection: true,
    start: () => {
      r.log.push('start scheduler');
    },
    stop: async () => {
      r.log.push(`stop scheduler (Lease held by ${(await holder(lease)) ?? 'nobody'})`);
    },
    abort: () => {
      r.log.push('abort scheduler');
    },
  };
  r.manager.add(everywhere);
  r.manager.add(leaderOnly);
  return r;
}

/** client-go's `leader_election_master_status{name}` as the replica's /metrics prints it. */
const masterStatus = async (r: Replica, lease: string): Promise<string | undefined> => new RegExp(`^leader_election_master_status\\{name="${lease}"\\} (\\d+)$`, 'm').exec(await r.registry.metrics())?.[1];

describe('Manager with leader election', () => {
  it('runs leader-only runnables on the Lease holder alone, and drains them before it releases the Lease', async () => {
    const a = replica('handover', 'a');
    await a.manager.start();
    await until('a leads', () => a.log.includes('start scheduler'), 10_000);
    const b = replica('handover', 'b');
    await b.manager.start();
    expect(b.log).toEqual(['start consumers']);
    expect(await masterStatus(a, 'handover')).toBe('1');
    expect(await masterStatus(b, 'handover')).toBe('0');

    await a.manager.stop();
    expect(a.log).toEqual(['start consumers', 'start scheduler', 'stop scheduler (Lease held by a)', 'stop consumers']);
    expect(a.lost).toBe(false);
    // Released: the follower takes over without waiting out the lease duration.
    await until('b leads', () => b.log.includes('start scheduler'), 2500);
    expect(await masterStatus(a, 'handover')).toBe('0');
    expect(await masterStatus(b, 'handover')).toBe('1');
    await b.manager.stop();
    expect(await holder('handover')).toBe('');
  });

  it('aborts the leader-only runnables at once when the Lease is lost, then calls onLostLeadership', async () => {
    const c = replica('lost', 'c');
    await c.manager.start();
    await until('c leads', () => c.log.includes('start scheduler'), 10_000);
    const held = await admin.get<Lease>(leasePath('lost'));
    const now = new Date().toISOString().replace(/Z$/, '000Z');
    await admin.replace(leasePath('lost'), { ...held, spec: { ...held.spec, holderIdentity: 'intruder', acquireTime: now, renewTime: now, leaseTransitions: 1 } });

    await until('c lost the Lease', () => c.lost, 10_000);
    expect(c.log).toEqual(['start consumers', 'start scheduler', 'abort scheduler']);
    await c.manager.stop();
    expect(await holder('lost')).toBe('intruder');
  });
});
