/**
 * Why a KafkaTrigger's auth cannot be used: the reason of its status condition BrokerReachable.
 * All are retriable: a missing Secret may be created, a grant added, a bad key fixed.
 */
export type KafkaTriggerReason = 'SecretNotFound' | 'SecretForbidden' | 'SecretInvalid';

/**
 * A kafka-trigger failure caused by user input (a trigger's auth Secret, or the controller's
 * KAFKA_AUTH_DIR). Its message names the bad key, never a value: it is written to status
 * conditions, which every `view` user reads.
 */
export class KafkaTriggerError extends Error {
  override readonly name = 'KafkaTriggerError';
  readonly reason: KafkaTriggerReason;
  /** `KUBELESS_KAFKA_` and the reason in upper snake case: `KUBELESS_KAFKA_SECRET_INVALID`, ... */
  readonly code: string;
  readonly retriable = true;

  constructor(reason: KafkaTriggerReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
    this.code = `KUBELESS_KAFKA_${reason.replace(/(?<=.)[A-Z]/gu, (c) => `_${c}`).toUpperCase()}`;
  }
}
