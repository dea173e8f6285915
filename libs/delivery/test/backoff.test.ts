import { describe, expect, it } from 'vitest';
import { backoffDelay, retryDelay, type BackoffSettings } from '../src/index.js';

const exp: BackoffSettings = { policy: 'exponential', delayMs: 1000, maxMs: 60_000 };
const lin: BackoffSettings = { policy: 'linear', delayMs: 500, maxMs: 2000 };
const zero = (): number => 0;
const almostOne = (): number => 0.999_999;

describe('backoffDelay, exponential with full jitter', () => {
  it('draws from [0, delay * 2^(retry-1))', () => {
    for (const [retry, ceiling] of [
      [1, 1000],
      [2, 2000],
      [3, 4000],
      [4, 8000],
      [6, 32_000],
    ] as const) {
      expect(backoffDelay(exp, retry, zero)).toBe(0);
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
      expect(d).toBeGreaterThanOrEqual(0);
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
