import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Files that must have the stack to themselves run last, one at a time (the `integration-serial`
 * project):
 * - the chaos tests restart and pause the API server and the brokers, and the node's watchers
 *   (endpointslice controller, kube-proxy, CoreDNS) come back on their own client-go back-off, up
 *   to ~30 s later: a test beside or after them found new Services unreachable;
 * - the lifecycle test starts and stops a second whole stack against its 60 s deadline;
 * - the CLI runaway test holds a pod to "the next call is served within 5 s" (8.3 s beside
 *   another file).
 */
const SERIAL = ['test/chaos/**/*.test.ts', 'test/stack/test/integration/lifecycle.test.ts', 'cli/test/integration/runaway.test.ts'];

/**
 * Files that mostly wait on the wall clock (real minute boundaries, autoscaling cool-downs), with
 * little work of their own:
 * they run in the `integration-clock` project, on a pool of their own (threads), beside the two
 * forks of `integration` instead of holding one of them (vitest runs the pools of a group side by
 * side; the cronjob file alone held a fork for two minutes).
 */
const CLOCK = ['services/cronjob-trigger/test/integration/schedule.test.ts', 'test/e2e/autoscaling.test.ts'];

/** Chaos last within the serial project: the lifecycle test wants a calm machine. */
class ChaosLast extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const chaos = (f: TestSpecification): boolean => f.moduleId.includes('/test/chaos/');
    return [...sorted.filter((f) => !chaos(f)), ...sorted.filter(chaos)];
  }
}

const integration = {
  environment: 'node' as const,
  testTimeout: 120_000,
  hookTimeout: 180_000,
  // Starts a stack unless one is up (shared by both integration projects: it starts one once).
  globalSetup: 'test/stack/test/global-setup.ts',
  // A worker keeps one module registry across the files it runs: the SDKs and clients each file
  // imports load once per worker (collection 57 s -> 19 s when this was one worker).
  isolate: false,
};

// Projects run in the order of their groups: `unit` (pure logic, no services), `runtimes` (real
// runtime processes on 127.0.0.1), then the two against the real local stack (tests reuse a stack
// that `npm run stack -- up` started, or the test command starts one).
//
// vitest 3 has one pool of forks for every project: its size is the root's `maxWorkers`, and a
// project runs its files one at a time in one fork with `singleFork` (unit and runtimes use both
// forks: 25 s -> 16 s and 44 s -> 32 s). Worker reuse across files
// (`poolOptions.forks.isolate: false`) is the pool's setting too; the unit and runtimes projects
// keep each file's modules apart with their own `isolate` (the default, true).
export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    minWorkers: 1,
    poolOptions: { forks: { isolate: false } },
    sequence: { sequencer: ChaosLast },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['libs/*/test/*.test.ts', 'libs/*/test/unit/**/*.test.ts', 'services/*/test/unit/**/*.test.ts', 'test/stack/test/unit/**/*.test.ts', 'cli/test/unit/**/*.test.ts'],
          environment: 'node',
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          // The runtime contract suite: its timing assertions want no other project beside it (its
          // four files share the two forks: 44 s -> 32 s, the 408 deadlines unchanged).
          name: 'runtimes',
          include: ['runtimes/*/test/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          // Two files at a time: each works in its own namespaces, with its own controllers, topics
          // and queues, and most of a file's time is spent waiting on the stack (rollouts, polls,
          // drains), so two of them share the two cores well.
          name: 'integration',
          include: ['test/stack/test/integration/**/*.test.ts', 'services/*/test/integration/**/*.test.ts', 'libs/*/test/integration/**/*.test.ts', 'cli/test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/helm/**/*.test.ts'],
          exclude: [...SERIAL, ...CLOCK],
          sequence: { groupOrder: 2 },
          ...integration,
        },
      },
      {
        test: {
          name: 'integration-clock',
          include: CLOCK,
          pool: 'threads',
          poolOptions: { threads: { isolate: false } },
          sequence: { groupOrder: 2 },
          ...integration,
        },
      },
      {
        test: {
          name: 'integration-serial',
          include: SERIAL,
          poolOptions: { forks: { singleFork: true } },
          sequence: { groupOrder: 3 },
          ...integration,
        },
      },
    ],
  },
});
