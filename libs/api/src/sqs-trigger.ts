import type { AutoscalingSpec, AutoscalingStatus } from './autoscaling.js';
import type { DeliverySpec } from './delivery.js';
import type { CommonStatus, KubelessObject, LabelSelector } from './meta.js';

/**
 * SQSTrigger spec (new kind; the original never shipped one). The queue is given by `queueUrl`, or
 * by `queueName` plus `region`; the target by `functionName` or `functionSelector`, as KafkaTrigger.
 */
export interface SQSTriggerSpec {
  queueUrl?: string;
  queueName?: string;
  region?: string;
  /** Endpoint override, e.g. an SQS-compatible server. */
  endpoint?: string;
  /**
   * A Secret with `aws_access_key_id` and `aws_secret_access_key` (and optionally `aws_session_token`),
   * the AWS shared-credentials names; else the default AWS provider chain (IRSA, Pod Identity, env).
   */
  credentialsSecret?: string;
  functionName?: string;
  functionSelector?: LabelSelector;
  /** Messages per receive, 1-10; default 10. */
  batchSize?: number;
  /** Concurrent long-poll receivers per function; default 1. */
  receivers?: number;
  /** Go duration; default the queue's own. */
  visibilityTimeout?: string;
  delivery?: DeliverySpec;
  /** New: scale each target function on the queue's depth (visible and in-flight messages; see AutoscalingSpec). */
  autoscaling?: AutoscalingSpec;
}

export interface SQSTriggerStatus extends CommonStatus {
  functions?: string[];
  /** ApproximateNumberOfMessages of the queue. */
  approximateQueueDepth?: number;
  /** Per function, when `spec.autoscaling` is set. */
  autoscaling?: AutoscalingStatus[];
}

export type SQSTrigger = KubelessObject<'SQSTrigger', SQSTriggerSpec, SQSTriggerStatus>;
