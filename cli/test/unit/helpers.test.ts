import { describe, expect, it } from 'vitest';
import { ApiError } from '@kubeless/controller';
import { errorMessage } from '../../src/errors.js';
import { parseFunctionMetrics } from '../../src/metrics.js';
import { age, renderTable } from '../../src/output.js';
import { readiness } from '../../src/readiness.js';
import { checkRuntime, DEFAULT_RUNTIME_IDS, runtimeList } from '../../src/runtimes.js';

describe('errors', () => {
  it("keeps the API server's message, on one line", () => {
    const status = { kind: 'Status', message: 'functions.kubeless.io is forbidden: User "bob" cannot list resource "functions"' };
    expect(errorMessage(new ApiError(403, 'Forbidden', status.message, status, 'GET', '/apis/x'))).toBe(status.message);
    expect(errorMessage(new ApiError(0, 'ConnectionError', 'connect ECONNREFUSED 127.0.0.1:1', undefined, 'GET', '/x'))).toBe('unable to reach the API server: connect ECONNREFUSED 127.0.0.1:1');
    expect(errorMessage(new Error('two\n  lines'))).toBe('two lines');
  });
});

describe('metrics', () => {
  it('groups calls, failures and durations by method', () => {
    const text = [
      '# HELP function_calls_total calls',
      'function_calls_total{method="POST"} 4',
      'function_calls_total{method="GET"} 1',
      'function_failures_total{method="POST"} 1',
      'function_duration_seconds_bucket{le="0.1",method="POST"} 4',
      'function_duration_seconds_sum{method="POST"} 2',
      'function_duration_seconds_count{method="POST"} 4',
      'process_cpu_seconds_total 3',
    ].join('\n');
    expect(parseFunctionMetrics(text)).toEqual([
      { method: 'GET', calls: 1, failures: 0, durationSeconds: 0, averageSeconds: 0 },
      { method: 'POST', calls: 4, failures: 1, durationSeconds: 2, averageSeconds: 0.5 },
    ]);
  });
});

describe('output', () => {
  it('tables align with a three-space gutter and single-line cells', () => {
    expect(renderTable(['NAME', 'X'], [['a', 'one\ntwo'], ['long-name', undefined]])).toBe('NAME        X\na           one, two\nlong-name\n');
    expect(age(new Date(0).toISOString(), 90_000)).toBe('90s');
    expect(age(new Date(0).toISOString(), 3 * 86_400_000)).toBe('3d');
  });
});

describe('readiness', () => {
  const obj = (status: string, reason: string, observedGeneration = 2): any => ({ metadata: { generation: 2 }, status: { observedGeneration, conditions: [{ type: 'Ready', status, reason, message: 'm' }] } });
  it('ready, failed or pending', () => {
    expect(readiness(obj('True', 'Deployed')).state).toBe('ready');
    expect(readiness(obj('True', 'Deployed', 1)).state).toBe('pending');
    expect(readiness(obj('False', 'WaitingForReplicas')).state).toBe('pending');
    // Pods refused at creation may be created a moment later (a new namespace's ServiceAccount).
    expect(readiness(obj('False', 'ReplicaFailure')).state).toBe('pending');
    expect(readiness(obj('Unknown', 'Reconciling')).state).toBe('pending');
    expect(readiness(obj('False', 'CrashLoopBackOff'))).toEqual({ state: 'failed', reason: 'CrashLoopBackOff', message: 'm' });
    expect(readiness({ metadata: {} }).state).toBe('pending');
  });
});

describe('runtimes', () => {
  it('ID + version from runtime-images (any key case), else the built-in list', () => {
    expect(runtimeList({ 'runtime-images': '- id: nodejs\n  versions: [{version: 22}, {Version: "24"}]\n' })).toEqual({ ids: ['nodejs22', 'nodejs24'], source: 'config' });
    expect(runtimeList(undefined).ids).toContain('python3.11');
    expect(runtimeList({ 'runtime-images': '{' }).problem).toBeDefined();
    // What the function controller cannot serve is not offered either: its parser decides.
    expect(runtimeList({ 'runtime-images': '- versions: [{version: 1}]\n' })).toEqual({ ids: [...DEFAULT_RUNTIME_IDS], source: 'default', problem: 'runtime-images: entry 0 has no ID' });
    expect(runtimeList({ 'runtime-images': 'nodejs: 22' }).problem).toBe('runtime-images: must be a list of runtimes');
    expect(() => {
      checkRuntime('python2.7', ['python3.11']);
    }).toThrow('runtime "python2.7" is not supported (Python 2.7 reached end of life in January 2020); use python3.11; supported runtimes are: python3.11');
    expect(() => {
      checkRuntime('ruby3.3', ['python3.11']);
    }).toThrow('runtime "ruby3.3" is not supported; supported runtimes are: python3.11');
  });

  it('the built-in list is Node.js 22, 24, 26 and Python 3.11 to 3.13', () => {
    expect(DEFAULT_RUNTIME_IDS).toEqual(['nodejs22', 'nodejs24', 'nodejs26', 'python3.11', 'python3.12', 'python3.13']);
    expect(runtimeList(undefined).ids).toEqual([...DEFAULT_RUNTIME_IDS]);
  });

  it.each(['nodejs22', 'nodejs24', 'nodejs26'])('accepts %s with the built-in list', (id) => {
    expect(() => {
      checkRuntime(id, DEFAULT_RUNTIME_IDS);
    }).not.toThrow();
  });

  it.each([
    ['nodejs20', 'Node.js 20 reached end of life in April 2026', 'nodejs24'],
    ['nodejs18', 'Node.js 18 reached end of life in April 2025', 'nodejs24'],
    ['python2.7', 'Python 2.7 reached end of life in January 2020', 'python3.13'],
    ['python3.10', 'Python 3.10 reached end of life in October 2026', 'python3.13'],
  ])('refuses %s with the built-in list, saying why and what to use', (id, why, use) => {
    expect(() => {
      checkRuntime(id, DEFAULT_RUNTIME_IDS);
    }).toThrow(`runtime "${id}" is not supported (${why}); use ${use}; supported runtimes are: nodejs22, nodejs24, nodejs26, python3.11, python3.12, python3.13`);
  });
});
