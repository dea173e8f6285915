/**
 * Shared by the Kafka benchmark's driver (kafka.mjs) and its worker processes (kafka-worker.mjs).
 */
import { performance } from 'node:perf_hooks';

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes of one machine. */
export const now = () => performance.timeOrigin + performance.now();

/** The payload of the throughput runs (small JSON, about 65 bytes), the same on every path. */
export function payload(i) {
  return JSON.stringify({ i, msg: 'hello kubeless', at: '2024-01-01T00:00:00.000Z' });
}
