export { buildKafkaTrigger, type KafkaTriggerOptions, type KafkaTriggerParts } from './assemble.js';
export { planTrigger, consumerGroupId, type ConsumerSpec, type TriggerPlan } from './plan.js';
export { OffsetTracker, encodeMetadata, decodeMetadata } from './runner/offsets.js';
export { authFromEnv, authFromSecret, createKafka, type KafkaAuth, type KafkaEnv } from './kafka.js';
export { KafkaTriggerError, type KafkaTriggerReason } from './errors.js';
export { mendKafkajsIdleLoop } from './kafkajs-idle-fix.js';
export { mendKafkajsOffsetReset } from './kafkajs-offset-reset.js';
