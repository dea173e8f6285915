import { createLogger, createRegistry } from '@kubeless/observability';
import { describe, expect, it } from 'vitest';
import type { KubeClient } from '../src/kube-client.js';
import { Manager, type Runnable } from '../src/manager.js';

const logger = createLogger({ name: 'manager-test', level: 'silent' });

/** A runnable or controller that logs its calls. */
function part(log: string[], name: string, needLeaderElection = false): Runnable & { start(): void } {
  return {
    name,
    needLeaderElection,
    start: () => {
      log.push(`start ${name}`);
    },
    stop: async () => {
      await Promise.resolve();
      log.push(`stop ${name}`);
    },
  };
}

describe('Manager', () => {
  it('without leader election: controllers, then leader-only runnables, then the others; stops runnables in reverse order of adding, then controllers', async () => {
    const log: string[] = [];
    const manager = new Manager({ client: {} as KubeClient, logger, leaderElection: false });
    manager.add(part(log, 'consumers'));
    manager.addAll({ informers: [], controllers: [part(log, 'status')], runnables: [part(log, 'scheduler', true)] });
    await manager.start();
    expect(log).toEqual(['start status', 'start scheduler', 'start consumers']);

    log.length = 0;
    await Promise.all([manager.stop(), manager.stop()]);
    expect(log).toEqual(['stop scheduler', 'stop consumers', 'stop status']);
  });

  it('rejects its start when a runnable of every replica fails to start', async () => {
    const manager = new Manager({ client: {} as KubeClient, logger, leaderElection: false });
    manager.add({
      name: 'broken',
      needLeaderElection: false,
      start: () => Promise.reject(new Error('no broker')),
      stop: () => Promise.resolve(),
    });
    await expect(manager.start()).rejects.toThrow('no broker');
  });

  it("registers client-go's leader_election_master_status{name} on the registry with leader election (0 until it leads), not without", async () => {
    const registry = createRegistry({ defaultMetrics: false });
    new Manager({ client: {} as KubeClient, logger, registry, leaderElection: { namespace: 'ns', name: 'kafka-trigger', identity: 'a' } });
    expect(await registry.metrics()).toContain('leader_election_master_status{name="kafka-trigger"} 0');
    const single = createRegistry({ defaultMetrics: false });
    new Manager({ client: {} as KubeClient, logger, registry: single, leaderElection: false });
    expect(await single.metrics()).not.toContain('leader_election_master_status');
  });
});
