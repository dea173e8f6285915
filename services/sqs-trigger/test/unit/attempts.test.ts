import { describe, expect, it } from 'vitest';
import { AttemptLedger, attemptsExhausted } from '../../src/runner/attempts.js';

describe('AttemptLedger', () => {
  it('counts a first receive as attempt 1 and keeps no entry for it', () => {
    const l = new AttemptLedger();
    expect(l.count('m', 1)).toEqual({ attempt: 1, local: 1 });
    expect(l.size).toBe(0);
  });

  it('does not count receives given back unprocessed (a FIFO follower waiting behind a failing head)', () => {
    const l = new AttemptLedger();
    // Given back four times while the head failed: the fifth receive is its first attempt.
    for (let i = 0; i < 4; i++) l.gaveBack('m2');
    expect(l.count('m2', 5)).toEqual({ attempt: 1, local: 1 });
    l.failed('m2');
    expect(l.count('m2', 6)).toEqual({ attempt: 2, local: 2 });
  });

  it('counts receives it did not see (another replica, or before a restart) as attempts, never below its own', () => {
    const l = new AttemptLedger();
    expect(l.count('m', 3)).toEqual({ attempt: 3, local: 1 });
    l.failed('m');
    l.failed('m');
    // An approximate receive count lower than what this process saw.
    expect(l.count('m', 1)).toEqual({ attempt: 3, local: 3 });
  });

  it('forgets a deleted message', () => {
    const l = new AttemptLedger();
    l.failed('m');
    l.forget('m');
    expect(l.size).toBe(0);
    expect(l.count('m', 2)).toEqual({ attempt: 2, local: 1 });
  });

  it('keeps at most maxEntries, evicting the message not seen for longest', () => {
    const l = new AttemptLedger(2);
    l.failed('a');
    l.failed('b');
    l.gaveBack('a');
    l.failed('c');
    expect(l.size).toBe(2);
    expect(l.count('b', 2).local).toBe(1);
    expect(l.count('a', 3).local).toBe(2);
  });
});

describe('attemptsExhausted', () => {
  it('retry 2: exhausted at the third failed attempt made here', () => {
    expect(attemptsExhausted(2, { attempt: 2, local: 2 })).toBe(false);
    expect(attemptsExhausted(2, { attempt: 3, local: 3 })).toBe(true);
  });

  it('after a restart (give-backs unknown) a message still gets retry + 1 attempts, unless its receive count reaches 2 x (retry + 1)', () => {
    // The stopped replica gave it back 3 times: receive 4 is its first attempt here.
    expect(attemptsExhausted(2, { attempt: 4, local: 1 })).toBe(false);
    expect(attemptsExhausted(2, { attempt: 5, local: 2 })).toBe(false);
    expect(attemptsExhausted(2, { attempt: 6, local: 3 })).toBe(true);
    // Far beyond: 6 receives and nothing known here.
    expect(attemptsExhausted(2, { attempt: 6, local: 1 })).toBe(true);
  });

  it('retry 0: the first failure exhausts', () => {
    expect(attemptsExhausted(0, { attempt: 1, local: 1 })).toBe(true);
  });
});
