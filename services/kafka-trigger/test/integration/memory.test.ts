/**
 * One memory budget per kafka-trigger process (docs/delivery.md#back-pressure; issue 19): 20 triggers on slow
 * functions, each topic full of 512 KiB records, all consumed by one controller process whose
 * MEMORY_BUDGET_BYTES is 16 MiB. Each consumer alone would hold 2 MiB (a fetch of one record per
 * partition); together they would hold 40 MiB. The process's own count of the bytes it holds
 * (fetches on the wire, batches being delivered or waiting for a retry) never passes the budget,
 * and everything is delivered. The process's peak RSS is printed beside it.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { uniqueName, withNamespace } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder, createTopic, eventually, kafka, kafkaTrigger, kubeClient, registerFunction, spawnController, triggersPath } from './harness.js';

const MiB = 1024 * 1024;
const BUDGET = 16 * MiB;
const TRIGGERS = 20;
const PARTITIONS = 4;
const PER_PARTITION = 2;
const RECORD = 512 * 1024;

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => {
        resolve(port);
      });
    });
  });

/** VmRSS and VmHWM (peak) of a process, in bytes. */
const memoryOf = (pid: number): { rss: number; peak: number } => {
  const status = readFileSync(`/proc/${String(pid)}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'mu').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
};

const budgetMetric = async (port: number, state: string): Promise<number | undefined> => {
  const res = await fetch(`http://127.0.0.1:${String(port)}/metrics`);
  const text = await res.text();
  const m = new RegExp(`^kubeless_kafka_memory_budget_bytes\\{state="${state}"\\} (\\d+)`, 'mu').exec(text);
  return m ? Number(m[1]) : undefined;
};

describe('kafka-trigger memory budget', () => {
  const client = kubeClient();
  let ns: { name: string; cleanup: () => Promise<void> };
  let child: ChildProcess | undefined;
  const fns: Recorder[] = [];

  beforeAll(async () => {
    ns = await withNamespace('kafka-memory');
  });

  afterAll(async () => {
    if (child?.exitCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    for (const f of fns) await f.close();
    await ns.cleanup();
    client.close();
  });

  it('keeps the bytes 20 triggers hold under MEMORY_BUDGET_BYTES, and delivers everything', async () => {
    const topics = Array.from({ length: TRIGGERS }, (_, i) => uniqueName(`mem${String(i)}`));
    for (const [i, topic] of topics.entries()) {
      await createTopic(topic, PARTITIONS);
      const fn = new Recorder();
      // Slow: each batch stays in memory for a second while its records are delivered.
      fn.behaviour = () => ({ status: 200, delayMs: 1000 });
      fns.push(fn);
      await registerFunction(client, ns.name, `mem-${String(i)}`, fn);
      await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, `mem-${String(i)}`, { topic, functionName: `mem-${String(i)}`, initialOffset: 'earliest', delivery: { ordering: 'unordered', maxInFlight: 100, timeout: '10s' } }));
    }
    const port = await freePort();
    child = spawnController(ns.name, 'memory-0', { MEMORY_BUDGET_BYTES: String(BUDGET), HEALTH_PORT: String(port) });
    const pid = child.pid ?? 0;
    await eventually('the controller serves its metrics', async () => (await budgetMetric(port, 'limit').catch(() => undefined)) === BUDGET || undefined, 30_000);
    // Every consumer joined (and so fetches) before the records arrive.
    const admin = kafka().admin();
    await admin.connect();
    try {
      await eventually(
        'all groups stable',
        async () => {
          const { groups } = await admin.describeGroups(topics.map((_, i) => `kubeless.${ns.name}.mem-${String(i)}.mem-${String(i)}`));
          return groups.every((g) => g.state === 'Stable') ? true : undefined;
        },
        60_000,
      );
    } finally {
      await admin.disconnect();
    }
    const before = memoryOf(pid);
    // One record per send: two 512 KiB records in one batch would pass the broker's 1 MiB limit.
    const producer = kafka().producer();
    await producer.connect();
    try {
      for (const topic of topics) {
        for (let p = 0; p < PARTITIONS; p++) {
          for (let n = 0; n < PER_PARTITION; n++) await producer.send({ topic, acks: -1, messages: [{ value: randomBytes(RECORD), partition: p }] });
        }
      }
    } finally {
      await producer.disconnect();
    }
    const perTrigger = PARTITIONS * PER_PARTITION;
    await eventually(`${String(TRIGGERS * perTrigger)} delivered`, () => Promise.resolve(fns.every((f) => f.ids.size >= perTrigger) ? true : undefined), 180_000);
    const highWater = await budgetMetric(port, 'high_water');
    const after = memoryOf(pid);
    console.info(
      `memory budget: limit ${String(BUDGET / MiB)} MiB, high-water ${((highWater ?? 0) / MiB).toFixed(1)} MiB; RSS ${(before.rss / MiB).toFixed(0)} MiB before the records, peak ${(after.peak / MiB).toFixed(0)} MiB (${((after.peak - before.rss) / MiB).toFixed(0)} MiB more); ${String(TRIGGERS * perTrigger)} records of ${String(RECORD / 1024)} KiB`,
    );
    for (const f of fns) expect(new Set(f.received.map((r) => r.body.length))).toEqual(new Set([RECORD]));
    // It held something (the count is live), and never more than the budget.
    expect(highWater).toBeGreaterThanOrEqual(2 * RECORD);
    expect(highWater).toBeLessThanOrEqual(BUDGET);
    // And the process stayed well inside the chart's memory limit for it (kafkaTrigger.resources.limits.memory, 512 Mi)
    // while 20 triggers would hold 40 MiB of records without the budget.
    expect(after.peak).toBeLessThan(512 * MiB);
  }, 300_000);
});
