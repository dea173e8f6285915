import { extensionName, type EventInput } from '@kubeless/delivery';
import type { KafkaMessage } from 'kafkajs';

export const EVENT_TYPE = 'io.kubeless.kafka.message';
export const LEGACY_NAMESPACE = 'kafkatriggers.kubeless.io';

/** The per-partition parts of every event, made once per partition. */
export interface PartitionContext {
  topic: string;
  /** The partition number as text. */
  partitionText: string;
  /** The CloudEvents source: `/apis/v1/namespaces/<ns>/kafkatriggers/<name>#<topic>`. */
  source: string;
}

/**
 * Pure: one Kafka record as a CloudEvent (SPEC §4): id `partition:<p>/offset:<o>`, the partition's
 * source, type `io.kubeless.kafka.message`, time = the record's timestamp, body = the value byte
 * for byte. A `content-type` header (any case) sets the content type; every other header becomes an
 * extension `kafkaheader<name>`, the key `partitionkey`; also `kafkapartition` and `kafkaoffset`.
 */
export function kafkaEvent(p: PartitionContext, m: KafkaMessage): EventInput {
  const extensions: Record<string, string> = {};
  let contentType: string | undefined;
  const headers = m.headers;
  if (headers) {
    for (const name in headers) {
      const raw = headers[name];
      const v = Array.isArray(raw) ? raw[0] : raw;
      if (v === undefined) continue;
      const value = Buffer.isBuffer(v) ? v.toString('utf8') : v;
      if (name.toLowerCase() === 'content-type') contentType = value;
      else extensions[extensionName('kafkaheader', name)] = value;
    }
  }
  if (m.key !== null) extensions.partitionkey = m.key.toString('utf8');
  extensions.kafkapartition = p.partitionText;
  extensions.kafkaoffset = m.offset;
  return {
    id: `partition:${p.partitionText}/offset:${m.offset}`,
    source: p.source,
    type: EVENT_TYPE,
    time: new Date(Number(m.timestamp)),
    data: m.value ?? Buffer.alloc(0),
    contentType,
    extensions,
    legacy: { namespace: LEGACY_NAMESPACE, topic: p.topic },
  };
}
