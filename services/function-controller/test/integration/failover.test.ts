/**
 * Two replicas of the function controller as real processes: exactly one leads (the Lease), the
 * follower writes nothing (checked in the API server's audit log), a SIGKILLed leader is replaced
 * within the lease duration, and a controller killed mid-reconcile converges after a restart.
 */
import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantLeases, stackEnv, withNamespace } from '@kubeless/stack';
import { createFunction, eventually, getFunction, getRaw, spawnController } from './harness.js';

/** Short, for a takeover within seconds in the first test. */
const LEASE = { LEASE_DURATION: '6s', LEASE_RENEW_DEADLINE: '4s', LEASE_RETRY_PERIOD: '1s' };
/**
 * For replica-b, which is alone once replica-a is killed: the chart's 15 s lease and 10 s renew
 * deadline, and the short retry period, so it still takes over within the first test's bound
 * (a follower waits out the duration the holder wrote in the Lease). With the short lease, a lone
 * replica starved of CPU beside another file (load average 36 on 2 cores measured) missed its 4 s
 * renew deadline (a renewal is a GET and a PUT, each 0.5-1 s late), stepped down and exited as
 * designed (code 1); with nothing to restart it, the burst never converged.
 */
const LONE = { LEASE_DURATION: '15s', LEASE_RENEW_DEADLINE: '10s', LEASE_RETRY_PERIOD: '1s' };
let ns: { name: string; cleanup: () => Promise<void> };
const replicas: Replica[] = [];

beforeAll(async () => {
  ns = await withNamespace('failover');
  // The replicas elect a leader with a Lease of this test's namespace (POD_NAMESPACE).
  await grantLeases('function-controller', ns.name);
});
afterAll(async () => {
  for (const r of replicas) r.kill();
  await ns.cleanup();
});

interface Replica {
  /** SIGKILLs its process; it is not started again. */
  kill: () => void;
  /** How often it exited by itself and was started again. */
  restarts: () => number;
}

/**
 * A replica as its Deployment runs it (restartPolicy Always): a process that exits by itself, as
 * it does after losing the Lease (code 1), is started again; only the test's SIGKILL ends it.
 */
function start(identity: string, lease: Record<string, string> = LEASE): Replica {
  let restarts = 0;
  let killed = false;
  let current: ChildProcess;
  const run = (): void => {
    const p = spawnController(ns.name, identity, { ...lease, LEADER_ELECT: 'true' });
    current = p;
    // Read its output: an unread pipe fills and then blocks the child's writes.
    p.stdout?.resume();
    p.stderr?.resume();
    p.once('exit', (code, signal) => {
      if (killed) return;
      restarts++;
      process.stdout.write(`[failover] ${identity} exited by itself (code ${String(code)}, signal ${String(signal)}); restarting it\n`);
      run();
    });
  };
  run();
  const replica: Replica = {
    kill: () => {
      killed = true;
      current.kill('SIGKILL');
    },
    restarts: () => restarts,
  };
  replicas.push(replica);
  return replica;
}

async function holder(): Promise<string | undefined> {
  const lease = await getRaw<{ spec?: { holderIdentity?: string } }>(`/apis/coordination.k8s.io/v1/namespaces/${ns.name}/leases/kubeless-function-controller`);
  return lease?.spec?.holderIdentity;
}

const fnSpec = (name: string) => ({
  metadata: { name },
  spec: { runtime: 'nodejs24', handler: 'index.hello', function: `module.exports = { hello: () => '${name}' }` },
});

async function converged(name: string): Promise<boolean> {
  const dep = await getRaw(`/apis/apps/v1/namespaces/${ns.name}/deployments/${name}`);
  if (!dep) return false;
  const fn = await getFunction(ns.name, name);
  return fn.status?.observedGeneration === 1 && fn.status.conditions?.some((c) => c.type === 'ConfigReady' && c.status === 'True') === true;
}

interface AuditEvent {
  verb: string;
  userAgent?: string;
  objectRef?: { namespace?: string; resource?: string; name?: string };
  stage: string;
}

/** Writes by one replica in `namespace` (replica names repeat when the suite runs twice on one stack). */
async function auditWrites(agentPart: string, namespace: string): Promise<AuditEvent[]> {
  const text = await readFile(stackEnv().AUDIT_LOG, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.includes(agentPart))
    .map((l) => JSON.parse(l) as AuditEvent)
    .filter((e) => e.stage === 'ResponseComplete' && e.objectRef?.namespace === namespace && ['create', 'update', 'patch', 'delete', 'deletecollection'].includes(e.verb));
}

describe('leader election', () => {
  it('has one leader; the follower writes nothing; the follower takes over when the leader is killed', async () => {
    const a = start('replica-a');
    await eventually('replica-a leads', async () => (await holder()) === 'replica-a', 30_000);
    start('replica-b', LONE);
    for (const n of ['one', 'two', 'three']) await createFunction(ns.name, fnSpec(n));
    for (const n of ['one', 'two', 'three']) await eventually(`${n} converged`, () => converged(n), 30_000);
    // Give the follower time to misbehave if it would.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await holder()).toBe('replica-a');

    const byA = await auditWrites(`kubeless-function-controller/replica-a`, ns.name);
    const byB = await auditWrites(`kubeless-function-controller/replica-b`, ns.name);
    expect(byA.filter((e) => e.objectRef?.resource === 'deployments').length).toBeGreaterThanOrEqual(3);
    expect(byA.filter((e) => e.objectRef?.resource === 'leases' && e.verb === 'update').length).toBeGreaterThan(0);
    expect(byB.map((e) => `${e.verb} ${e.objectRef?.resource ?? ''}/${e.objectRef?.name ?? ''}`)).toEqual([]);

    const killedAt = Date.now();
    a.kill();
    await eventually('replica-b leads', async () => (await holder()) === 'replica-b', 20_000);
    const takeover = Date.now() - killedAt;
    // The follower waits for the lease (6 s) to pass unrenewed, checking every retry period (1 s).
    expect(takeover).toBeLessThan(6000 + 2 * 1000 + 1000);
    process.stdout.write(`[failover] takeover ${String(takeover)} ms after SIGKILL (lease 6 s)\n`);

    await createFunction(ns.name, fnSpec('after-failover'));
    await eventually('reconciled by the new leader', () => converged('after-failover'), 30_000);
  });

  it('converges after a SIGKILL mid-reconcile and a restart', async () => {
    const names = Array.from({ length: 40 }, (_, i) => `burst-${String(i)}`);
    await Promise.all(names.map((n) => createFunction(ns.name, fnSpec(n))));
    // Kill as soon as the first children appear: the rest is in flight or queued.
    await eventually('first child', async () => (await getRaw(`/apis/apps/v1/namespaces/${ns.name}/deployments/burst-0`)) !== undefined, 30_000);
    // The leader (replica-b: the only one left).
    for (const r of replicas) r.kill();
    const done = (await Promise.all(names.map(converged))).filter(Boolean).length;
    process.stdout.write(`[failover] ${String(done)}/${String(names.length)} converged when killed\n`);
    start('replica-b', LONE);
    for (const n of names) await eventually(`${n} converged after restart`, () => converged(n), 60_000);
    const restarts = replicas.reduce((n, r) => n + r.restarts(), 0);
    process.stdout.write(`[failover] all converged after the restart (replicas restarted after exiting by themselves: ${String(restarts)})\n`);
  });
});
