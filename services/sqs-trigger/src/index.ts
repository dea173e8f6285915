export { buildSqsTrigger, type SqsTriggerOptions, type SqsTriggerParts } from './assemble.js';
export {
  planTrigger,
  onlyTargetsChanged,
  isFifoQueue,
  queueNameOf,
  regionOfQueueUrl,
  visibilitySeconds,
  MAX_VISIBILITY_SECONDS,
  type PlanDefaults,
  type QueueRef,
  type ReceiverSpec,
  type TargetSpec,
  type TriggerPlan,
} from './plan.js';
export { Connections, credentialsFromSecret, SECRET_KEYS, type AwsCredentials } from './connections.js';
export { SqsTriggerError, classifySqsError, type SqsTriggerReason } from './errors.js';
export { toEvent, deadLetterAttributes, eventSource, receiveCount, EVENT_TYPE, LEGACY_NAMESPACE } from './runner/event.js';
export { DeleteBatcher, VisibilityHeartbeat } from './runner/batching.js';
export { TriggerReceiver, type ReceiverState, type StalledMessage } from './runner/receiver.js';
