import { describe, expect, it } from 'vitest';
import { MIN_RETRY_DELAY_MS, backoffDelay, retryDelay, type BackoffSettings } from '../src/index.js';

const exp: BackoffSettings = { policy: 'exponential', delayMs: 1000, maxMs: 60_000 };
const lin: BackoffSettings = { policy: 'linear', delayMs: 500, maxMs: 2000 };
const zero = (): number => 0;
const almostOne = (): number => 0.999_999;

describe('backoffDelay, exponential with full jitter', () => {
  it('draws from [floor, delay * 2^(retry-1))', () => {
    for (const [retry, ceiling] of [
      [1, 1000],
      [2, 2000],
      [3, 4000],
      [4, 8000],
      [6, 32_000],
    ] as const) {
      expect(backoffDelay(exp, retry, zero)).toBe(MIN_RETRY_DELAY_MS);
      const high = backoffDelay(exp, retry, almostOne);
      expect(high).toBeLessThan(ceiling);
      expect(high).toBeGreaterThanOrEqual(ceiling - 1);
    }
  });

  it('scales linearly with the random draw', () => {
    expect(backoffDelay(exp, 3, () => 0.5)).toBe(2000);
    expect(backoffDelay(exp, 3, () => 0.25)).toBe(1000);
  });

  it('caps the ceiling at maxMs, even for huge retry numbers', () => {
    expect(backoffDelay(exp, 7, almostOne)).toBeLessThan(60_000);
    expect(backoffDelay(exp, 7, almostOne)).toBeGreaterThanOrEqual(59_999);
    const far = backoffDelay(exp, 10_000, almostOne);
    expect(Number.isFinite(far)).toBe(true);
    expect(far).toBeLessThan(60_000);
    expect(far).toBeGreaterThanOrEqual(59_999);
  });

  it('treats retry < 1 as the first retry', () => {
    expect(backoffDelay(exp, 0, almostOne)).toBeLessThan(1000);
    expect(backoffDelay(exp, -3, almostOne)).toBeGreaterThanOrEqual(999);
  });

  it('stays within bounds with the real Math.random', () => {
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(exp, 3);
      expect(d).toBeGreaterThanOrEqual(MIN_RETRY_DELAY_MS);
      expect(d).toBeLessThan(4000);
      expect(Number.isInteger(d)).toBe(true);
    }
  });
});

describe('backoffDelay, linear', () => {
  it('is delay * retry without jitter, capped', () => {
    expect(backoffDelay(lin, 1, zero)).toBe(500);
    expect(backoffDelay(lin, 2, zero)).toBe(1000);
    expect(backoffDelay(lin, 3, almostOne)).toBe(1500);
    expect(backoffDelay(lin, 4)).toBe(2000);
    expect(backoffDelay(lin, 50)).toBe(2000);
  });
});

describe('the floor under every wait (backoffMax: 0s must not spin)', () => {
  it('is 10 ms', () => {
    expect(MIN_RETRY_DELAY_MS).toBe(10);
  });

  it.each([
    ['exponential, 0s delay', { policy: 'exponential', delayMs: 0, maxMs: 0 }],
    ['exponential, 0s max', { policy: 'exponential', delayMs: 1000, maxMs: 0 }],
    ['linear, 0s delay', { policy: 'linear', delayMs: 0, maxMs: 60_000 }],
    ['linear, 0s max', { policy: 'linear', delayMs: 500, maxMs: 0 }],
    ['linear, 1 ms', { policy: 'linear', delayMs: 1, maxMs: 1 }],
  ] as [string, BackoffSettings][])('holds for %s, at every retry and draw', (_name, s) => {
    for (const retry of [0, 1, 2, 10, 1000]) {
      for (const random of [zero, almostOne]) {
        expect(backoffDelay(s, retry, random)).toBe(MIN_RETRY_DELAY_MS);
        expect(retryDelay(s, retry, undefined, random)).toBe(MIN_RETRY_DELAY_MS);
        expect(retryDelay(s, retry, 0, random)).toBe(MIN_RETRY_DELAY_MS);
      }
    }
  });
});

describe('retryDelay', () => {
  it('is the backoff when the function sent no Retry-After', () => {
    expect(retryDelay(exp, 2, undefined, () => 0.5)).toBe(1000);
    expect(retryDelay(lin, 2, undefined)).toBe(1000);
  });

  it('is never less than Retry-After', () => {
    expect(retryDelay(exp, 1, 5000, almostOne)).toBe(5000);
    expect(retryDelay(lin, 1, 1200)).toBe(1200);
  });

  it('keeps a longer backoff over a shorter Retry-After', () => {
    expect(retryDelay(lin, 3, 100)).toBe(1500);
    expect(retryDelay(exp, 4, 0, () => 0.5)).toBe(4000);
  });
});
