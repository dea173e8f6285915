import { isUtf8 } from 'node:buffer';
import { extensionName, isRepresentableTime, isUsableContentType, setBytesExtension, setTextExtension, setTraceContext, type EventInput } from '@kubeless/delivery';
import type { KafkaRecord } from './port.js';

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

/*
 * How a record's metadata travels (docs/delivery.md#metadata-on-the-wire; the wire rules are in libs/delivery/src/event.ts):
 *
 * - The key: valid UTF-8 as extension `partitionkey` (text, percent-encoded in a binary-mode
 *   header), any other bytes as `partitionkeyb64` (base64). No key: neither.
 * - Each header (its first value) as `kafkaheader<name>`, or `kafkaheader<name>b64` when the value
 *   is not valid UTF-8 (or the sanitised name itself ends in `b64`). `<name>` is the header name
 *   lowercased with everything but a-z and 0-9 removed (`X-Trace-Id` -> `kafkaheaderxtraceid`).
 * - A `content-type` header (any case) that is valid UTF-8 and a usable header value is the
 *   event's content type; any other value is kept as the extension `kafkaheadercontenttype[b64]`
 *   and the payload's type is detected.
 * - A valid W3C `traceparent` header, and a `tracestate` one, also as the CloudEvents
 *   distributed-tracing extension (`traceparent`, `tracestate`) and the W3C HTTP headers of the
 *   request (`setTraceContext`): a function's tracing continues the producer's trace.
 * - `kafkapartition` and `kafkaoffset`, always.
 * - The time is the record's timestamp; one without an RFC 3339 form (outside years 0000-9999, such
 *   as a producer writing nanoseconds) is left out and the raw timestamp goes as `kafkatimestamp`.
 *   Nothing about a record's bytes can make its event fail to encode.
 */

/**
 * Pure: one Kafka record as a CloudEvent (docs/delivery.md#the-contract): id `partition:<p>/offset:<o>`, the partition's
 * source, type `io.kubeless.kafka.message`, time = the record's timestamp, body = the value byte
 * for byte, metadata as extensions (see the block above).
 */
export function kafkaEvent(p: PartitionContext, m: KafkaRecord): EventInput {
  const extensions: Record<string, string> = {};
  let contentType: string | undefined;
  const headers = m.headers;
  if (headers) {
    for (const name in headers) {
      const raw = headers[name];
      const v = Array.isArray(raw) ? raw[0] : raw;
      if (v === undefined) continue;
      if (contentType === undefined && name.toLowerCase() === 'content-type') {
        const text = typeof v === 'string' ? v : isUtf8(v) ? v.toString('utf8') : undefined;
        if (text !== undefined && isUsableContentType(text)) {
          contentType = text;
          continue;
        }
      }
      const ext = extensionName('kafkaheader', name);
      if (typeof v === 'string') setTextExtension(extensions, ext, v);
      else setBytesExtension(extensions, ext, v);
      // W3C Trace Context (`traceparent`, 11 characters; `tracestate`, 10): also the CloudEvents tracing extension.
      if (name.length === 11 || name.length === 10) setTraceContext(extensions, name, typeof v === 'string' ? v : v.toString('latin1'));
    }
  }
  if (m.key) setBytesExtension(extensions, 'partitionkey', m.key);
  extensions.kafkapartition = p.partitionText;
  extensions.kafkaoffset = m.offset;
  const ms = Number(m.timestamp);
  if (!isRepresentableTime(ms)) extensions.kafkatimestamp = m.timestamp;
  return {
    id: `partition:${p.partitionText}/offset:${m.offset}`,
    source: p.source,
    type: EVENT_TYPE,
    time: new Date(ms),
    data: m.value ?? Buffer.alloc(0),
    contentType,
    extensions,
    legacy: { namespace: LEGACY_NAMESPACE, topic: p.topic },
  };
}
