import { describe, expect, it } from 'vitest';
import { endOfLifeHint, retiredRuntime } from '../src/index.js';

const SUPPORTED = ['nodejs22', 'nodejs24', 'nodejs26', 'python3.11', 'python3.12', 'python3.13'];

describe('retiredRuntime', () => {
  it.each([
    ['nodejs20', 'Node.js 20 reached end of life in April 2026', 'nodejs24'],
    ['nodejs18', 'Node.js 18 reached end of life in April 2025', 'nodejs24'],
    ['nodejs16', 'Node.js 16 reached end of life in September 2023', 'nodejs24'],
    ['nodejs12', 'Node.js 12 reached end of life in April 2022', 'nodejs24'],
    ['nodejs6', 'Node.js 6 reached end of life', 'nodejs24'],
    ['nodejs23', 'Node.js 23 reached end of life in June 2025', 'nodejs24'],
    ['python2.7', 'Python 2.7 reached end of life in January 2020', 'python3.13'],
    ['python3.6', 'Python 3.6 reached end of life in December 2021', 'python3.13'],
    ['python3.10', 'Python 3.10 reached end of life in October 2026', 'python3.13'],
    ['python3.4', 'Python 3.4 reached end of life', 'python3.13'],
  ])('%s is retired', (id, why, use) => {
    expect(retiredRuntime(id)).toEqual({ why, use });
  });

  it.each(['nodejs22', 'nodejs24', 'nodejs26', 'nodejs27', 'python3.11', 'python3.13', 'python3.14', 'go1.22', 'nodejs', 'python3', 'bogus'])('%s is not', (id) => {
    expect(retiredRuntime(id)).toBeUndefined();
  });
});

describe('endOfLifeHint', () => {
  it('names why and what to use for a retired id', () => {
    expect(endOfLifeHint('nodejs20', SUPPORTED)).toBe(' (Node.js 20 reached end of life in April 2026); use nodejs24');
    expect(endOfLifeHint('python2.7', SUPPORTED)).toBe(' (Python 2.7 reached end of life in January 2020); use python3.13');
  });

  it('is empty for an id that is not retired', () => {
    expect(endOfLifeHint('nodejs25x', SUPPORTED)).toBe('');
    expect(endOfLifeHint('ruby3.3', SUPPORTED)).toBe('');
  });

  it('suggests only an id the list supports: the newest of the language that is not retired, or none', () => {
    expect(endOfLifeHint('nodejs20', ['nodejs20', 'nodejs26', 'nodejs22', 'python3.12'])).toBe(' (Node.js 20 reached end of life in April 2026); use nodejs26');
    expect(endOfLifeHint('python3.9', ['python3.10', 'python3.12', 'go1.22'])).toBe(' (Python 3.9 reached end of life in October 2025); use python3.12');
    expect(endOfLifeHint('nodejs18', ['nodejs16', 'python3.12'])).toBe(' (Node.js 18 reached end of life in April 2025)');
  });
});
