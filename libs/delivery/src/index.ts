export { DeliveryError, type DeliveryErrorKind } from './errors.js';
export { isSuccess, isRetriableStatus, parseRetryAfter } from './classify.js';
export { MIN_RETRY_DELAY_MS, backoffDelay, retryDelay, type BackoffSettings } from './backoff.js';
export { detectContentType, isJsonType } from './content-type.js';
export {
  BASE64_SUFFIX,
  MAX_BINARY_HEADERS,
  MAX_BINARY_HEADER_BYTES,
  extensionName,
  isRepresentableTime,
  isUsableContentType,
  percentEncode,
  setBytesExtension,
  setTextExtension,
  setTraceContext,
  toHttpMessage,
  type EventInput,
  type HttpMessage,
} from './event.js';
export { ServiceDnsResolver, EndpointSliceResolver, type EndpointResolver, type FunctionTarget, type ObjectCache } from './resolver.js';
export { readTls, tlsStamp, type TlsFiles, type TlsMaterial } from './tls.js';
export { DeliveryClient, type DeliveryClientOptions, type SendOptions, type SendResult } from './client.js';
export { InFlightLimiter, RateLimiter, sleep } from './limits.js';
export { MemoryBudget, memoryBudgetBytes, MEMORY_BUDGET_SHARE, DEFAULT_MEMORY_BUDGET_BYTES, type BudgetEvent } from './budget.js';
export { deliveryMetrics, memoryBudgetMetrics, type DeliveryMetrics, type TriggerRef as DeliveryTriggerRef } from './metrics.js';
export { Deliverer, describeFailure, type DelivererOptions } from './deliverer.js';
export { awaitActivation, functionReady, DEFAULT_ACTIVATION_TIMEOUT_MS, type Activation } from './activation.js';
export { afterFailure, type AfterFailure, type FailureFacts } from './exhaustion.js';
export { functionEndpoints, type FunctionEndpoints, type FunctionEndpointsOptions } from './endpoints.js';
export { TriggerDelivery, type DeliverySettings, type TriggerDeliveryOptions } from './trigger-delivery.js';
export { EventTrigger, type EventTriggerOptions, type EventTriggerRunners } from './event-trigger.js';
