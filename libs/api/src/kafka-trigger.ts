import type { AutoscalingSpec, AutoscalingStatus } from './autoscaling.js';
import type { DeliverySpec } from './delivery.js';
import type { CommonStatus, KubelessObject, LabelSelector } from './meta.js';

export const INITIAL_OFFSETS = ['earliest', 'latest'] as const;
export type InitialOffset = (typeof INITIAL_OFFSETS)[number];

/**
 * KafkaTrigger spec: the original `topic` and `functionSelector`
 * (docs/architecture.md#compatibility-with-the-original), plus optional new fields. At least one
 * topic and exactly one target are required.
 */
export interface KafkaTriggerSpec {
  /** The original single topic. */
  topic?: string;
  /** New: more topics; merged with `topic`. */
  topics?: string[];
  /** Every function in the namespace whose labels match receives every message. */
  functionSelector?: LabelSelector;
  /** New: a single target function, instead of a selector. */
  functionName?: string;
  /** New: prefix of the consumer group names (one group per selected function). */
  consumerGroup?: string;
  /** New: where a new consumer group starts; `latest` (the original's "newest") by default. */
  initialOffset?: InitialOffset;
  /** New: bootstrap brokers for this trigger, instead of the controller's. */
  brokers?: string[];
  /** New: a Secret with SASL (`sasl.mechanism`, `username`, `password`) and TLS (`ca.crt`, `tls.crt`, `tls.key`) settings. */
  authSecret?: string;
  delivery?: DeliverySpec;
  /** New: scale each target function on its consumer group's lag (see AutoscalingSpec). */
  autoscaling?: AutoscalingSpec;
}

export interface KafkaTriggerStatus extends CommonStatus {
  /** Names of the functions the trigger currently delivers to. */
  functions?: string[];
  /** Total lag across the trigger's consumer groups, in messages. */
  lag?: number;
  /** Per function, when `spec.autoscaling` is set. */
  autoscaling?: AutoscalingStatus[];
}

export type KafkaTrigger = KubelessObject<'KafkaTrigger', KafkaTriggerSpec, KafkaTriggerStatus>;

/** All topics of a trigger, `topic` first, without duplicates or empties. */
export function triggerTopics(spec: KafkaTriggerSpec): string[] {
  const all = [spec.topic, ...(spec.topics ?? [])].filter((t): t is string => typeof t === 'string' && t !== '');
  return [...new Set(all)];
}
