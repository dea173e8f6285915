/**
 * The runtime contract (runtimes/README.md), run against both runtimes as real child processes on
 * 127.0.0.1. The function is test/fixtures/contract.js or contract.py, copied into a temporary
 * install volume.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePki, type TestPki } from './support/certs.js';
import { assertBuilt, FIXTURES, spawnRuntime, startRuntime, waitFor, type Language, type RuntimeProcess } from './support/runtime-process.js';

const LANGUAGES: Language[] = ['nodejs', 'python'];
const MIB = 1024 * 1024;

interface Echo {
  data: unknown;
  dataType: string;
  'event-id': string | null;
  'event-type': string | null;
  'event-time': string | null;
  'event-namespace': string | null;
  cloudevent: Record<string, unknown> | null;
  context: Record<string, unknown>;
}

function installVolume(language: Language): string {
  const dir = mkdtempSync(path.join(tmpdir(), `kubeless-${language}-`));
  const file = language === 'nodejs' ? 'contract.js' : 'contract.py';
  copyFileSync(path.join(FIXTURES, file), path.join(dir, file));
  return dir;
}

function baseEnv(language: Language, dir: string): Record<string, string> {
  return {
    KUBELESS_INSTALL_VOLUME: dir,
    MOD_NAME: 'contract',
    FUNC_HANDLER: 'handler',
    FUNC_TIMEOUT: '1',
    FUNC_RUNTIME: language === 'nodejs' ? 'nodejs24' : 'python3.11',
    FUNC_MEMORY_LIMIT: '128Mi',
  };
}

/** The value of one sample of the Prometheus text, 0 when absent. */
function sample(text: string, name: string, labels: string): number {
  const prefix = `${name}{${labels}} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? 0 : Number(line.slice(prefix.length));
}

/** Tries a TCP connection: 'refused', 'open' when the kernel accepted it, 'silent' when nothing answered in time. */
function probe(port: number, timeoutMs = 200): Promise<'refused' | 'open' | 'reset' | 'silent'> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      resolve('silent');
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve('open');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      resolve(err.code === 'ECONNREFUSED' ? 'refused' : 'reset');
    });
  });
}

/** Retries on connection errors (a runtime replacing its worker refuses connections briefly) until `withinMs`. */
async function firstAnswer(url: string, withinMs: number): Promise<{ status: number; body: string; at: number }> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      const res = await request(url, { headersTimeout: Math.max(1, deadline - Date.now()) });
      return { status: res.statusCode, body: await res.body.text(), at: Date.now() };
    } catch (err) {
      if (Date.now() >= deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** Resolves once `file` holds the same text twice `quietMs` apart; rejects after `withinMs`. */
async function stopsChanging(file: string, quietMs: number, withinMs: number): Promise<string> {
  const deadline = Date.now() + withinMs;
  let last = readFileSync(file, 'utf8');
  for (;;) {
    await new Promise((r) => setTimeout(r, quietMs));
    const now = readFileSync(file, 'utf8');
    if (now === last) return now;
    if (Date.now() > deadline) throw new Error(`${file} still changes after ${withinMs}ms`);
    last = now;
  }
}

beforeAll(() => {
  assertBuilt();
});

describe.each(LANGUAGES)('%s runtime', (language) => {
  let dir: string;
  let rt: RuntimeProcess;

  async function call(pathAndQuery: string, init: { method?: string; headers?: Record<string, string>; body?: string | Buffer | Readable } = {}) {
    const res = await request(`${rt.url}${pathAndQuery}`, {
      method: (init.method ?? (init.body === undefined ? 'GET' : 'POST')) as 'GET',
      headers: init.headers,
      body: init.body,
    });
    const body = await res.body.text();
    return { status: res.statusCode, headers: res.headers, body };
  }

  async function echo(init: { headers?: Record<string, string>; body?: string | Buffer }): Promise<Echo> {
    const res = await call('/echo', init);
    expect(res.status, res.body).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    return JSON.parse(res.body) as Echo;
  }

  beforeAll(async () => {
    dir = installVolume(language);
    rt = await startRuntime(language, baseEnv(language, dir));
  });

  afterAll(async () => {
    await rt.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers GET /healthz with 200 OK', async () => {
    const res = await call('/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toBe('OK');
  });

  it('fills the event from the kubeless headers and parses a JSON body', async () => {
    const e = await echo({
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'event-id': 'id-1',
        'event-type': 'application/json',
        'event-time': '2024-01-02T03:04:05Z',
        'event-namespace': 'kafkatriggers.kubeless.io',
      },
      body: JSON.stringify({ hello: 'world', n: [1, 2] }),
    });
    expect(e.data).toEqual({ hello: 'world', n: [1, 2] });
    expect(e.dataType).toBe('object');
    expect(e['event-id']).toBe('id-1');
    expect(e['event-type']).toBe('application/json');
    expect(e['event-time']).toBe('2024-01-02T03:04:05Z');
    expect(e['event-namespace']).toBe('kafkatriggers.kubeless.io');
    expect(e.cloudevent).toBeNull();
  });

  it('passes the context', async () => {
    const e = await echo({});
    expect(e.context).toEqual({
      'function-name': 'handler',
      timeout: 1,
      runtime: language === 'nodejs' ? 'nodejs24' : 'python3.11',
      'memory-limit': '128Mi',
    });
    expect(e['event-id']).toBeNull();
  });

  it('passes a text body as a string and a binary body as bytes', async () => {
    const text = await echo({ headers: { 'content-type': 'text/plain' }, body: 'plain text é' });
    expect(text.data).toBe('plain text é');
    expect(text.dataType).toBe('string');
    const none = await echo({ body: 'no content type' });
    expect(none.data).toBe('no content type');
    expect(none.dataType).toBe('string');
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    const binary = await echo({ headers: { 'content-type': 'application/octet-stream' }, body: bytes });
    expect(binary.dataType).toBe('binary');
    expect(binary.data).toBe(bytes.toString('base64'));
  });

  it('answers 400 to a JSON body that does not parse', async () => {
    const res = await call('/echo', { headers: { 'content-type': 'application/json' }, body: '{"broken":' });
    expect(res.status).toBe(400);
    const after = await call('/text');
    expect(after.status).toBe(200);
  });

  it('fills the event from a binary-mode CloudEvent', async () => {
    const e = await echo({
      headers: {
        'ce-specversion': '1.0',
        'ce-id': 'partition:0/offset:42',
        'ce-source': '/apis/v1/namespaces/default/kafkatriggers/t#orders',
        'ce-type': 'io.kubeless.kafka.message',
        'ce-time': '2024-05-06T07:08:09Z',
        'ce-kafkakey': 'order%2017',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ order: 17 }),
    });
    expect(e.data).toEqual({ order: 17 });
    expect(e['event-id']).toBe('partition:0/offset:42');
    expect(e['event-type']).toBe('io.kubeless.kafka.message');
    expect(e['event-time']).toBe('2024-05-06T07:08:09Z');
    expect(e['event-namespace']).toBe('/apis/v1/namespaces/default/kafkatriggers/t#orders');
    expect(e.cloudevent).toMatchObject({
      specversion: '1.0',
      id: 'partition:0/offset:42',
      source: '/apis/v1/namespaces/default/kafkatriggers/t#orders',
      type: 'io.kubeless.kafka.message',
      time: '2024-05-06T07:08:09Z',
      datacontenttype: 'application/json',
      kafkakey: 'order 17',
    });
  });

  it('lets the event-namespace header win over ce-source', async () => {
    const e = await echo({
      headers: { 'ce-specversion': '1.0', 'ce-id': 'a', 'ce-source': '/s', 'ce-type': 't', 'event-namespace': 'sqstriggers.kubeless.io' },
      body: 'x',
    });
    expect(e['event-namespace']).toBe('sqstriggers.kubeless.io');
    expect(e['event-id']).toBe('a');
    expect(e.data).toBe('x');
  });

  it('fills the event from a structured-mode CloudEvent', async () => {
    const e = await echo({
      headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' },
      body: JSON.stringify({
        specversion: '1.0',
        id: 'msg-1',
        source: 'arn:aws:sqs:eu-west-1:000000000000:orders',
        type: 'io.kubeless.sqs.message',
        time: '2024-05-06T07:08:09Z',
        datacontenttype: 'application/json',
        messagegroupid: 'g1',
        data: { order: 18 },
      }),
    });
    expect(e.data).toEqual({ order: 18 });
    expect(e['event-id']).toBe('msg-1');
    expect(e['event-type']).toBe('io.kubeless.sqs.message');
    expect(e['event-time']).toBe('2024-05-06T07:08:09Z');
    expect(e['event-namespace']).toBe('arn:aws:sqs:eu-west-1:000000000000:orders');
    expect(e.cloudevent).toEqual({
      specversion: '1.0',
      id: 'msg-1',
      source: 'arn:aws:sqs:eu-west-1:000000000000:orders',
      type: 'io.kubeless.sqs.message',
      time: '2024-05-06T07:08:09Z',
      datacontenttype: 'application/json',
      messagegroupid: 'g1',
    });
    const b64 = await echo({
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify({ specversion: '1.0', id: 'b', source: '/s', type: 't', data_base64: Buffer.from([1, 2, 3]).toString('base64') }),
    });
    expect(b64.dataType).toBe('binary');
    expect(b64.data).toBe(Buffer.from([1, 2, 3]).toString('base64'));
  });

  it('answers 400 to a CloudEvent without its required attributes', async () => {
    const binary = await call('/echo', { headers: { 'ce-specversion': '1.0', 'ce-source': '/s', 'ce-type': 't' }, body: 'x' });
    expect(binary.status).toBe(400);
    expect(binary.body).toContain('id');
    const structured = await call('/echo', { headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify({ specversion: '1.0', id: 'x' }) });
    expect(structured.status).toBe(400);
  });

  it('sends a returned string as text, an object as JSON and nothing as an empty body', async () => {
    const text = await call('/text');
    expect(text.status).toBe(200);
    expect(text.body).toBe('hello world');
    expect(text.headers['content-type']).toBe('text/plain; charset=utf-8');
    const nothing = await call('/nothing');
    expect(nothing.status).toBe(200);
    expect(nothing.body).toBe('');
    expect(nothing.headers['content-length']).toBe('0');
    const asyncResult = await call('/async');
    expect(asyncResult.status).toBe(200);
    expect(asyncResult.body).toBe('async result');
  });

  it('answers 500 when the function throws or rejects, and keeps serving', async () => {
    const thrown = await call('/throw');
    expect(thrown.status).toBe(500);
    expect(thrown.body).toBe('Internal Server Error');
    const rejected = await call('/reject');
    expect(rejected.status).toBe(500);
    expect((await call('/text')).status).toBe(200);
    await waitFor(() => rt.stderr().includes('boom'), 2000, 'the error on stderr');
  });

  it('lets the function set its status code and headers with context.respond', async () => {
    const res = await call('/status');
    expect(res.status).toBe(201);
    expect(res.headers['x-function']).toBe('set');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(JSON.parse(res.body)).toEqual({ created: true });
  });

  it('answers 408 when the function times out, and the next request still succeeds', async () => {
    const started = Date.now();
    // Wakes 0.3 s past its timeout: the Python worker is not replaced (see the /spin test).
    const res = await call('/sleep?ms=1300&token=s3cret');
    const took = Date.now() - started;
    expect(res.status).toBe(408);
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(3500);
    const next = await call('/text');
    expect(next.status).toBe(200);
    expect(next.body).toBe('hello world');
    // The timeout is logged with the path only: a query string may carry secrets.
    await waitFor(() => rt.stderr().includes('timed out after 1s: GET /sleep'), 2000, 'the timeout on stderr');
    expect(rt.stderr()).not.toContain('s3cret');
  });

  it('answers 413 to a body over REQ_MB_LIMIT (default 3 MiB), with or without Content-Length', async () => {
    const big = Buffer.alloc(3.5 * MIB, 'a');
    const declared = await call('/echo', { headers: { 'content-type': 'text/plain' }, body: big });
    expect(declared.status).toBe(413);
    const chunked = await call('/echo', { headers: { 'content-type': 'text/plain' }, body: Readable.from([big.subarray(0, 2 * MIB), big.subarray(2 * MIB)]) });
    expect(chunked.status).toBe(413);
    const justUnder = await echo({ headers: { 'content-type': 'text/plain' }, body: Buffer.alloc(3 * MIB - 16, 'b') });
    expect(justUnder.data).toHaveLength(3 * MIB - 16);
  });

  it('takes a structured event with 1 MiB of binary data (base64 in JSON) by default', async () => {
    const data = Buffer.alloc(MIB, 0xfe);
    const body = JSON.stringify({ specversion: '1.0', id: 'big', source: '/s', type: 't', partitionkeyb64: Buffer.alloc(64 * 1024, 1).toString('base64'), data_base64: data.toString('base64') });
    expect(body.length).toBeGreaterThan(1.4 * MIB);
    const e = await echo({ headers: { 'content-type': 'application/cloudevents+json' }, body });
    expect(e.dataType).toBe('binary');
    expect(e.data).toBe(data.toString('base64'));
  });

  it('takes a binary event with a 40 KiB key header and 150 extension headers, answers 431 past 64 KiB', async () => {
    const headers: Record<string, string> = { 'ce-specversion': '1.0', 'ce-id': 'h', 'ce-source': '/s', 'ce-type': 't', 'ce-partitionkeyb64': Buffer.alloc(30 * 1024, 7).toString('base64') };
    for (let i = 0; i < 150; i++) headers[`ce-kafkaheader${i}`] = `value-${i}`;
    const e = await echo({ headers, body: 'x' });
    expect((e.cloudevent?.partitionkeyb64 as string).length).toBe(40 * 1024);
    expect(e.cloudevent?.kafkaheader149).toBe('value-149');
    const tooLarge = await call('/echo', { headers: { 'x-big': 'a'.repeat(80 * 1024) }, body: 'x' });
    expect(tooLarge.status).toBe(431);
    expect((await call('/text')).status).toBe(200);
  });

  it('percent-decodes every ce-* value (CJK, CR/LF, %, ", quoted strings) and refuses values that are not UTF-8', async () => {
    const ce = { 'ce-specversion': '1.0', 'ce-id': 'id%201', 'ce-source': '/s', 'ce-type': 't' };
    const e = await echo({
      headers: {
        ...ce,
        'ce-partitionkey': '%E6%B3%A8%E6%96%87%20%E4%B8%AD%E6%96%87',
        'ce-kafkaheadernote': 'line1%0D%0Aline2%20100%25%20%22quoted%22',
        'ce-legacy': '"old \\"style\\" value"',
        'ce-lower': 'caf%c3%a9',
      },
      body: 'x',
    });
    expect(e['event-id']).toBe('id 1');
    expect(e.cloudevent).toMatchObject({ id: 'id 1', partitionkey: '注文 中文', kafkaheadernote: 'line1\r\nline2 100% "quoted"', legacy: 'old "style" value', lower: 'café' });
    for (const bad of ['%FF', '%C0%A0', 'ok%E6%B3']) {
      const res = await call('/echo', { headers: { ...ce, 'ce-partitionkey': bad }, body: 'x' });
      expect(res.status, bad).toBe(400);
      expect(res.body).toContain('ce-partitionkey');
    }
  });

  it('gives the raw bytes of a key that is not UTF-8 (partitionkeyb64) through the extension-bytes helper', async () => {
    const key = Buffer.from([0x00, 0x01, 0xff, 0x0a]);
    const trace = Buffer.from('trace ✓', 'utf8');
    const ce = { 'ce-specversion': '1.0', 'ce-id': 'k', 'ce-source': '/s', 'ce-type': 't' };
    const binary = await call('/extension-bytes', { headers: { ...ce, 'ce-partitionkeyb64': key.toString('base64'), 'ce-kafkaheadertrace': 'trace%20%E2%9C%93' }, body: 'x' });
    expect(binary.status, binary.body).toBe(200);
    expect(JSON.parse(binary.body)).toEqual({ partitionkey: key.toString('base64'), kafkaheadertrace: trace.toString('base64'), missing: null });
    const echoed = await echo({ headers: { ...ce, 'ce-partitionkeyb64': key.toString('base64') }, body: 'x' });
    expect(echoed.cloudevent?.partitionkeyb64).toBe(key.toString('base64'));
    const structured = await call('/extension-bytes', {
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify({ specversion: '1.0', id: 'k', source: '/s', type: 't', partitionkeyb64: key.toString('base64'), kafkaheadertraceb64: trace.toString('base64') }),
    });
    expect(JSON.parse(structured.body)).toEqual({ partitionkey: key.toString('base64'), kafkaheadertrace: trace.toString('base64'), missing: null });
  });

  it('counts calls, failures and durations in /metrics by HTTP method', async () => {
    const before = (await call('/metrics')).body;
    expect((await call('/text', { method: 'PUT', body: '' })).status).toBe(200);
    expect((await call('/throw', { method: 'PUT', body: '' })).status).toBe(500);
    expect((await call('/text', { method: 'DELETE' })).status).toBe(200);
    const res = await call('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    const after = res.body;
    expect(after).toContain('# TYPE function_calls_total counter');
    expect(after).toContain('# TYPE function_failures_total counter');
    expect(after).toContain('# TYPE function_duration_seconds histogram');
    const put = 'method="PUT"';
    expect(sample(after, 'function_calls_total', put) - sample(before, 'function_calls_total', put)).toBe(2);
    expect(sample(after, 'function_failures_total', put) - sample(before, 'function_failures_total', put)).toBe(1);
    expect(sample(after, 'function_duration_seconds_count', put) - sample(before, 'function_duration_seconds_count', put)).toBe(2);
    expect(sample(after, 'function_duration_seconds_bucket', `le="+Inf",${put}`)).toBe(sample(after, 'function_duration_seconds_count', put));
    expect(sample(after, 'function_duration_seconds_sum', put)).toBeGreaterThan(sample(before, 'function_duration_seconds_sum', put));
    expect(sample(after, 'function_calls_total', 'method="DELETE"') - sample(before, 'function_calls_total', 'method="DELETE"')).toBe(1);
  });

  it('logs one line per request with method, path, status and duration', async () => {
    await call('/status?secret=1');
    await waitFor(() => /"GET \/status" 201 [\d.]+ms/.test(rt.stdout()), 2000, 'the access log line');
    expect(rt.stdout()).not.toContain('secret=1');
  });

  it.runIf(language === 'nodejs')('keeps the Express-style extensions.response of the original runtime', async () => {
    const legacy = await call('/legacy');
    expect(legacy.status).toBe(202);
    expect(legacy.headers['x-legacy']).toBe('yes');
    expect(legacy.body).toBe('ended by the function');
    const express = await call('/express');
    expect(express.status).toBe(203);
    expect(express.headers['x-express']).toBe('yes');
    expect(express.body).toBe('express style');
  });

  it.runIf(language === 'nodejs')('fails only the running invocation (500) when its timer throws, and keeps serving', async () => {
    const res = await call('/throw-later');
    expect(res.status).toBe(500);
    expect((await call('/text')).status).toBe(200);
    await waitFor(() => rt.stderr().includes('thrown from a timer'), 2000, 'the error on stderr');
  });

  it.runIf(language === 'python')('stops a function that spins past its timeout, in the same worker process', async () => {
    const res = await call('/spin');
    expect(res.status).toBe(408);
    const spins = async () => Number((await call('/spins')).body);
    const first = await spins();
    expect(first).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(await spins()).toBe(first);
    expect((await call('/text')).status).toBe(200);
  });
});

describe.each(LANGUAGES)('%s runtime lifecycle', (language) => {
  let dir: string;

  beforeAll(() => {
    dir = installVolume(language);
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('on SIGTERM stops accepting, finishes the request in flight, then exits 0', async () => {
    const rt = await startRuntime(language, { ...baseEnv(language, dir), FUNC_TIMEOUT: '10' });
    try {
      const agent = new Agent();
      const inFlight = request(`${rt.url}/sleep?ms=1500`, { dispatcher: agent }).then(async (res) => ({
        status: res.statusCode,
        body: await res.body.text(),
        at: Date.now(),
      }));
      await waitFor(() => rt.stdout().includes('sleeping 1500'), 5000, 'the request to reach the function');
      rt.child.kill('SIGTERM');
      // New connections are refused while the request is still running.
      let refusedAt: number | undefined;
      const deadline = Date.now() + 1200;
      while (refusedAt === undefined && Date.now() < deadline) {
        if ((await probe(rt.port)) === 'refused') refusedAt = Date.now();
        else await new Promise((r) => setTimeout(r, 50));
      }
      const done = await inFlight;
      expect(done.status).toBe(200);
      expect(done.body).toBe('slept');
      expect(refusedAt ?? Infinity).toBeLessThan(done.at);
      expect(await rt.exited).toBe(0);
      expect(rt.stdout()).toContain('received SIGTERM');
      await agent.close();
    } finally {
      await rt.stop();
    }
  });

  it('answers 408 within FUNC_TIMEOUT + 1 s to a function stuck in a loop that swallows the timeout, stops it, counts it, and serves the next call within 5 s', async () => {
    const rt = await startRuntime(language, { ...baseEnv(language, dir), FUNC_TIMEOUT: '4' });
    const marker = path.join(dir, 'swallow.marker');
    rmSync(marker, { force: true });
    try {
      const failures = async () => sample((await firstAnswer(`${rt.url}/metrics`, 5000)).body, 'function_failures_total', 'method="GET"');
      const before = await failures();
      const started = Date.now();
      const res = await request(`${rt.url}/swallow`);
      const answeredAt = Date.now();
      expect(res.statusCode).toBe(408);
      expect(await res.body.text()).toBe('Timeout while processing the function');
      expect(answeredAt - started).toBeGreaterThanOrEqual(3900);
      expect(answeredAt - started).toBeLessThan(5000);
      const next = await firstAnswer(`${rt.url}/text`, 5000);
      expect(next.status).toBe(200);
      expect(next.at - answeredAt).toBeLessThan(5000);
      expect(Number(readFileSync(marker, 'utf8'))).toBeGreaterThan(10);
      // The runaway code no longer runs (nothing burns a core in the background).
      await stopsChanging(marker, 400, 3000);
      expect(await failures()).toBeGreaterThanOrEqual(before + 1);
      expect((await firstAnswer(`${rt.url}/healthz`, 1000)).status).toBe(200);
    } finally {
      await rt.stop();
      rmSync(marker, { force: true });
      rmSync(`${marker}.tmp`, { force: true });
    }
  });

  it('serves the next call within 5 s after a function ends its process (process.exit, os._exit)', async () => {
    const rt = await startRuntime(language, { ...baseEnv(language, dir), FUNC_TIMEOUT: '4' });
    try {
      const exited = await request(`${rt.url}/exit`).then(
        async (res) => ({ status: res.statusCode, body: await res.body.text() }),
        (err: unknown) => ({ status: 0, body: String(err) }),
      );
      // Python answers 500; in Node.js the worker thread is gone with the connection.
      if (language === 'python') expect(exited.status).toBe(500);
      else expect(exited.status).toBe(0);
      const next = await firstAnswer(`${rt.url}/text`, 5000);
      expect(next.status).toBe(200);
      expect(next.body).toBe('hello world');
    } finally {
      await rt.stop();
    }
  });

  it.runIf(language === 'nodejs')('answers 408 to a function that spins after an await, and never writes it into a response the function began', async () => {
    const rt = await startRuntime(language, { ...baseEnv(language, dir), FUNC_TIMEOUT: '1' });
    try {
      const started = Date.now();
      const res = await request(`${rt.url}/await-then-spin`);
      expect(res.statusCode).toBe(408);
      await res.body.text();
      expect(Date.now() - started).toBeLessThan(2000);
      // The worker is being replaced: wait for the new one.
      expect((await firstAnswer(`${rt.url}/text`, 5000)).status).toBe(200);
      // Raw bytes: the function sent its head and 8 of 1000 promised bytes, then looped. The
      // connection closes; nothing is appended.
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = connect(rt.port, '127.0.0.1', () => {
          socket.write('GET /head-then-spin HTTP/1.1\r\nhost: x\r\n\r\n');
        });
        let got = '';
        socket.setEncoding('latin1').on('data', (c: string) => (got += c));
        socket.on('close', () => {
          resolve(got);
        });
        socket.on('error', reject);
      });
      expect(raw).toMatch(/^HTTP\/1\.1 200 /);
      expect(raw.endsWith('\r\n\r\npartial ')).toBe(true);
      expect(raw).not.toContain('408');
      expect((await firstAnswer(`${rt.url}/text`, 5000)).status).toBe(200);
    } finally {
      await rt.stop();
    }
  });

  it('takes FUNC_TIMEOUT=0 as the default timeout (180 s) with a warning instead of refusing to start', async () => {
    const rt = await startRuntime(language, { ...baseEnv(language, dir), FUNC_TIMEOUT: '0' });
    try {
      const res = await request(`${rt.url}/echo`, { method: 'POST', body: 'x' });
      expect(res.statusCode).toBe(200);
      expect(((await res.body.json()) as Echo).context.timeout).toBe(180);
      expect(rt.stderr()).toContain('FUNC_TIMEOUT=0');
      expect(rt.stdout()).toContain('timeout 180s');
    } finally {
      await rt.stop();
    }
  });

  it('exits 1 with the reason when the function cannot be loaded', async () => {
    const { out, exited } = spawnRuntime(language, { ...baseEnv(language, dir), MOD_NAME: 'missing' });
    expect(await exited).toBe(1);
    expect(out.stderr).toContain('missing');
  });

  it('exits 1 listing every bad environment key', async () => {
    const { out, exited } = spawnRuntime(language, { KUBELESS_INSTALL_VOLUME: dir, FUNC_TIMEOUT: 'soon', FUNC_TLS_CERT_FILE: '/x' });
    expect(await exited).toBe(1);
    for (const key of ['FUNC_HANDLER', 'MOD_NAME', 'FUNC_TIMEOUT', 'FUNC_TLS_KEY_FILE']) expect(out.stderr).toContain(key);
  });
});

describe('nodejs runtime module formats', () => {
  it('loads an ES module function from <module>.mjs', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kubeless-esm-'));
    writeFileSync(path.join(dir, 'esm.mjs'), "export async function hello(event) { return { esm: true, data: event.data }; }\n");
    const rt = await startRuntime('nodejs', { KUBELESS_INSTALL_VOLUME: dir, MOD_NAME: 'esm', FUNC_HANDLER: 'hello' });
    try {
      const res = await request(`${rt.url}/`, { method: 'POST', body: 'hi' });
      expect(res.statusCode).toBe(200);
      expect(await res.body.json()).toEqual({ esm: true, data: 'hi' });
    } finally {
      await rt.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('resolves require() from <install>/node_modules', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kubeless-deps-'));
    const pkg = path.join(dir, 'node_modules', 'left-pad-ish');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'left-pad-ish', main: 'index.js' }));
    writeFileSync(path.join(pkg, 'index.js'), "module.exports = (s, n) => String(s).padStart(n, '*');\n");
    writeFileSync(path.join(dir, 'fn.js'), "const pad = require('left-pad-ish');\nmodule.exports = { handler: (event) => pad(event.data, 6) };\n");
    const rt = await startRuntime('nodejs', { KUBELESS_INSTALL_VOLUME: dir, MOD_NAME: 'fn', FUNC_HANDLER: 'handler' });
    try {
      const res = await request(`${rt.url}/`, { method: 'POST', body: 'ab' });
      expect(await res.body.text()).toBe('****ab');
    } finally {
      await rt.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.each(LANGUAGES)('%s runtime over TLS', (language) => {
  let dir: string;
  let pki: TestPki;

  beforeAll(() => {
    dir = installVolume(language);
    pki = makePki(mkdtempSync(path.join(tmpdir(), 'kubeless-pki-')));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(pki.dir, { recursive: true, force: true });
  });

  it('serves HTTPS with a certificate and key', async () => {
    const rt = await startRuntime(language, { ...baseEnv(language, dir), FUNC_TLS_CERT_FILE: pki.serverCert, FUNC_TLS_KEY_FILE: pki.serverKey });
    const agent = new Agent({ connect: { ca: pki.read(pki.caCert) } });
    try {
      expect(rt.url.startsWith('https://')).toBe(true);
      const res = await request(`${rt.url}/text`, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe('hello world');
    } finally {
      await agent.close();
      await rt.stop();
    }
  });

  it('with a client CA, rejects clients without a valid certificate and serves those with one', async () => {
    const rt = await startRuntime(language, {
      ...baseEnv(language, dir),
      FUNC_TLS_CERT_FILE: pki.serverCert,
      FUNC_TLS_KEY_FILE: pki.serverKey,
      FUNC_TLS_CLIENT_CA_FILE: pki.caCert,
    });
    const ca = pki.read(pki.caCert);
    const anonymous = new Agent({ connect: { ca } });
    const intruder = new Agent({ connect: { ca, cert: pki.read(pki.otherClientCert), key: pki.read(pki.otherClientKey) } });
    const client = new Agent({ connect: { ca, cert: pki.read(pki.clientCert), key: pki.read(pki.clientKey) } });
    try {
      await expect(request(`${rt.url}/text`, { dispatcher: anonymous }).then((r) => r.body.text())).rejects.toThrow();
      await expect(request(`${rt.url}/text`, { dispatcher: intruder }).then((r) => r.body.text())).rejects.toThrow();
      const res = await request(`${rt.url}/echo`, { dispatcher: client, method: 'POST', headers: { 'event-id': 'mtls' }, body: 'over mTLS' });
      expect(res.statusCode).toBe(200);
      const e = (await res.body.json()) as Echo;
      expect(e['event-id']).toBe('mtls');
      expect(e.data).toBe('over mTLS');
    } finally {
      await Promise.all([anonymous.close(), intruder.close(), client.close()]);
      await rt.stop();
    }
  });
});
