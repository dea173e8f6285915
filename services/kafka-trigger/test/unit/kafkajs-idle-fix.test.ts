import { createRequire } from 'node:module';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { mendKafkajsIdleLoop } from '../../src/kafkajs-idle-fix.js';

interface Queue {
  throttleCheckTimeoutId: unknown;
  push(r: { entry: Record<string, unknown>; expectResponse: boolean; sendRequest: () => void; requestTimeout?: number }): void;
  fulfillRequest(r: { correlationId: number; payload: Buffer; size: number }): void;
  maybeThrottle(ms: number): void;
  scheduleRequestTimeoutCheck(): void;
  destroy(): void;
}

const require = createRequire(import.meta.url);
const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** kafkajs's own request queue (the fix replaces two of its methods), with requests the test answers by hand. */
function queue(maxInFlightRequests = 10): { q: Queue; sent: number[]; request: (id: number) => Promise<unknown> } {
  const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as new (o: Record<string, unknown>) => Queue;
  const q = new RequestQueue({ maxInFlightRequests, requestTimeout: 30_000, enforceRequestTimeout: true, clientId: 'test', broker: 'b:9092', logger: silent, isConnected: () => true });
  const sent: number[] = [];
  const request = (id: number): Promise<unknown> =>
    new Promise((resolve, reject) => {
      q.push({ entry: { correlationId: id, apiName: 'Fetch', apiKey: 1, apiVersion: 11, resolve, reject }, expectResponse: true, sendRequest: () => sent.push(id) });
    });
  return { q, sent, request };
}

describe('the kafkajs idle-loop fix', () => {
  beforeAll(() => {
    expect(mendKafkajsIdleLoop()).toBe(true);
  });
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('arms no timer on a connection with nothing waiting (kafkajs 2.2.4 polled it every millisecond)', async () => {
    const { q, sent, request } = queue();
    const answered = request(1);
    expect(sent).toEqual([1]);
    q.fulfillRequest({ correlationId: 1, payload: Buffer.alloc(0), size: 0 });
    await answered;
    expect(q.throttleCheckTimeoutId).toBeNull();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('still sends a request held back by the in-flight limit as soon as one in flight is answered', () => {
    const { q, sent, request } = queue(1);
    void request(1);
    void request(2);
    expect(sent).toEqual([1]);
    q.fulfillRequest({ correlationId: 1, payload: Buffer.alloc(0), size: 0 });
    expect(sent).toEqual([1, 2]);
  });

  it('sends a request held back by a broker throttle when the throttle ends, not before', () => {
    const { q, sent, request } = queue();
    q.maybeThrottle(500);
    void request(1);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(450);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(100);
    expect(sent).toEqual([1]);
  });

  it('times out a request in flight past the request timeout, within a second of it', async () => {
    const { q, request } = queue();
    q.scheduleRequestTimeoutCheck();
    const answered = request(1).then(
      () => 'answered',
      (err: unknown) => (err as Error).name,
    );
    vi.advanceTimersByTime(29_900);
    vi.advanceTimersByTime(1_200);
    expect(await answered).toBe('KafkaJSRequestTimeoutError');
    q.destroy();
    expect(vi.getTimerCount()).toBe(0);
  });
});
