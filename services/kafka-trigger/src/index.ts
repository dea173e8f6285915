export { buildKafkaTrigger, type KafkaTriggerOptions, type KafkaTriggerParts } from './controller.js';
export { planTrigger, consumerGroupId, type ConsumerSpec, type TriggerPlan } from './plan.js';
export { OffsetTracker, encodeMetadata, decodeMetadata } from './runner/offsets.js';
export { authFromSecret, createKafka, type KafkaAuth } from './kafka.js';
