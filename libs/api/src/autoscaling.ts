import { parseDuration } from './delivery.js';

/**
 * Autoscaling of a trigger's functions on the trigger's own event load (KafkaTrigger: consumer
 * lag; SQSTrigger: messages visible and in flight), in the manner of KEDA's ScaledObject: the
 * trigger controller sets the replicas of each target function's Deployment through its scale
 * subresource, between `minReplicas` (0 allowed: scale to zero) and `maxReplicas`.
 */
export interface AutoscalingSpec {
  /** Fewest replicas; 0 scales a function to zero when it has nothing to deliver. Default 1. */
  minReplicas?: number;
  /** Most replicas. */
  maxReplicas: number;
  /** Load one replica is meant to take: lag (Kafka) or messages (SQS) per replica. Default 10 (Kafka), 5 (SQS), as KEDA. */
  targetPerReplica?: number;
  /** Go duration: how long the load must have asked for fewer replicas before they go down (and to zero). Default 5m. */
  cooldown?: string;
  /** Go duration: how often the lag or depth is read to scale. Default 5s. */
  pollingInterval?: string;
}

/** What status shows of one function's scaling. */
export interface AutoscalingStatus {
  function: string;
  /** The Deployment's replicas as last read. */
  replicas: number;
  /** What the load asks for now (before the cool-down holds replicas up). */
  desiredReplicas: number;
  /** The lag or depth the decision used. */
  metric: number;
  /** When the trigger last changed the replicas. */
  lastScaleTime?: string;
}

export interface ResolvedAutoscaling {
  minReplicas: number;
  maxReplicas: number;
  targetPerReplica: number;
  cooldownMs: number;
  pollingIntervalMs: number;
}

export const AUTOSCALING_DEFAULTS = { minReplicas: 1, cooldown: '5m', pollingInterval: '5s', kafkaTarget: 10, sqsTarget: 5 } as const;

/** The autoscaling block with its defaults; `target` is the kind's default load per replica. */
export function resolveAutoscaling(spec: AutoscalingSpec, target: number): ResolvedAutoscaling {
  return {
    minReplicas: spec.minReplicas ?? AUTOSCALING_DEFAULTS.minReplicas,
    maxReplicas: spec.maxReplicas,
    targetPerReplica: spec.targetPerReplica ?? target,
    cooldownMs: parseDuration(spec.cooldown ?? AUTOSCALING_DEFAULTS.cooldown),
    pollingIntervalMs: parseDuration(spec.pollingInterval ?? AUTOSCALING_DEFAULTS.pollingInterval),
  };
}
