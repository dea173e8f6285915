import { defineConfig } from 'vitest/config';

// Two projects: `unit` (pure logic, no services) and `integration` (the real local stack: tests
// reuse a stack that `npm run stack -- up` started, or the test command starts one).
export default defineConfig({
  test: {
    // Integration tests share one stack; files run one at a time so the 2-core machine is not oversubscribed.
    fileParallelism: false,
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
          // One module registry for every file (they run one at a time anyway): the SDKs and
          // clients each file imports load once, not 60 times (collection took ~50 s isolated).
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
