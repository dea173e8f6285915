import { createLogger } from '@kubeless/observability';
import { describe, expect, it, vi } from 'vitest';
import type { KubeClient } from '../src/kube-client.js';
import { replicaRunners } from '../src/runners.js';

const logger = createLogger({ name: 'runners-test', level: 'silent' });

interface Spec {
  key: string;
  namespace: string;
  secret?: string;
  version?: string;
}

/** A client that serves one Secret's data (SecretVersions reads it by name; it may not list or watch). */
const secretClient = (data: Record<string, string>): KubeClient => ({ get: () => Promise.resolve({ metadata: { name: 'creds' }, data }) }) as unknown as KubeClient;

describe('replicaRunners', () => {
  const setup = (planned: Spec[], log: string[] = []) => {
    const r = replicaRunners<Spec, object, { state: object; start(): Promise<void>; stop(): Promise<void> }>({
      name: 'test-runners',
      client: secretClient({ password: 'aGk=' }),
      logger,
      planned: () => planned,
      secretOf: (s) => s.secret,
      withSecretVersion: (s, version) => ({ ...s, version }),
      create: () => Promise.reject(new Error('not in this test')),
      idleState: {},
      sources: [],
      close: () => {
        log.push('close');
      },
    });
    // What it syncs, instead of runners (their lifecycle is supervisor.test.ts's).
    const synced: Spec[][] = [];
    vi.spyOn(r.supervisor, 'sync').mockImplementation((specs) => {
      synced.push(specs);
    });
    return { ...r, synced };
  };

  it('runs a spec on a Secret once the first read told its version, carrying it; a spec without one at once', async () => {
    const { runnable, synced } = setup([
      { key: 'ns/plain', namespace: 'ns' },
      { key: 'ns/empty', namespace: 'ns', secret: '' },
      { key: 'ns/creds', namespace: 'ns', secret: 'creds' },
    ]);
    expect(runnable.needLeaderElection).toBe(false);
    await runnable.start();
    expect(synced[0]?.map((s) => s.key)).toEqual(['ns/plain', 'ns/empty']);
    await vi.waitFor(() => {
      expect(synced.at(-1)?.map((s) => s.key)).toEqual(['ns/plain', 'ns/empty', 'ns/creds']);
    });
    const version = synced.at(-1)?.[2]?.version;
    expect(version).toMatch(/^[0-9a-f]{16}$/);
    expect(synced.at(-1)?.[0]).toEqual({ key: 'ns/plain', namespace: 'ns' });
    await runnable.stop();
  });

  it('on stop: the runners stop, then what they share closes', async () => {
    const log: string[] = [];
    const { runnable, supervisor } = setup([], log);
    const stop = supervisor.stop.bind(supervisor);
    vi.spyOn(supervisor, 'stop').mockImplementation(async () => {
      log.push('runners stopping');
      await stop();
      log.push('runners stopped');
    });
    await runnable.start();
    await runnable.stop();
    expect(log).toEqual(['runners stopping', 'runners stopped', 'close']);
  });
});
