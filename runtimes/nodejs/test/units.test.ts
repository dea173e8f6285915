/**
 * Table tests of the pure parts: content types, metrics text, access log lines, archive names,
 * CloudEvent headers and body decoding.
 */
import { describe, expect, it } from 'vitest';
import { AccessLog } from '../src/access-log.js';
import { decodeBody, mediaType } from '../src/body.js';
import { decodeHeaderValue, InvalidCloudEventError, parseBinaryCloudEvent, parseStructuredCloudEvent } from '../src/cloudevents.js';
import { loadRuntimeConfig } from '../src/config.js';
import { extensionBytes } from '../src/function-types.js';
import { safeEntryPath } from '../src/extract-target.js';
import { createMetricsStore, FunctionMetrics } from '../src/metrics.js';
import { parseContentType, PrepareError } from '../src/prepare-code.js';
import { createBoard, InvocationBoard, readBoard, runaway, STALL_MS, type BoardSnapshot } from '../src/watchdog.js';

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
    expect(ce).toEqual({ specversion: '1.0', id: '1', source: '/s', type: 't', note: 'a b%zz', datacontenttype: 'text/plain' });
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

describe('decodeHeaderValue (CloudEvents HTTP binding 3.1.3.2)', () => {
  it.each([
    ['plain', 'plain'],
    ['Euro%20%E2%82%AC%20%F0%9F%98%80', 'Euro € 😀'],
    ['%E6%B3%A8%E6%96%87', '注文'],
    ['caf%c3%a9', 'café'],
    ['100%25%20%22x%22', '100% "x"'],
    ['a%0D%0Ab', 'a\r\nb'],
    ['"quoted \\"inner\\" value"', 'quoted "inner" value'],
    ['"%41"', 'A'],
    ['50%', '50%'],
    ['%zz%4', '%zz%4'],
    // Bytes a sender left unencoded reach Node as Latin-1 characters: read back as their UTF-8.
    [Buffer.from('中', 'utf8').toString('latin1'), '中'],
  ])('%j -> %j', (raw, expected) => {
    expect(decodeHeaderValue('x', raw)).toBe(expected);
  });

  it.each(['%FF', '%C0%A0', '%E6%B3', '%ED%A0%80'])('refuses %j (not UTF-8 once decoded)', (raw) => {
    expect(() => decodeHeaderValue('partitionkey', raw)).toThrow(/ce-partitionkey.*UTF-8/);
  });
});

describe('extensionBytes', () => {
  it('prefers <name>b64, falls back to <name> as UTF-8, and is undefined without either', () => {
    expect(extensionBytes({ partitionkeyb64: 'AAH/Cg==' }, 'partitionkey')).toEqual(Buffer.from([0, 1, 0xff, 0x0a]));
    expect(extensionBytes({ partitionkey: 'clé', partitionkeyb64: 'AA==' }, 'partitionkey')).toEqual(Buffer.from([0]));
    expect(extensionBytes({ partitionkey: 'clé' }, 'partitionkey')).toEqual(Buffer.from('clé', 'utf8'));
    expect(extensionBytes({ kafkapartition: 3 }, 'kafkapartition')).toEqual(Buffer.from('3'));
    expect(extensionBytes({}, 'partitionkey')).toBeUndefined();
    expect(extensionBytes(undefined, 'partitionkey')).toBeUndefined();
  });
});

describe('loadRuntimeConfig', () => {
  const required = { FUNC_HANDLER: 'h', MOD_NAME: 'm' };

  it('sizes the limits for the events the triggers send by default', () => {
    const c = loadRuntimeConfig(required);
    expect(c.bodyLimitBytes).toBe(3 * 1024 * 1024);
    expect(c.maxHeaderBytes).toBe(64 * 1024);
    expect(c.maxHeaderCount).toBe(1000);
    expect(c.warnings).toEqual([]);
    const set = loadRuntimeConfig({ ...required, REQ_MB_LIMIT: '1.5', FUNC_MAX_HEADER_KB: '128', FUNC_MAX_HEADERS: '300' });
    expect([set.bodyLimitBytes, set.maxHeaderBytes, set.maxHeaderCount]).toEqual([1.5 * 1024 * 1024, 128 * 1024, 300]);
  });

  it('takes FUNC_TIMEOUT=0 as the default with a warning, and refuses a negative one', () => {
    const c = loadRuntimeConfig({ ...required, FUNC_TIMEOUT: '0' });
    expect(c.timeoutSeconds).toBe(180);
    expect(c.warnings.join()).toContain('FUNC_TIMEOUT=0');
    expect(() => loadRuntimeConfig({ ...required, FUNC_TIMEOUT: '-1' })).toThrow(/FUNC_TIMEOUT/);
  });
});

describe('FunctionMetrics over a shared store', () => {
  it('lets a second instance (a replacement worker) go on counting, and count by method slot', () => {
    const store = createMetricsStore();
    const first = new FunctionMetrics(store);
    first.record('POST', 0.01, false);
    first.record('GET', 0.02, true);
    const second = new FunctionMetrics(store);
    second.record('POST', 0.01, false);
    second.recordSlot(second.methodSlot('GET'), 4.2, true);
    const text = new FunctionMetrics(store).render();
    expect(text).toContain('function_calls_total{method="POST"} 2\n');
    expect(text).toContain('function_calls_total{method="GET"} 2\n');
    expect(text).toContain('function_failures_total{method="GET"} 2\n');
    expect(text).toContain('function_duration_seconds_bucket{le="2.5",method="GET"} 1\n');
  });
});

describe('runaway (the watchdog verdict)', () => {
  const now = 100_000;
  const timeoutMs = 4000;
  const inv = (deadline: number) => ({ fd: 9, deadline, method: 0, headSent: false });
  const board = (heartbeatAge: number, ...deadlines: number[]): BoardSnapshot => ({ heartbeat: now - heartbeatAge, running: deadlines.map(inv) });

  it.each([
    ['a live loop with an overdue invocation (its own timer answers)', board(STALL_MS - 1, now - 10), false],
    ['a blocked loop whose only invocation is overdue', board(STALL_MS, now - 10), true],
    ['a blocked loop with every invocation overdue', board(5000, now - 1000, now - 1), true],
    ['a blocked loop with one invocation still within its time', board(5000, now - 1000, now + 1), false],
    ['a blocked loop, nothing running, shorter than the timeout', board(timeoutMs, ...[]), false],
    ['a blocked loop, nothing running, longer than the timeout', board(timeoutMs + STALL_MS, ...[]), true],
  ])('%s -> %s', (_name, snapshot, expected) => {
    expect(runaway(snapshot, now, timeoutMs)).toBe(expected);
  });
});

describe('InvocationBoard', () => {
  it('publishes running invocations and the heartbeat to readBoard, and reuses freed slots', () => {
    const buffer = createBoard(2);
    const board = new InvocationBoard(buffer);
    board.beat(1234);
    const a = board.add(7, 5000, 1);
    const b = board.add(8, 6000, 2);
    expect(board.add(9, 7000, 0)).toBe(-1);
    board.headSent(b);
    expect(readBoard(buffer)).toEqual({
      heartbeat: 1234,
      running: [
        { fd: 7, deadline: 5000, method: 1, headSent: false },
        { fd: 8, deadline: 6000, method: 2, headSent: true },
      ],
    });
    board.remove(a);
    expect(readBoard(buffer).running.map((r) => r.fd)).toEqual([8]);
    expect(board.add(10, 8000, 0)).toBe(a);
  });
});
