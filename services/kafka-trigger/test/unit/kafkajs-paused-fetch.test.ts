import { createRequire } from 'node:module';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { mendKafkajsPausedFetch } from '../../src/kafkajs-paused-fetch.js';

interface Group {
  fetch(nodeId: number): Promise<unknown[]>;
  seek(s: { topic: string; partition: number; offset: string }): void;
  pause(tp: { topic: string; partitions: number[] }[]): void;
  resume(tp: { topic: string; partitions: number[] }[]): void;
}

const require = createRequire(import.meta.url);
const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** kafkajs's own consumer group and subscription state, holding t[0] and t[1], every partition paused; metadata calls are counted. */
function group(): { g: Group; refreshed: () => number; seeks: unknown[] } {
  const ConsumerGroup = require('kafkajs/src/consumer/consumerGroup.js') as { prototype: Group };
  const SubscriptionState = require('kafkajs/src/consumer/subscriptionState.js') as new () => { assign(a: { topic: string; partitions: number[] }[]): void };
  const subscriptionState = new SubscriptionState();
  subscriptionState.assign([{ topic: 't', partitions: [0, 1] }]);
  let refreshes = 0;
  const seeks: unknown[] = [];
  const SeekOffsets = require('kafkajs/src/consumer/seekOffsets.js') as new () => unknown;
  const g = Object.assign(Object.create(ConsumerGroup.prototype) as Group, {
    maxWaitTime: 5000,
    logger: silent,
    subscriptionState,
    cluster: {
      refreshMetadataIfNecessary: () => {
        refreshes++;
        return Promise.resolve();
      },
    },
    checkForStaleAssignment: () => undefined,
    seekOffset: new SeekOffsets(),
    offsetManager: {
      seek: (s: unknown) => {
        seeks.push(s);
        return Promise.resolve();
      },
      resolveOffsets: () => Promise.resolve(),
    },
  });
  g.pause([{ topic: 't', partitions: [0, 1] }]);
  return { g, refreshed: () => refreshes, seeks };
}

describe('the kafkajs paused-fetch fix', () => {
  beforeAll(() => {
    expect(mendKafkajsPausedFetch()).toBe(true);
  });
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a fetch with every partition paused returns as soon as one is resumed, not after maxWaitTime (kafkajs 2.2.4 slept through it)', async () => {
    const { g, refreshed } = group();
    let settled = false;
    const fetched = g.fetch(0).then((r) => {
      settled = true;
      return r;
    });
    await vi.advanceTimersByTimeAsync(100);
    expect(settled).toBe(false);
    g.resume([{ topic: 't', partitions: [1] }]);
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(true);
    expect(await fetched).toEqual([]);
    // The metadata was refreshed first, as kafkajs's own fetch does.
    expect(refreshed()).toBe(1);
  });

  it('without a resume it waits maxWaitTime, as kafkajs did, and no longer', async () => {
    const { g } = group();
    let settled = false;
    void g.fetch(0).then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(4900);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(200);
    expect(settled).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('applies a seek of a paused partition during the wait, as kafkajs did (admin.setOffsets commits its seek that way)', async () => {
    const { g, seeks } = group();
    g.seek({ topic: 't', partition: 1, offset: '42' });
    void g.fetch(0);
    await vi.advanceTimersByTimeAsync(0);
    expect(seeks).toEqual([{ topic: 't', partition: 1, offset: '42' }]);
    await vi.advanceTimersByTimeAsync(5000);
  });
});
