import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The chaos tests last: they restart and pause the API server and the brokers, and the node's
 * watchers (endpointslice controller, kube-proxy, CoreDNS) come back on their own client-go
 * back-off, up to ~30 s later; a test right after them found new Services unreachable.
 */
class ChaosLast extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const chaos = (f: TestSpecification): boolean => f.moduleId.includes('/test/chaos/');
    return [...sorted.filter((f) => !chaos(f)), ...sorted.filter(chaos)];
  }
}

// Two projects: `unit` (pure logic, no services) and `integration` (the real local stack: tests
// reuse a stack that `npm run stack -- up` started, or the test command starts one).
export default defineConfig({
  test: {
    // Integration tests share one stack; files run one at a time so the 2-core machine is not oversubscribed.
    fileParallelism: false,
    sequence: { sequencer: ChaosLast },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['libs/*/test/*.test.ts', 'libs/*/test/unit/**/*.test.ts', 'services/*/test/unit/**/*.test.ts', 'test/stack/test/unit/**/*.test.ts', 'cli/test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          // The runtime contract suite: real runtime processes on 127.0.0.1, no stack needed.
          name: 'runtimes',
          include: ['runtimes/*/test/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'integration',
          // One process and one module registry for every file (they run one at a time anyway):
          // the SDKs and clients each file imports load once (collection 57 s -> 19 s, the test
          // command 1003 s -> 937 s on a fresh clone).
          pool: 'forks',
          poolOptions: { forks: { singleFork: true, isolate: false } },
          isolate: false,
          include: ['test/stack/test/integration/**/*.test.ts', 'services/*/test/integration/**/*.test.ts', 'libs/*/test/integration/**/*.test.ts', 'cli/test/integration/**/*.test.ts', 'test/chaos/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/helm/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 180_000,
          globalSetup: ['test/stack/test/global-setup.ts'],
        },
      },
    ],
  },
});
