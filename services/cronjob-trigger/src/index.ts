export { buildCronjobTrigger, type CronjobTriggerOptions, type CronjobTriggerParts } from './assemble.js';
export { planSlots, MAX_ACTIVE, type AttemptResult, type PlanInput, type PlannedAttempt, type SlotPlan } from './plan.js';
export { parseSchedule, type Schedule } from './schedule.js';
export { Scheduler, CRONJOB_TRIGGER_RESOURCE, LEGACY_NAMESPACE, cronDelivery, eventSource, type CronJobTriggerObject, type SchedulerOptions } from './scheduler.js';
export { cronMetrics, type CronMetrics } from './metrics.js';
