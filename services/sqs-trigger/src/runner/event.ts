import type { Message, MessageAttributeValue } from '@aws-sdk/client-sqs';
import { BASE64_SUFFIX, extensionName, isUsableContentType, setTextExtension, setTraceContext, type EventInput } from '@kubeless/delivery';

export const EVENT_TYPE = 'io.kubeless.sqs.message';
export const LEGACY_NAMESPACE = 'sqstriggers.kubeless.io';
/** SQS allows 10 message attributes per message. */
export const MAX_MESSAGE_ATTRIBUTES = 10;

/** The source of a trigger's events: `/apis/v1/namespaces/<ns>/sqstriggers/<name>`. */
export function eventSource(namespace: string, trigger: string): string {
  return `/apis/v1/namespaces/${namespace}/sqstriggers/${trigger}`;
}

/**
 * The receive count SQS reports for a message (`ApproximateReceiveCount`; AttemptLedger turns it
 * into an attempt number); 1 when SQS did not say.
 */
export function receiveCount(m: Message): number {
  const n = Number(m.Attributes?.ApproximateReceiveCount);
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

/*
 * How a message's attributes travel (docs/delivery.md#metadata-on-the-wire; the wire rules are in
 * libs/delivery/src/event.ts):
 *
 * - A String or Number attribute as extension `sqsattr<name>`: text, any Unicode, CR and LF
 *   included (percent-encoded in a binary-mode header, a JSON string in structured mode). `<name>`
 *   is the attribute name lowercased with everything but a-z and 0-9 removed. A sanitised name that
 *   itself ends in `b64` goes as `sqsattr<name>b64`, base64 of the text's UTF-8 (a name ending in
 *   `b64` always holds base64).
 * - A Binary attribute as `sqsattr<name>b64`: base64 of its bytes.
 * - A String `content-type` attribute (any case) that is a usable header value is the event's
 *   content type; any other is kept as the extension `sqsattrcontenttype` and the type is detected.
 * - A valid W3C `traceparent` attribute, and a `tracestate` one (any case), also as the CloudEvents
 *   distributed-tracing extension and the W3C HTTP headers of the request (`setTraceContext`).
 */

/**
 * Pure: one SQS message as a CloudEvent (docs/delivery.md#the-contract): id = MessageId, source the
 * trigger, type `io.kubeless.sqs.message`, time = SentTimestamp, body = the message body byte for
 * byte, message attributes as extensions (see the block above). Also `sqsqueue`, `sqsreceivecount`
 * and, on FIFO queues, `sqsmessagegroupid`. The original kubeless headers say
 * `sqstriggers.kubeless.io` with the queue as the topic.
 */
export function toEvent(m: Message, ctx: { namespace: string; trigger: string; queueName: string }): EventInput {
  const extensions: Record<string, string> = {};
  let contentType: string | undefined;
  for (const [name, v] of Object.entries(m.MessageAttributes ?? {})) {
    const text = v.StringValue;
    if (text !== undefined) {
      if (contentType === undefined && name.toLowerCase() === 'content-type' && isUsableContentType(text)) contentType = text;
      else setTextExtension(extensions, extensionName('sqsattr', name), text);
      setTraceContext(extensions, name, text);
    } else if (v.BinaryValue !== undefined) {
      extensions[extensionName('sqsattr', name) + BASE64_SUFFIX] = Buffer.from(v.BinaryValue).toString('base64');
    }
  }
  extensions.sqsqueue = ctx.queueName;
  extensions.sqsreceivecount = String(receiveCount(m));
  const group = m.Attributes?.MessageGroupId;
  if (group !== undefined) extensions.sqsmessagegroupid = group;
  const sent = Number(m.Attributes?.SentTimestamp);
  return {
    id: m.MessageId ?? '',
    source: eventSource(ctx.namespace, ctx.trigger),
    type: EVENT_TYPE,
    ...(Number.isFinite(sent) && sent > 0 ? { time: new Date(sent) } : {}),
    data: Buffer.from(m.Body ?? '', 'utf8'),
    contentType,
    extensions,
    legacy: { namespace: LEGACY_NAMESPACE, topic: ctx.queueName },
  };
}

/**
 * Pure: the attributes of a message sent to the dead-letter queue: the error (`kubeless-error-reason`,
 * `kubeless-error-message`, `kubeless-attempts`) and where it came from (`kubeless-source-queue`,
 * `kubeless-trigger`, `kubeless-function`, `kubeless-event-id`), then the original attributes as far
 * as SQS's limit of 10 allows (the error wins).
 */
export function deadLetterAttributes(
  m: Message,
  f: { reason: string; message: string; functions: string[]; attempts: number },
  ctx: { namespace: string; trigger: string; queueName: string },
): Record<string, MessageAttributeValue> {
  const s = (v: string): MessageAttributeValue => ({ DataType: 'String', StringValue: v === '' ? '-' : v });
  const out: Record<string, MessageAttributeValue> = {
    'kubeless-error-reason': s(f.reason),
    'kubeless-error-message': s(f.message.slice(0, 1000)),
    'kubeless-attempts': { DataType: 'Number', StringValue: String(f.attempts) },
    'kubeless-source-queue': s(ctx.queueName),
    'kubeless-trigger': s(`${ctx.namespace}/${ctx.trigger}`),
    'kubeless-function': s(f.functions.join(',')),
    'kubeless-event-id': s(m.MessageId ?? ''),
  };
  for (const [k, v] of Object.entries(m.MessageAttributes ?? {})) {
    if (Object.keys(out).length >= MAX_MESSAGE_ATTRIBUTES) break;
    if (!(k in out)) out[k] = { DataType: v.DataType, ...(v.StringValue !== undefined ? { StringValue: v.StringValue } : {}), ...(v.BinaryValue !== undefined ? { BinaryValue: v.BinaryValue } : {}) };
  }
  return out;
}
