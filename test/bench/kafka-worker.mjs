#!/usr/bin/env node
/**
 * The processes of the Kafka benchmark (test/bench/kafka.mjs), one role per process so each side
 * of a comparison has a process (and an event loop) of its own:
 *
 *   recorder        the function of the latency part: a node:http server on a pod IP that answers
 *                   200 at once and records `now - payload.ts` (ms, sub-ms precision);
 *                   GET /take returns and clears what was recorded
 *   kafkajs         the raw Kafka baseline: a bare kafkajs consumer (eachBatch, autoCommit) reading
 *                   N messages of a topic from the beginning, doing nothing per message
 *   kafkajs-latency a bare kafkajs consumer recording `now - payload.ts` of the produce-rate events
 *                   (Kafka alone, no HTTP: a diagnostic beside the trigger's latency)
 *   http            the raw HTTP baseline: a bare undici client POSTing N payloads to a URL with C
 *                   requests in flight (one keep-alive connection per request in flight)
 *   ceiling         a diagnostic, not a baseline: a bare kafkajs consumer (eachBatch, autoCommit)
 *                   handing each message to undici's dispatch with the kafka-trigger's headers, C
 *                   requests in flight, each batch awaited before the next fetch. What the trigger
 *                   does minus its guarantees: no offset commit per delivered prefix (autoCommit
 *                   commits after batches, whatever was delivered), no window of delivered but
 *                   uncommitted messages, no retries, no bookkeeping
 *   produce-rate    a producer sending R events/s for D s, each with its produce time in the payload
 *   direct-rate     an undici client POSTing R events/s for D s, each with its send time in the payload
 *
 * Each role prints one JSON line (its result) on stdout and exits; the recorder prints its address.
 * Times are `now()` of kafka-common.mjs: wall-clock ms with sub-ms resolution.
 */
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import kafkajs from './kafkajs.mjs';
import { Agent } from 'undici';
import { now, payload } from './kafka-common.mjs';

const { values: a } = parseArgs({
  options: {
    role: { type: 'string' },
    brokers: { type: 'string', default: '' },
    topic: { type: 'string', default: '' },
    group: { type: 'string', default: '' },
    messages: { type: 'string', default: '0' },
    concurrency: { type: 'string', default: '100' },
    partitionsConcurrency: { type: 'string', default: '16' },
    /** The kafka-trigger's fetch settings (its KAFKA_MAX_FETCH_BYTES_PER_PARTITION and KAFKA_FETCH_MAX_WAIT defaults). */
    fetchBytesPerPartition: { type: 'string', default: String(256 * 1024) },
    fetchMaxWaitMs: { type: 'string', default: '5000' },
    url: { type: 'string', default: '' },
    ip: { type: 'string', default: '127.0.0.1' },
    rate: { type: 'string', default: '1000' },
    duration: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '1' },
    keys: { type: 'string', default: '0' },
    /** `cloudevents`: the http role sends each payload with the headers the kafka-trigger sends (diagnostic). */
    headers: { type: 'string', default: 'plain' },
    /** The `slow` role: how long each call takes, and the first attempt of every n-th offset fails (0: none). */
    'delay-ms': { type: 'string', default: '50' },
    'fail-every': { type: 'string', default: '0' },
  },
});
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
/** FNV-1a of a string (32 bits). */
const fnv1a = (text) => {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
};
/** Tells one producing run's events from another's (the recorder counts duplicates by run and index). */
const RUN = `${String(process.pid)}-${String(Date.now())}`;
const kafka = () => new kafkajs.Kafka({ clientId: 'kubeless-bench', brokers: a.brokers.split(','), logLevel: kafkajs.logLevel.NOTHING });
/** A consumer of group `a.group` with the kafka-trigger's fetch settings. */
const triggerLikeConsumer = () =>
  kafka().consumer({ groupId: a.group, maxBytes: 4 * 1024 * 1024, maxBytesPerPartition: Number(a.fetchBytesPerPartition), maxWaitTimeInMs: Number(a.fetchMaxWaitMs) });
/** As the kafka-trigger's DeliveryClient: one Agent, no connection cap (the in-flight bound caps them). */
const triggerLikeAgent = () => new Agent({ keepAliveTimeout: 30_000, connections: null });

/** The kafka-trigger's 14 headers for one message: binary CloudEvent, original kubeless event-*, user-agent. */
function triggerHeaders({ partition, offset, time, topic, source }) {
  const id = `partition:${partition}/offset:${offset}`;
  return {
    'content-type': 'application/json',
    'ce-id': id,
    'ce-time': time,
    'ce-type': 'io.kubeless.kafka.message',
    'ce-source': source,
    'ce-specversion': '1.0',
    'ce-kafkapartition': partition,
    'ce-kafkaoffset': offset,
    'event-id': id,
    'event-time': time,
    'event-type': 'application/json',
    'event-namespace': 'kafkatriggers.kubeless.io',
    'event-topic': topic,
    'user-agent': 'kubeless-kafka-trigger/bench',
  };
}

/**
 * Sends `send(phase)` at `rate` per second for `warmupS + durationS` seconds, on a 1 ms tick: each
 * tick sends what is due (usually one or two), so events are spread, not bursts. `phase` is 'w'
 * during the warm-up, 'm' while measured.
 */
async function paced(rate, warmupS, durationS, send) {
  const t0 = now();
  const end = t0 + (warmupS + durationS) * 1000;
  let sent = 0;
  let measured = 0;
  const pending = new Set();
  for (;;) {
    const t = now();
    if (t >= end) break;
    const due = Math.floor(((t - t0) / 1000) * rate) - sent;
    if (due > 0) {
      const phase = t - t0 < warmupS * 1000 ? 'w' : 'm';
      const p = send(phase, due).catch(() => undefined);
      pending.add(p);
      void p.finally(() => pending.delete(p));
      sent += due;
      if (phase === 'm') measured += due;
    }
    await sleep(1);
  }
  await Promise.all(pending);
  return { sent, measured, elapsedS: (now() - t0) / 1000 };
}

switch (a.role) {
  case 'recorder': {
    let recorded = [];
    let kafkaCount = 0;
    let directCount = 0;
    // A second delivery of the same event is counted, not recorded: its latency is not the event's.
    let seen = new Set();
    let duplicates = 0;
    const server = createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/take') {
        const body = JSON.stringify({ latencies: recorded, kafka: kafkaCount, direct: directCount, duplicates });
        recorded = [];
        kafkaCount = 0;
        directCount = 0;
        duplicates = 0;
        if (seen.size > 1_000_000) seen = new Set();
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(body);
        return;
      }
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const at = now();
        res.writeHead(200);
        res.end();
        try {
          const p = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          if (req.headers['ce-id'] !== undefined) kafkaCount++;
          else directCount++;
          if (p.p === 'm' && typeof p.ts === 'number') {
            const key = `${req.headers['ce-id'] === undefined ? 'd' : 'k'}${String(p.run)}/${String(p.i)}`;
            if (seen.has(key)) duplicates++;
            else {
              seen.add(key);
              recorded.push(at - p.ts);
            }
          }
        } catch {
          // not a benchmark payload
        }
      });
    });
    server.keepAliveTimeout = 60_000;
    server.listen(0, a.ip, () => {
      const { port } = server.address();
      process.stdout.write(`recorder listening on http://${a.ip}:${String(port)}\n`);
    });
    process.on('SIGTERM', () => {
      server.closeAllConnections();
      server.close();
      process.exit(0);
    });
    break;
  }

  case 'slow': {
    // A function of some cost (--delay-ms per call) whose first attempt of one record in
    // --fail-every answers 500 (the trigger retries it after its backoff). GET /stats: distinct events
    // accepted, failed calls, and the first and last acceptance times.
    const delay = Number(a['delay-ms']);
    const every = Number(a['fail-every']);
    const seen = new Set();
    let accepted = 0;
    let failed = 0;
    let first;
    let last;
    const server = createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/stats') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ accepted, failed, first, last }));
        return;
      }
      if (req.method === 'POST' && req.url === '/reset') {
        seen.clear();
        accepted = 0;
        failed = 0;
        first = undefined;
        last = undefined;
        res.end();
        return;
      }
      req.resume();
      req.on('end', () => {
        setTimeout(() => {
          const id = String(req.headers['ce-id'] ?? '');
          const firstAttempt = !seen.has(id);
          seen.add(id);
          // Which records fail is a hash of the event id, not its offset or index: those follow
          // the keys' round-robin, so some keys would fail on every record and others never.
          if (every > 0 && firstAttempt && fnv1a(id) % every === 0) {
            failed++;
            res.writeHead(500);
            res.end();
            return;
          }
          if (firstAttempt || !seen.has(`ok:${id}`)) {
            seen.add(`ok:${id}`);
            accepted++;
            first ??= now();
            last = now();
          }
          res.writeHead(200);
          res.end();
        }, delay);
      });
    });
    server.keepAliveTimeout = 60_000;
    server.listen(0, a.ip, () => {
      const { port } = server.address();
      process.stdout.write(`slow function listening on http://${a.ip}:${String(port)}\n`);
    });
    process.on('SIGTERM', () => {
      server.closeAllConnections();
      server.close();
      process.exit(0);
    });
    break;
  }

  case 'kafkajs': {
    const n = Number(a.messages);
    // The same fetch settings and partition concurrency as the kafka-trigger's consumer.
    const consumer = triggerLikeConsumer();
    // The window opens with the first fetch request: a whole small topic can come in one response.
    let firstFetch;
    consumer.on(consumer.events.FETCH_START, () => (firstFetch ??= now()));
    await consumer.connect();
    await consumer.subscribe({ topics: [a.topic], fromBeginning: true });
    let count = 0;
    let firstBatch;
    let last;
    let done;
    const finished = new Promise((resolve) => (done = resolve));
    await consumer.run({
      autoCommit: true,
      partitionsConsumedConcurrently: Number(a.partitionsConcurrency),
      eachBatch: async ({ batch }) => {
        firstBatch ??= now();
        count += batch.messages.length;
        if (count >= n) {
          last ??= now();
          done();
        }
        await Promise.resolve();
      },
    });
    await Promise.race([finished, sleep(600_000)]);
    const end = last ?? now();
    out({ count, elapsedMs: end - (firstFetch ?? end), fromFirstBatchMs: end - (firstBatch ?? end) });
    await consumer.disconnect();
    process.exit(0);
    break;
  }

  case 'kafkajs-latency': {
    // Kafka alone at a fixed rate: produce -> a bare consumer (eachBatch), no HTTP. Diagnostic only.
    const n = Number(a.messages);
    const consumer = triggerLikeConsumer();
    await consumer.connect();
    await consumer.subscribe({ topics: [a.topic], fromBeginning: true });
    const latencies = [];
    let probes = 0;
    let lastAt = 0;
    // Its event loop's delay, as prom-client measures the trigger's (10 ms resolution), to tell
    // stalls of the machine (both see them) from the trigger's own.
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    // This process's CPU from the first measured event to the last (what Kafka alone costs a
    // consumer per event at this rate, beside the trigger's figure).
    let cpuFirst;
    let cpuLast;
    await consumer.run({
      autoCommit: true,
      partitionsConsumedConcurrently: Number(a.partitionsConcurrency),
      eachBatch: async ({ batch }) => {
        const at = now();
        for (const m of batch.messages) {
          const p = JSON.parse(m.value?.toString('utf8') ?? '{}');
          if (p.p === 'm') {
            latencies.push(at - p.ts);
            lastAt = at;
          }
          else if (p.p === 'probe' && probes++ === 0) process.stdout.write('joined\n');
        }
        if (lastAt === at) {
          cpuLast = process.cpuUsage();
          cpuFirst ??= cpuLast;
        }
        await Promise.resolve();
      },
    });
    // Done when `n` measured events came, when they stopped coming for 3 s (the producer's tick
    // rounding may send one or two fewer), or well after the producer must have finished.
    const deadline = now() + (120 + Number(a.warmup) + Number(a.duration)) * 1000;
    while (latencies.length < n && now() < deadline && !(lastAt > 0 && now() - lastAt > 3000)) await sleep(100);
    const cpuUs = cpuFirst && cpuLast ? cpuLast.user + cpuLast.system - cpuFirst.user - cpuFirst.system : undefined;
    out({ latencies, cpuUsPerEvent: cpuUs !== undefined && latencies.length > 1 ? cpuUs / (latencies.length - 1) : undefined, loopP99Ms: loop.percentile(99) / 1e6, loopMaxMs: loop.max / 1e6 });
    await consumer.disconnect();
    process.exit(0);
    break;
  }

  case 'http': {
    const n = Number(a.messages);
    const c = Number(a.concurrency);
    const url = new URL(a.url);
    const agent = triggerLikeAgent();
    const bodies = Array.from({ length: n }, (_, i) => payload(i));
    // With `--headers cloudevents`: the kafka-trigger's headers for message i (over 4 partitions).
    const time = new Date().toISOString();
    const source = '/apis/v1/namespaces/bench/kafkatriggers/tput#bench-topic';
    const headersOf =
      a.headers === 'cloudevents'
        ? (i) => triggerHeaders({ partition: String(i % 4), offset: String(Math.floor(i / 4)), time, topic: 'bench-topic', source })
        : () => ({ 'content-type': 'application/json' });
    let next = 0;
    let failed = 0;
    const t0 = now();
    await Promise.all(
      Array.from({ length: c }, async () => {
        while (next < n) {
          const i = next++;
          const res = await agent.request({ origin: url.origin, path: '/', method: 'POST', headers: headersOf(i), body: bodies[i] });
          await res.body.dump();
          if (res.statusCode >= 300) failed++;
        }
      }),
    );
    out({ count: n, failed, elapsedMs: now() - t0 });
    await agent.close();
    process.exit(0);
    break;
  }

  case 'ceiling': {
    const n = Number(a.messages);
    const c = Number(a.concurrency);
    const url = new URL(a.url);
    const agent = triggerLikeAgent();
    // The same fetch settings and partition concurrency as the kafka-trigger's consumer.
    const consumer = triggerLikeConsumer();
    await consumer.connect();
    await consumer.subscribe({ topics: [a.topic], fromBeginning: true });
    // Stopped from outside (beside a trigger at a fixed rate): leave the group, so it can be deleted.
    process.once('SIGTERM', () => {
      void consumer.disconnect().finally(() => process.exit(0));
    });
    let count = 0;
    let failed = 0;
    let inFlight = 0;
    const waiting = [];
    let done;
    const finished = new Promise((resolve) => (done = resolve));
    const t0 = now();
    // A minimal handler: the status decides, the body is ignored (as the trigger's own handler).
    const deliver = (headers, body) =>
      new Promise((resolve) => {
        let status = 0;
        agent.dispatch(
          { origin: url.origin, path: '/', method: 'POST', headers, body },
          {
            onRequestStart() {
              // nothing to keep: the request cannot be aborted from here
            },
            onResponseStart(_controller, code) {
              status = code;
            },
            onResponseData() {
              // the body is not read: the status decided
            },
            onResponseEnd() {
              if (status >= 300) failed++;
              resolve();
            },
            onResponseError() {
              failed++;
              resolve();
            },
          },
        );
      });
    await consumer.run({
      autoCommit: true,
      partitionsConsumedConcurrently: Number(a.partitionsConcurrency),
      eachBatch: async ({ batch }) => {
        const source = `/apis/v1/namespaces/bench/kafkatriggers/ceiling#${batch.topic}`;
        const partition = String(batch.partition);
        const sends = [];
        for (const m of batch.messages) {
          while (inFlight >= c) await new Promise((resolve) => waiting.push(resolve));
          inFlight++;
          const headers = triggerHeaders({ partition, offset: m.offset, time: new Date(Number(m.timestamp)).toISOString(), topic: batch.topic, source });
          sends.push(
            deliver(headers, m.value ?? Buffer.alloc(0)).finally(() => {
              inFlight--;
              if (++count >= n) done();
              waiting.shift()?.();
            }),
          );
        }
        await Promise.all(sends);
      },
    });
    await Promise.race([finished, sleep(600_000)]);
    out({ count, failed, elapsedMs: now() - t0 });
    await consumer.disconnect();
    await agent.close();
    process.exit(0);
    break;
  }

  case 'produce-rate': {
    const producer = kafka().producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const keys = Number(a.keys);
    let i = 0;
    const r = await paced(Number(a.rate), Number(a.warmup), Number(a.duration), async (phase, count) => {
      const ts = now();
      // Keyed over `keys` keys (key-ordered), else no key (the partitioner spreads them round-robin).
      const messages = Array.from({ length: count }, () => {
        const n = i++;
        return { key: keys > 0 ? `k${String(n % keys)}` : null, value: JSON.stringify({ i: n, run: RUN, msg: 'hello kubeless', p: phase, ts }) };
      });
      await producer.send({ topic: a.topic, acks: -1, messages });
    });
    out(r);
    await producer.disconnect();
    process.exit(0);
    break;
  }

  case 'direct-rate': {
    const url = new URL(a.url);
    const agent = triggerLikeAgent();
    let i = 0;
    let failed = 0;
    const r = await paced(Number(a.rate), Number(a.warmup), Number(a.duration), async (phase, count) => {
      await Promise.all(
        Array.from({ length: count }, async () => {
          const body = JSON.stringify({ i: i++, run: RUN, msg: 'hello kubeless', p: phase, ts: now() });
          const res = await agent.request({ origin: url.origin, path: '/', method: 'POST', headers: { 'content-type': 'application/json' }, body });
          await res.body.dump();
          if (res.statusCode >= 300) failed++;
        }),
      );
    });
    out({ ...r, failed });
    await agent.close();
    process.exit(0);
    break;
  }

  default:
    process.stderr.write(`unknown role ${String(a.role)}\n`);
    process.exit(2);
}
