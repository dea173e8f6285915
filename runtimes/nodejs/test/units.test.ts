/**
 * Table tests of the pure parts: content types, metrics text, access log lines, archive names,
 * CloudEvent headers and body decoding.
 */
import { describe, expect, it } from 'vitest';
import { AccessLog } from '../src/access-log.js';
import { decodeBody, mediaType } from '../src/body.js';
import { InvalidCloudEventError, parseBinaryCloudEvent, parseStructuredCloudEvent } from '../src/cloudevents.js';
import { safeEntryPath } from '../src/extract-target.js';
import { FunctionMetrics } from '../src/metrics.js';
import { parseContentType, PrepareError } from '../src/prepare-code.js';

describe('parseContentType', () => {
  it.each([
    ['', { encoding: 'text', archive: undefined, deps: false }],
    ['text', { encoding: 'text', archive: undefined, deps: false }],
    ['base64', { encoding: 'base64', archive: undefined, deps: false }],
    ['url+zip', { encoding: 'url', archive: 'zip', deps: false }],
    ['base64+compressedtar+deps', { encoding: 'base64', archive: 'compressedtar', deps: true }],
    ['URL+ZIP+DEPS', { encoding: 'url', archive: 'zip', deps: true }],
  ])('%j', (value, expected) => {
    expect(parseContentType(value)).toEqual(expected);
  });

  it.each(['zip', 'text+zip+compressedtar', 'text+deps', 'base64+zip+zip', 'url+rar'])('rejects %j', (value) => {
    expect(() => parseContentType(value)).toThrow(PrepareError);
  });
});

describe('FunctionMetrics', () => {
  it('renders counters and a cumulative histogram per method', () => {
    const m = new FunctionMetrics();
    m.record('POST', 0.003, false);
    m.record('POST', 0.2, true);
    m.record('POST', 30, false);
    m.record('GET', 0.01, false);
    const text = m.render();
    expect(text).toContain('function_calls_total{method="POST"} 3\n');
    expect(text).toContain('function_failures_total{method="POST"} 1\n');
    expect(text).toContain('function_failures_total{method="GET"} 0\n');
    expect(text).toContain('function_duration_seconds_bucket{le="0.005",method="POST"} 1\n');
    expect(text).toContain('function_duration_seconds_bucket{le="0.25",method="POST"} 2\n');
    expect(text).toContain('function_duration_seconds_bucket{le="10",method="POST"} 2\n');
    expect(text).toContain('function_duration_seconds_bucket{le="+Inf",method="POST"} 3\n');
    expect(text).toContain('function_duration_seconds_bucket{le="0.01",method="GET"} 1\n');
    expect(text).toContain('function_duration_seconds_count{method="POST"} 3\n');
    expect(text).toMatch(/function_duration_seconds_sum\{method="POST"\} 30\.20\d*\n/);
  });
});

describe('AccessLog', () => {
  it('writes one line per request, batched, in the documented format', () => {
    const written: string[] = [];
    const log = new AccessLog((data) => written.push(data.toString()));
    log.request('10.0.0.1', 'POST', '/orders', 201, 1.23456);
    log.request(undefined, 'GET', '/é', 500, 0.0004);
    expect(written).toEqual([]);
    log.flush();
    const lines = written.join('').split('\n');
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z 10\.0\.0\.1 "POST \/orders" 201 1\.235ms$/);
    expect(lines[1]).toMatch(/Z - "GET \/é" 500 0\.000ms$/);
    expect(lines[2]).toBe('');
  });

  it('flushes by itself when the buffer fills', () => {
    let bytes = 0;
    const log = new AccessLog((data) => (bytes += data.length));
    for (let i = 0; i < 2000; i++) log.request('127.0.0.1', 'GET', `/${'x'.repeat(40)}`, 200, 1);
    expect(bytes).toBeGreaterThan(64 * 1024 - 1000);
    log.flush();
  });
});

describe('safeEntryPath', () => {
  it.each([
    ['a/b.js', 'a/b.js'],
    ['./a//b.js', 'a/b.js'],
    ['dir/', 'dir'],
    ['a\\b.js', 'a/b.js'],
  ])('%j -> %j', (name, expected) => {
    expect(safeEntryPath(name)).toBe(expected);
  });

  it.each(['../x', 'a/../../x', '/etc/passwd', 'C:\\x', 'a\0b', '..'])('rejects %j', (name) => {
    expect(() => safeEntryPath(name)).toThrow(/KUBELESS|leaves|absolute|NUL/);
  });
});

describe('CloudEvents and bodies', () => {
  it('reads binary-mode attributes and percent-decodes them', () => {
    const ce = parseBinaryCloudEvent({ 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': '/s', 'ce-type': 't', 'ce-note': 'a%20b%zz', 'content-type': 'text/plain' });
    expect(ce).toEqual({ specversion: '1.0', id: '1', source: '/s', type: 't', note: 'a%20b%zz', datacontenttype: 'text/plain' });
    expect(parseBinaryCloudEvent({ 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': '/s', 'ce-type': 't', 'ce-note': 'a%20b' })?.note).toBe('a b');
    expect(parseBinaryCloudEvent({ 'content-type': 'text/plain' })).toBeUndefined();
    expect(() => parseBinaryCloudEvent({ 'ce-specversion': '2.0', 'ce-id': '1', 'ce-source': '/s', 'ce-type': 't' })).toThrow(InvalidCloudEventError);
  });

  it('reads structured-mode events', () => {
    const { attributes, data } = parseStructuredCloudEvent(Buffer.from(JSON.stringify({ specversion: '1.0', id: '1', source: '/s', type: 't', data: [1] })));
    expect(attributes).toEqual({ specversion: '1.0', id: '1', source: '/s', type: 't' });
    expect(data).toEqual([1]);
    expect(() => parseStructuredCloudEvent(Buffer.from('[]'))).toThrow(InvalidCloudEventError);
  });

  it('decodes bodies by media type', () => {
    expect(mediaType('Application/JSON; charset=utf-8')).toBe('application/json');
    expect(mediaType(undefined)).toBe('');
    expect(decodeBody(Buffer.from('{"a":1}'), 'application/json')).toEqual({ a: 1 });
    expect(decodeBody(Buffer.from('x'), 'text/plain')).toBe('x');
    expect(decodeBody(Buffer.from([1, 2]), 'image/png')).toEqual(Buffer.from([1, 2]));
    expect(decodeBody(Buffer.alloc(0), 'application/json')).toBe('');
  });
});
