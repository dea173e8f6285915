import { setMaxListeners } from 'node:events';
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type Message,
  type SQSClient,
  type SendMessageCommandInput,
} from '@aws-sdk/client-sqs';
import { InFlightLimiter, afterFailure, describeFailure, sleep, type Deliverer, type EventInput, type MemoryBudget } from '@kubeless/delivery';
import { canonical } from '@kubeless/controller';
import type { Logger } from '@kubeless/observability';
import type { Connections } from '../connections.js';
import { classifySqsError } from '../errors.js';
import { isFifoQueue, onlyTargetsChanged, queueNameOf, visibilitySeconds, type ReceiverSpec, type TargetSpec } from '../plan.js';
import { AttemptLedger, attemptsExhausted } from './attempts.js';
import { DeleteBatcher, VisibilityHeartbeat } from './batching.js';
import { deadLetterAttributes, receiveCount, toEvent } from './event.js';

export interface ReceiverOptions {
  spec: ReceiverSpec;
  connections: Connections;
  /**
   * Makes the deliverer of one target of this trigger: for each target at construction, and for
   * each new or changed one when `reconfigure` takes new targets.
   */
  deliverer: (target: TargetSpec) => Deliverer;
  logger: Logger;
  /** How long `stop()` waits for deliveries in flight before aborting them (they return after the visibility timeout). */
  drainTimeoutMs: number;
  /** The longest a delete waits for its batch to fill. */
  deleteFlushMs: number;
  /** How long `stop()` waits for the last deletes after the drain (default 3 s); those not confirmed by then come back (duplicates). */
  flushTimeoutMs?: number | undefined;
  /** The attempt counts of messages, shared by every receiver of the process (default: one of its own). */
  ledger?: AttemptLedger | undefined;
  /** The process's memory budget, shared by every receiver (default: none beyond `maxBytes`). */
  budget?: MemoryBudget | undefined;
  /** Bytes of messages this trigger may hold (received, in delivery, waiting): default unbounded. */
  maxBytes?: number | undefined;
}

/** A message this replica keeps failing to get rid of (onExhausted `block`, or a dead letter that fails). */
export interface StalledMessage {
  messageId: string;
  /** `RetriesExhausted` (onExhausted: block) or `DeadLetterFailed`. */
  reason: 'RetriesExhausted' | 'DeadLetterFailed';
  /** The last failure, `<reason>: <message>`. */
  message: string;
  /** Its attempt number at the last failure (receives given back unprocessed not counted). */
  attempts: number;
  /** ISO time it first stalled. */
  since: string;
  /**
   * Epoch ms after which this report is stale: the message did not come back to this replica
   * within twice its backoff plus a margin (another replica or the queue's redrive policy took it).
   */
  until: number;
}

/** What this replica knows about the receiver, for logs, readiness and the Stalled condition. */
export interface ReceiverState {
  running: boolean;
  queueUrl?: string | undefined;
  lastError?: string | undefined;
  stalled?: StalledMessage | undefined;
}

type Outcome =
  | { kind: 'delete' }
  | { kind: 'retry'; delayMs: number; attempts: number; stall?: StalledMessage['reason'] | undefined; failure?: string | undefined }
  | { kind: 'aborted' };

const DELETE: Outcome = { kind: 'delete' };
const ABORTED: Outcome = { kind: 'aborted' };

const WAIT_SECONDS = 20;
/**
 * The long poll while the memory budget is contended (others wait for it, or it is over half
 * used): an idle queue's poll then gives its reservation back each second instead of holding it
 * for 20 s while other triggers wait.
 */
const CONTENDED_WAIT_SECONDS = 1;
/** What a message holds beyond its body and attributes (receipt handle, ids, objects), for the byte bounds. */
const MESSAGE_OVERHEAD_BYTES = 1024;
/** SQS's largest message (since 2025), when a queue does not say its MaximumMessageSize. */
const MAX_SQS_MESSAGE_BYTES = 1024 * 1024;
/** Ids of messages some targets already accepted (multi-target triggers): fewer duplicates on a retry. */
const MAX_REMEMBERED = 10_000;

/**
 * The receivers of one trigger (docs/delivery.md#sqs): `receivers` long polls (20 s, up to `batchSize`
 * messages, never more than the free `maxInFlight` slots) on one queue; each message goes to every
 * target function as a CloudEvent whose id is the MessageId. At least once: a message is deleted
 * (in batches) only after every target accepted it, or after it went to the dead-letter queue (or
 * an explicit `drop`). While it is held, a heartbeat extends its visibility; after a failure its
 * visibility becomes the trigger's backoff for that attempt, so it comes back then (on any
 * replica: replicas are competing consumers). After `retry + 1` real attempts (receives given back
 * unprocessed do not count: see AttemptLedger, also for what a restart does) it goes to the
 * trigger's `deadLetter` queue if one is named, else it keeps coming back at `backoffMax` and the
 * queue's own redrive policy applies (which counts every receive). FIFO queues: serial per
 * MessageGroupId (unless `unordered`), parallel across groups. A slot is freed once the delivery
 * succeeded and its delete is queued (deletes go out in the background, at most `maxInFlight`
 * outstanding), so receivers never wait on delete round trips; a crash repeats at most
 * `2 × maxInFlight` messages. A message that keeps failing after its retries (onExhausted
 * `block`, or a failing dead letter) is reported in `state.stalled` until it is delivered or stops
 * coming back.
 *
 * Memory: each long poll first reserves room for a full batch of the queue's largest message
 * (MaximumMessageSize) in the trigger's byte bound (`maxBytes`) and in the process's `budget`,
 * then keeps what the messages it got hold until each is done (delete queued, or given back);
 * so what a replica holds stays under its budget, and a receiver over it does not poll. While the
 * budget is contended, polls wait 1 s instead of 20 s, so idle queues do not sit on it. A body is
 * held once, as the bytes of its event (the SDK's string is dropped when the event is built).
 */
export class TriggerReceiver {
  readonly state: ReceiverState = { running: false };
  #spec: ReceiverSpec;
  /** One per target of `#spec`, in the same order; replaced (never mutated) by `reconfigure`. */
  #deliverers: Deliverer[];
  readonly #o: ReceiverOptions;
  readonly #log: Logger;
  readonly #limiter: InFlightLimiter;
  readonly #ledger: AttemptLedger;
  /** Bytes a slot reserves before a receive: the queue's largest message and its overhead. */
  #slotBytes = MAX_SQS_MESSAGE_BYTES + MESSAGE_OVERHEAD_BYTES;
  /** Messages dispatched and not yet done (delivered and delete queued, or given back). */
  #active = 0;
  #drained: (() => void) | undefined;
  readonly #chains = new Map<string, { tail: Promise<void>; brokenAt: number }>();
  readonly #accepted = new Map<string, Set<string>>();
  #client: SQSClient | undefined;
  #queueUrl = '';
  #queueName = '';
  #eventContext = { namespace: '', trigger: '', queueName: '' };
  #fifo = false;
  #heartbeat: VisibilityHeartbeat | undefined;
  #deleter: DeleteBatcher | undefined;
  #deadLetterUrl: Promise<string> | undefined;
  #loops: Promise<void>[] = [];
  #poll = new AbortController();
  #hard = new AbortController();
  #stopping = false;
  #starting: Promise<void> | undefined;
  #stopped: Promise<void> | undefined;
  #epoch = 0;

  constructor(options: ReceiverOptions) {
    this.#o = options;
    this.#spec = options.spec;
    this.#deliverers = options.spec.targets.map((t) => options.deliverer(t));
    this.#log = options.logger.child({ namespace: options.spec.namespace, trigger: options.spec.trigger });
    this.#limiter = new InFlightLimiter(Math.max(1, options.spec.maxInFlight), Math.max(1, options.maxBytes ?? Number.MAX_SAFE_INTEGER));
    this.#ledger = options.ledger ?? new AttemptLedger();
  }

  /** What the receiver runs: its spec at construction, or the last one `reconfigure` took. */
  get spec(): ReceiverSpec {
    return this.#spec;
  }

  /**
   * Takes `spec` in place when it differs from the current one only in its targets
   * (onlyTargetsChanged): the long polls go on untouched (a stop would abort them on the client
   * only, and SQS may hand the next message to such a poll: it would then wait for the visibility
   * timeout). Messages received from now on, and those that come back for a retry, go to the new
   * targets (skipping any that already accepted them); those already in delivery finish with the
   * targets they started with, as they would across a restart, which drains them. The deliverer of
   * an unchanged target is kept (with its rate limiter). False, changing nothing, for any other
   * change or once stopped: that needs a new receiver.
   */
  reconfigure(spec: ReceiverSpec): boolean {
    if (this.#stopped || !onlyTargetsChanged(this.#spec, spec)) return false;
    const current = new Map(this.#spec.targets.map((t, i) => [t.function, { t, d: this.#deliverers[i] }]));
    this.#deliverers = spec.targets.map((t) => {
      const c = current.get(t.function);
      return c?.d && sameTarget(c.t, t) ? c.d : this.#o.deliverer(t);
    });
    this.#spec = spec;
    return true;
  }

  /**
   * Resolves the queue and starts the long polls. Rejects (a classified SqsTriggerError) when the
   * queue or its credentials cannot be used. Idempotent: a second call while starting or running
   * joins the first; a receiver that was stopped stays stopped (make a new one).
   */
  start(): Promise<void> {
    if (this.#stopped) return Promise.reject(new Error('receiver was stopped'));
    if (this.state.running) return Promise.resolve();
    this.#starting ??= this.#start().finally(() => {
      this.#starting = undefined;
    });
    return this.#starting;
  }

  async #start(): Promise<void> {
    const spec = this.spec;
    this.#stopping = false;
    this.#poll = new AbortController();
    this.#hard = new AbortController();
    // Every delivery and long poll of this receiver listens on these.
    setMaxListeners(0, this.#poll.signal, this.#hard.signal);
    try {
      const client = await this.#o.connections.get(spec.namespace, spec.queue);
      const url = await this.#o.connections.resolve(client, spec.namespace, spec.queue, 'queue', spec.queue.queueUrl ?? spec.queue.queueName ?? '');
      this.#client = client;
      // With the controller's identity, a dead letter it may not write to refuses the start
      // (nothing is received), rather than blocking at the first poison message.
      if (spec.queue.credentials === 'shared' && spec.delivery.deadLetter) await this.#resolveDeadLetter();
      let attributes: Record<string, string> = {};
      try {
        attributes = (await client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['VisibilityTimeout', 'FifoQueue', 'MaximumMessageSize'] }))).Attributes ?? {};
      } catch (err) {
        throw classifySqsError(err, `queue ${url}`);
      }
      this.#queueUrl = url;
      this.#queueName = queueNameOf(url);
      this.#eventContext = { namespace: spec.namespace, trigger: spec.trigger, queueName: this.#queueName };
      this.#fifo = attributes.FifoQueue === 'true' || isFifoQueue(url);
      const visibilitySec = Math.max(1, spec.visibilityTimeoutSec ?? (Number(attributes.VisibilityTimeout) || 30));
      const maxMessage = Number(attributes.MaximumMessageSize);
      this.#slotBytes = (Number.isInteger(maxMessage) && maxMessage > 0 ? Math.min(maxMessage, MAX_SQS_MESSAGE_BYTES) : MAX_SQS_MESSAGE_BYTES) + MESSAGE_OVERHEAD_BYTES;
      this.#heartbeat = new VisibilityHeartbeat({
        visibilitySec,
        logger: this.#log,
        extend: async (entries, sec) => {
          let out;
          try {
            out = await client.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: url, Entries: entries.map((e) => ({ ...e, VisibilityTimeout: sec })) }));
          } catch (err) {
            throw this.#classified(err, `queue ${url}`);
          }
          if (out.Failed && out.Failed.length > 0) this.#log.debug({ failed: out.Failed.length }, 'visibility extension refused for some messages');
        },
      });
      this.#deleter = new DeleteBatcher({
        intervalMs: this.#o.deleteFlushMs,
        maxPending: Math.max(10, spec.maxInFlight),
        logger: this.#log,
        send: async (entries) => {
          let out;
          try {
            out = await client.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: entries }));
          } catch (err) {
            throw this.#classified(err, `queue ${url}`);
          }
          return { failed: (out.Failed ?? []).map((f) => ({ id: f.Id ?? '', message: f.Message ?? f.Code ?? '' })) };
        },
      });
    } catch (err) {
      const e = this.#classified(err, 'queue');
      this.state.lastError = e.message;
      throw e;
    }
    // stop() ran while the queue was being resolved: never start polling.
    if (this.#stopped) return;
    this.#heartbeat.start();
    this.state.running = true;
    this.state.queueUrl = this.#queueUrl;
    this.state.lastError = undefined;
    this.#loops = Array.from({ length: Math.max(1, spec.receivers) }, () => this.#receiveLoop());
  }

  /**
   * Graceful stop: long polls end at once; deliveries in flight finish (up to `drainTimeoutMs`,
   * then they are aborted and their messages return after the visibility timeout), and the delete
   * of each one that succeeds goes out at once, during the drain; the last deletes get up to
   * `flushTimeoutMs` after it; messages not yet started are made visible again at once. Safe while
   * a start is in progress (it waits for it, then stops what it started) and idempotent.
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    this.#poll.abort(new Error('stopping'));
    if (this.#starting) await this.#starting.catch(() => undefined);
    if (!this.state.running) return;
    // From now on a delete goes out as soon as it is queued: what finishes during the drain is
    // deleted during the drain, not in a flush that the pod's grace period might cut short.
    this.#deleter?.hurry();
    const force = setTimeout(() => {
      this.#hard.abort(new Error('shutdown'));
    }, this.#o.drainTimeoutMs);
    try {
      await Promise.allSettled(this.#loops);
      while (this.#active > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
    } finally {
      clearTimeout(force);
      const flushed = await this.#deleter?.flush(this.#o.flushTimeoutMs ?? 3000);
      if (flushed === false) this.#log.warn({ outstanding: this.#deleter?.outstanding }, 'deletes unconfirmed at stop; those messages will be delivered again');
      this.#heartbeat?.stop();
      this.state.running = false;
    }
  }

  /** An SQS error as a (redacted) SqsTriggerError; the original goes to the debug log only. */
  #classified(err: unknown, what: string): ReturnType<typeof classifySqsError> {
    const e = classifySqsError(err, what);
    if (e.raw !== undefined) this.#log.debug({ err: e.raw, code: e.code }, 'sqs call failed (unredacted)');
    return e;
  }

  /** A getter defeats stale narrowing of `#stopping` across awaits. */
  #isStopping(): boolean {
    return this.#stopping;
  }

  async #receiveLoop(): Promise<void> {
    const spec = this.spec;
    const signal = this.#poll.signal;
    let failures = 0;
    while (!this.#stopping) {
      // Wait for a fair share of a full batch (small receives are slow), then take what else is
      // free. Shares add up to at most maxInFlight, so receivers never starve each other.
      // Each slot holds room for the queue's largest message, in the trigger's byte bound and then
      // in the process's budget: a receiver without room does not poll.
      const unit = this.#slotBytes;
      // Shares of the byte bound too: a receiver never waits for room that only it could free.
      const byBytes = Math.floor(this.#limiter.maxBytes / unit);
      const share = Math.max(1, Math.min(spec.batchSize, Math.floor(spec.maxInFlight / Math.max(1, spec.receivers)), Math.floor(byBytes / Math.max(1, spec.receivers))));
      const budget = this.#o.budget;
      let slots = 0;
      try {
        for (; slots < share; slots++) await this.#limiter.acquire(unit, signal);
      } catch {
        this.#limiter.releaseMany(slots, slots * unit);
        return;
      }
      while (slots < spec.batchSize && this.#limiter.tryAcquire(unit)) slots++;
      if (budget) {
        // As many as there is room for now (a poll does not wait for a whole batch's room while
        // part of it is free), at least one: with no room at all the receiver waits, not polling.
        const fits = Math.max(1, Math.floor(Math.min(budget.limit, budget.limit - budget.used) / unit));
        if (slots > fits) {
          this.#limiter.releaseMany(slots - fits, (slots - fits) * unit);
          slots = fits;
        }
        try {
          await budget.acquire(slots * unit, signal);
        } catch {
          this.#limiter.releaseMany(slots, slots * unit);
          return;
        }
      }
      const giveBack = (count: number, bytes: number): void => {
        this.#limiter.releaseMany(count, bytes);
        budget?.release(bytes);
      };
      let messages: Message[];
      try {
        const out = await this.#client?.send(
          new ReceiveMessageCommand({
            QueueUrl: this.#queueUrl,
            MaxNumberOfMessages: slots,
            WaitTimeSeconds: budget && (budget.waiting > 0 || budget.used * 2 > budget.limit) ? CONTENDED_WAIT_SECONDS : WAIT_SECONDS,
            ...(spec.visibilityTimeoutSec === undefined ? {} : { VisibilityTimeout: spec.visibilityTimeoutSec }),
            MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp', 'MessageGroupId'],
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: signal },
        );
        messages = out?.Messages ?? [];
        failures = 0;
        this.state.lastError = undefined;
      } catch (err) {
        giveBack(slots, slots * unit);
        if (this.#isStopping()) return;
        failures++;
        const e = this.#classified(err, `queue ${this.#queueUrl}`);
        this.state.lastError = e.message;
        this.#log.warn({ err: e, failures }, 'receive failed; retrying');
        try {
          await sleep(Math.min(30_000, 250 * 2 ** Math.min(failures, 7)), signal);
        } catch {
          return;
        }
        continue;
      }
      // Each message keeps what it holds; the rest of the reservation goes back.
      let unused = (slots - messages.length) * unit;
      let excess = 0;
      const held = messages.map((m) => {
        const bytes = messageBytes(m);
        // Larger than the queue said at start (its MaximumMessageSize was raised): counted as held.
        if (bytes > unit) excess += bytes - unit;
        else unused += unit - bytes;
        return { m, bytes: Math.min(bytes, unit), budgetBytes: bytes };
      });
      giveBack(slots - messages.length, unused);
      budget?.reserve(excess);
      if (held.length > 0) this.#dispatch(held);
    }
  }

  #dispatch(messages: Held[]): void {
    const epoch = ++this.#epoch;
    const receivedAt = Date.now();
    const serial = this.#fifo && this.spec.delivery.ordering !== 'unordered';
    for (const h of messages) {
      const m = h.m;
      this.#heartbeat?.track(m, m.ReceiptHandle ?? '', receivedAt);
      this.#active++;
      const group = serial ? (m.Attributes?.MessageGroupId ?? '') : undefined;
      if (group === undefined) {
        void this.#handle(h, undefined, epoch);
        continue;
      }
      let chain = this.#chains.get(group);
      if (!chain) this.#chains.set(group, (chain = { tail: Promise.resolve(), brokenAt: -1 }));
      const c = chain;
      const task = c.tail.then(() => this.#handle(h, c, epoch));
      c.tail = task;
      void task.finally(() => {
        if (this.#chains.get(group)?.tail === task) this.#chains.delete(group);
      });
    }
  }

  /**
   * One message, never throws; frees its slot once the delivery succeeded and its delete is queued
   * (or it was given back). The heartbeat keeps the message invisible until SQS confirmed the delete.
   */
  async #handle(h: Held, chain: { brokenAt: number } | undefined, epoch: number): Promise<void> {
    const m = h.m;
    let tracked = true;
    try {
      // FIFO: after a failure in its group, a message received with the failed one must wait for it
      // (SQS keeps the group locked while the failed one is invisible).
      if (this.#stopping || (chain && chain.brokenAt >= epoch)) {
        this.#heartbeat?.untrack(m);
        tracked = false;
        // Given back unprocessed: this receive is not one of its attempts (see AttemptLedger).
        this.#ledger.gaveBack(m.MessageId ?? '');
        await this.#changeVisibility(m, 0);
        return;
      }
      const outcome = await this.#deliver(m);
      if (outcome.kind === 'delete') {
        this.#ledger.forget(m.MessageId ?? '');
        this.#clearStall(m.MessageId);
        const deleter = this.#deleter;
        if (deleter) {
          tracked = false;
          const room = deleter.add(m.ReceiptHandle ?? '', () => {
            this.#heartbeat?.untrack(m);
          });
          if (room) await room;
        }
      } else if (outcome.kind === 'retry') {
        if (chain) chain.brokenAt = this.#epoch;
        if (outcome.stall) this.#stall(m, outcome.stall, outcome.failure ?? '', outcome.delayMs, outcome.attempts);
        this.#heartbeat?.untrack(m);
        tracked = false;
        await this.#changeVisibility(m, visibilitySeconds(outcome.delayMs));
      }
      // aborted (forced shutdown): left to the visibility timeout.
    } catch (err) {
      this.#log.error({ err, messageId: m.MessageId }, 'message handling failed');
    } finally {
      if (tracked) this.#heartbeat?.untrack(m);
      this.#limiter.release(h.bytes);
      this.#o.budget?.release(h.budgetBytes);
      if (--this.#active === 0 && this.#drained) {
        this.#drained();
        this.#drained = undefined;
      }
    }
  }

  #stall(m: Message, reason: StalledMessage['reason'], message: string, delayMs: number, attempts: number): void {
    const id = m.MessageId ?? '';
    const now = Date.now();
    const prev = this.state.stalled;
    const until = now + 2 * delayMs + 60_000;
    if (prev && prev.messageId !== id && prev.until > now) return;
    this.state.stalled = { messageId: id, reason, message, attempts, since: prev?.messageId === id ? prev.since : new Date(now).toISOString(), until };
  }

  #clearStall(id: string | undefined): void {
    if (this.state.stalled && this.state.stalled.messageId === id) this.state.stalled = undefined;
  }

  async #changeVisibility(m: Message, sec: number): Promise<void> {
    try {
      await this.#client?.send(new ChangeMessageVisibilityCommand({ QueueUrl: this.#queueUrl, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: sec }));
    } catch (err) {
      this.#log.debug({ err, messageId: m.MessageId }, 'visibility change failed');
    }
  }

  /** Delivers one receive of a message to every target that has not accepted it yet. */
  async #deliver(m: Message): Promise<Outcome> {
    const id = m.MessageId ?? '';
    const count = this.#ledger.count(id, receiveCount(m));
    const attempt = count.attempt;
    const event = toEvent(m, this.#eventContext);
    // The body is held once, as the event's bytes (a dead letter is sent from them).
    m.Body = undefined;
    // The targets when its delivery starts: a reconfigure meanwhile applies from its next receive.
    const deliverers = this.#deliverers;
    let failed: { d: Deliverer; err: unknown }[];
    // A message some targets accepted before the targets shrank to one takes the path that skips them.
    const only = deliverers.length === 1 && !this.#accepted.has(id) ? deliverers[0] : undefined;
    if (only) {
      // The common case, without the bookkeeping of several targets.
      try {
        await only.attempt(event, attempt, this.#hard.signal);
        return DELETE;
      } catch (err) {
        failed = [{ d: only, err }];
      }
    } else {
      const accepted = this.#accepted.get(id);
      const pending = deliverers.filter((d) => !accepted?.has(d.target.name));
      const results = await Promise.allSettled(pending.map((d) => d.attempt(event, attempt, this.#hard.signal)));
      failed = [];
      results.forEach((r, i) => {
        const d = pending[i];
        if (!d) return;
        if (r.status === 'rejected') failed.push({ d, err: r.reason });
        else if (deliverers.length > 1) this.#remember(id, d.target.name);
      });
      if (failed.length === 0) {
        this.#accepted.delete(id);
        return DELETE;
      }
    }
    // A real attempt (cut short or not): the next receive is a retry.
    this.#ledger.failed(id);
    if (this.#hard.signal.aborted) return ABORTED;
    const d0 = deliverers[0];
    if (!d0) return DELETE;
    const delivery = d0.delivery;
    const failures = failed.map((x) => ({ ...describeFailure(x.err), d: x.d, err: x.err }));
    const first = failures[0] ?? { reason: 'error', message: '', retriable: true, d: d0, err: undefined };
    const next = afterFailure({
      retriable: failures.every((f) => f.retriable),
      exhausted: attemptsExhausted(delivery.retry, count),
      onExhausted: delivery.onExhausted,
      deadLetter: delivery.deadLetter,
    });
    if (next === 'retry') {
      return { kind: 'retry', attempts: attempt, delayMs: Math.max(...failures.map((f) => f.d.delayBeforeRetry(f.err, attempt))) };
    }
    const functions = failures.map((f) => f.d.target.name);
    const failure = `${first.reason}: ${first.message}`;
    if (next === 'deadLetter') {
      if (await this.#deadLetter(m, event, { reason: first.reason, message: first.message, functions, attempts: attempt })) {
        for (const f of failures) f.d.recordDeadLetter(f.reason);
        this.#accepted.delete(id);
        return DELETE;
      }
      return { kind: 'retry', attempts: attempt, delayMs: delivery.backoffMaxMs, stall: 'DeadLetterFailed', failure };
    }
    if (next === 'drop') {
      this.#log.warn({ messageId: id, attempts: attempt, reason: first.reason, functions }, 'message dropped after its retries (onExhausted: drop)');
      for (const f of failures) f.d.recordDrop(f.reason);
      this.#accepted.delete(id);
      return DELETE;
    }
    // block: nothing is lost; it comes back at the cap, the queue's redrive policy (if any)
    // applies, and status reports Stalled (docs/delivery.md#exhaustion).
    if (count.local === delivery.retry + 1 || !first.retriable) {
      this.#log.warn({ messageId: id, attempts: attempt, reason: first.reason, functions }, 'message exhausted its retries; retrying at backoffMax (onExhausted: block)');
    }
    return { kind: 'retry', attempts: attempt, delayMs: delivery.backoffMaxMs, stall: 'RetriesExhausted', failure };
  }

  #remember(id: string, fn: string): void {
    let s = this.#accepted.get(id);
    if (!s) {
      if (this.#accepted.size >= MAX_REMEMBERED) {
        const oldest = this.#accepted.keys().next().value;
        if (oldest !== undefined) this.#accepted.delete(oldest);
      }
      this.#accepted.set(id, (s = new Set()));
    }
    s.add(fn);
  }

  #resolveDeadLetter(): Promise<string> {
    const client = this.#client;
    const name = this.spec.delivery.deadLetter ?? '';
    if (!this.#deadLetterUrl) {
      const p = client ? this.#o.connections.resolve(client, this.spec.namespace, this.spec.queue, 'deadLetter', name) : Promise.reject(new Error('not started'));
      p.catch(() => {
        if (this.#deadLetterUrl === p) this.#deadLetterUrl = undefined;
      });
      this.#deadLetterUrl = p;
    }
    return this.#deadLetterUrl;
  }

  /** Sends the message to the trigger's dead-letter queue with the error as attributes; false when that failed. */
  async #deadLetter(m: Message, event: EventInput, f: { reason: string; message: string; functions: string[]; attempts: number }): Promise<boolean> {
    try {
      const url = await this.#resolveDeadLetter();
      const input: SendMessageCommandInput = {
        QueueUrl: url,
        // The event's bytes are the body's (UTF-8), byte for byte.
        MessageBody: Buffer.from(event.data.buffer, event.data.byteOffset, event.data.byteLength).toString('utf8'),
        MessageAttributes: deadLetterAttributes(m, f, { namespace: this.spec.namespace, trigger: this.spec.trigger, queueName: this.#queueName }),
      };
      if (isFifoQueue(url)) {
        input.MessageGroupId = m.Attributes?.MessageGroupId ?? this.spec.trigger;
        input.MessageDeduplicationId = m.MessageId;
      }
      await this.#client?.send(new SendMessageCommand(input));
      this.#log.warn({ messageId: m.MessageId, deadLetter: url, attempts: f.attempts, reason: f.reason }, 'message sent to the dead letter');
      return true;
    } catch (err) {
      this.#log.warn({ err: this.#classified(err, `dead-letter queue ${this.spec.delivery.deadLetter ?? ''}`), messageId: m.MessageId }, 'dead-letter send failed; retrying later');
      return false;
    }
  }
}

/** Two targets that a deliverer serves alike: the same function with the same delivery settings. */
function sameTarget(a: TargetSpec, b: TargetSpec): boolean {
  return a.function === b.function && canonical(a.delivery) === canonical(b.delivery);
}

/** A received message and the bytes it holds in the trigger's bound and in the process's budget. */
interface Held {
  m: Message;
  /** In the trigger's bound (at most a slot). */
  bytes: number;
  budgetBytes: number;
}

/** What a message holds in memory, as SQS sizes it (body and attributes, UTF-8), plus its overhead. */
export function messageBytes(m: Message): number {
  let n = MESSAGE_OVERHEAD_BYTES + Buffer.byteLength(m.Body ?? '', 'utf8');
  for (const [k, v] of Object.entries(m.MessageAttributes ?? {})) {
    n += Buffer.byteLength(k) + Buffer.byteLength(v.DataType ?? '') + (v.StringValue === undefined ? 0 : Buffer.byteLength(v.StringValue)) + (v.BinaryValue?.byteLength ?? 0);
  }
  return n;
}
