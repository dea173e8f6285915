/**
 * cronjob-trigger: its configuration and one runControllerProcess.
 * CronJobTriggers -> one CloudEvent per slot to the function.
 * Every replica keeps warm caches; the Lease holder alone runs the scheduler (claims slots, sends,
 * writes status). A replica that loses the Lease aborts its attempts at once and exits (the kubelet
 * restarts it and it campaigns afresh); its successor continues each slot under way (scheduler.ts).
 */
import { commonShape, deliveryFrom, deliveryShape, env, leaseShape, loadConfig } from '@kubeless/config';
import { runControllerProcess } from '@kubeless/controller';
import { buildCronjobTrigger } from './assemble.js';

const config = loadConfig({
  ...commonShape,
  ...deliveryShape,
  /** How long a stop waits for attempts in flight before it leaves them to the next leader. */
  DRAIN_TIMEOUT: env.duration().prefault('20s'),
  /** Every trigger is planned at least this often (conditions follow the caches). */
  RESYNC_INTERVAL: env.duration().prefault('30s'),
  ...leaseShape('kubeless-cronjob-trigger'),
});
const delivery = deliveryFrom(config);

await runControllerProcess({
  name: 'cronjob-trigger',
  config,
  // The scheduler is a leader-only runnable: its attempts in flight end and their results are
  // written on SIGTERM while this replica still holds the Lease, which is released after it.
  assemble: (service) =>
    buildCronjobTrigger({
      ...service,
      ...delivery,
      resyncMs: config.RESYNC_INTERVAL,
      drainTimeoutMs: config.DRAIN_TIMEOUT,
    }),
});
