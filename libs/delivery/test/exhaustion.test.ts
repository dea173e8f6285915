import { describe, expect, it } from 'vitest';
import { afterFailure, type AfterFailure, type FailureFacts } from '../src/exhaustion.js';

describe('afterFailure: the exhaustion policy of every trigger', () => {
  const cases: [string, FailureFacts, AfterFailure][] = [
    ['retriable with retries left: retry', { retriable: true, exhausted: false, onExhausted: 'block', deadLetter: undefined }, 'retry'],
    ['retriable with retries left, dead letter set: still retry', { retriable: true, exhausted: false, onExhausted: 'deadLetter', deadLetter: 'dlq' }, 'retry'],
    ['exhausted, deadLetter with a dead letter: deadLetter', { retriable: true, exhausted: true, onExhausted: 'deadLetter', deadLetter: 'dlq' }, 'deadLetter'],
    ['exhausted, deadLetter without one: block, never a silent drop', { retriable: true, exhausted: true, onExhausted: 'deadLetter', deadLetter: undefined }, 'block'],
    ['exhausted, drop: drop', { retriable: true, exhausted: true, onExhausted: 'drop', deadLetter: 'dlq' }, 'drop'],
    ['exhausted, block: block', { retriable: true, exhausted: true, onExhausted: 'block', deadLetter: 'dlq' }, 'block'],
    ['not retriable, first attempt, deadLetter: deadLetter at once', { retriable: false, exhausted: false, onExhausted: 'deadLetter', deadLetter: 'dlq' }, 'deadLetter'],
    ['not retriable, first attempt, drop: drop at once', { retriable: false, exhausted: false, onExhausted: 'drop', deadLetter: undefined }, 'drop'],
    ['not retriable, first attempt, block: block at once', { retriable: false, exhausted: false, onExhausted: 'block', deadLetter: undefined }, 'block'],
    ['an empty dead letter name counts as none', { retriable: false, exhausted: true, onExhausted: 'deadLetter', deadLetter: '' }, 'block'],
  ];
  it.each(cases)('%s', (_name, facts, want) => {
    expect(afterFailure(facts)).toBe(want);
  });
});
