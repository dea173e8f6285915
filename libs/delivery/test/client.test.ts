import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { DeliveryClient, DeliveryError, type HttpMessage } from '../src/index.js';
import { freePort, startServer, type Handler, type TestServer } from './helpers.js';

const message: HttpMessage = {
  headers: { 'content-type': 'application/octet-stream', 'ce-id': 'partition:0/offset:7', 'ce-specversion': '1.0' },
  body: new Uint8Array([0x00, 0xff, 0x10, 0x80]),
};

let server: TestServer | undefined;
let client: DeliveryClient | undefined;

afterEach(async () => {
  await client?.close();
  await server?.close();
  client = undefined;
  server = undefined;
});

async function serve(handler: Handler): Promise<TestServer> {
  server = await startServer(handler);
  return server;
}
function newClient(options: Partial<ConstructorParameters<typeof DeliveryClient>[0]> = {}): DeliveryClient {
  client = new DeliveryClient({ userAgent: 'kubeless-test/1.0', ...options });
  return client;
}
async function sendError(p: Promise<unknown>): Promise<DeliveryError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(DeliveryError);
    return err as DeliveryError;
  }
  throw new Error('expected the send to fail');
}
const status = (code: number, headers: Record<string, string> = {}, body = ''): Handler => (_req, res) => {
  res.writeHead(code, headers).end(body);
};

describe('DeliveryClient over real sockets', () => {
  it('resolves on 200 and sends the message as given: POST, headers, body, user agent', async () => {
    const s = await serve(status(200, {}, 'ignored reply'));
    const res = await newClient().send(new URL('/fn/path', s.url), message, { timeoutMs: 5000 });
    expect(res).toEqual({ status: 200 });
    expect(s.requests).toHaveLength(1);
    const r = s.requests[0]!;
    expect(r.method).toBe('POST');
    expect(r.url).toBe('/fn/path');
    expect(r.headers['ce-id']).toBe('partition:0/offset:7');
    expect(r.headers['content-type']).toBe('application/octet-stream');
    expect(r.headers['user-agent']).toBe('kubeless-test/1.0');
    expect(r.body.equals(Buffer.from([0x00, 0xff, 0x10, 0x80]))).toBe(true);
  });

  it.each([201, 202, 204])('resolves on %i', async (code) => {
    const s = await serve(status(code));
    expect(await newClient().send(s.url, message, { timeoutMs: 5000 })).toEqual({ status: code });
  });

  it('sends a string body too', async () => {
    const s = await serve(status(200));
    await newClient().send(s.url, { headers: { 'content-type': 'application/cloudevents+json' }, body: '{"id":"1"}' }, { timeoutMs: 5000 });
    expect(s.requests[0]?.body.toString()).toBe('{"id":"1"}');
  });

  it('throws a retriable HttpStatus error on 503, with the status and the error body', async () => {
    const s = await serve(status(503, { 'content-type': 'text/plain' }, 'overloaded,\n  try later'));
    const e = await sendError(newClient().send(s.url, message, { timeoutMs: 5000 }));
    expect(e.kind).toBe('HttpStatus');
    expect(e.status).toBe(503);
    expect(e.retriable).toBe(true);
    expect(e.retryAfterMs).toBeUndefined();
    expect(e.reason).toBe('http_503');
    expect(e.message).toBe('function answered 503: overloaded, try later');
  });

  it('keeps at most 512 bytes of a long error body', async () => {
    const s = await serve(status(500, {}, 'x'.repeat(100_000)));
    const e = await sendError(newClient().send(s.url, message, { timeoutMs: 5000 }));
    expect(e.message).toBe(`function answered 500: ${'x'.repeat(512)}`);
  });

  it('throws a non-retriable error on 400', async () => {
    const s = await serve(status(400, {}, 'bad event'));
    const e = await sendError(newClient().send(s.url, message, { timeoutMs: 5000 }));
    expect(e.kind).toBe('HttpStatus');
    expect(e.status).toBe(400);
    expect(e.retriable).toBe(false);
  });

  it.each([
    [404, true],
    [408, true],
    [409, true],
    [401, false],
    [403, false],
    [413, false],
    [422, false],
  ])('classifies %i as retriable=%s', async (code, retriable) => {
    const s = await serve(status(code));
    const e = await sendError(newClient().send(s.url, message, { timeoutMs: 5000 }));
    expect(e.status).toBe(code);
    expect(e.retriable).toBe(retriable);
  });

  it('reads Retry-After on 429, capped by retryAfterCapMs', async () => {
    const s = await serve(status(429, { 'retry-after': '2' }));
    const e = await sendError(newClient().send(s.url, message, { timeoutMs: 5000 }));
    expect(e.retriable).toBe(true);
    expect(e.status).toBe(429);
    expect(e.retryAfterMs).toBe(2000);
    await client?.close();
    const capped = await sendError(newClient({ retryAfterCapMs: 500 }).send(s.url, message, { timeoutMs: 5000 }));
    expect(capped.retryAfterMs).toBe(500);
  });

  it('reads an HTTP-date Retry-After on 503', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(503, { 'retry-after': new Date(Date.now() + 30_000).toUTCString() }).end();
    });
    const e = await sendError(newClient().send(s.url, message, { timeoutMs: 5000 }));
    expect(e.retryAfterMs).toBeGreaterThan(27_000);
    expect(e.retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  it('throws a retriable Timeout when the function never answers, at timeoutMs', async () => {
    const s = await serve(() => {
      // Never answer.
    });
    const c = newClient();
    const started = performance.now();
    const e = await sendError(c.send(s.url, message, { timeoutMs: 300 }));
    const took = performance.now() - started;
    expect(e.kind).toBe('Timeout');
    expect(e.retriable).toBe(true);
    expect(e.reason).toBe('timeout');
    expect(e.message).toMatch(/within 300 ms/u);
    // undici's own timers alone fired after ~1 s here; the client keeps to timeoutMs.
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(800);
    expect(s.requests).toHaveLength(1);
  });

  it('does not time out early either (undici alone fired a 900 ms timeout after ~600 ms)', async () => {
    const s = await serve((_req, res) => {
      setTimeout(() => res.writeHead(200).end(), 750);
    });
    const c = newClient();
    for (let i = 0; i < 3; i++) expect(await c.send(s.url, message, { timeoutMs: 900 })).toEqual({ status: 200 });
  });

  it('resolves on a 2xx whose body then stalls (the status decides), within the timeout', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': '10' });
      res.write('abc'); // never finished
    });
    const started = performance.now();
    expect(await newClient().send(s.url, message, { timeoutMs: 300 })).toEqual({ status: 200 });
    expect(performance.now() - started).toBeLessThan(800);
  });

  it("removes its listener from the caller's signal after each send", async () => {
    const s = await serve(status(200));
    const c = newClient();
    const ac = new AbortController();
    for (let i = 0; i < 15; i++) await c.send(s.url, message, { timeoutMs: 5000, signal: ac.signal });
    await sendError(c.send(new URL(`http://127.0.0.1:${await freePort()}/`), message, { timeoutMs: 5000, signal: ac.signal }));
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('throws a retriable Connection error when the connection is refused', async () => {
    const port = await freePort();
    const e = await sendError(newClient().send(new URL(`http://127.0.0.1:${port}/`), message, { timeoutMs: 2000 }));
    expect(e.kind).toBe('Connection');
    expect(e.retriable).toBe(true);
    expect(e.message).toMatch(/ECONNREFUSED/u);
    expect(e.cause).toBeDefined();
  });

  it('throws a retriable Connection error when the function drops the connection', async () => {
    const s = await serve((req) => {
      req.socket.destroy();
    });
    const e = await sendError(newClient().send(s.url, message, { timeoutMs: 2000 }));
    expect(e.kind).toBe('Connection');
    expect(e.retriable).toBe(true);
  });

  it('throws Aborted when the signal aborts mid-request, long before the timeout', async () => {
    const s = await serve(() => {
      // Never answer.
    });
    const ac = new AbortController();
    setTimeout(() => {
      ac.abort(new Error('shutdown'));
    }, 100);
    const started = performance.now();
    const e = await sendError(newClient().send(s.url, message, { timeoutMs: 10_000, signal: ac.signal }));
    expect(e.kind).toBe('Aborted');
    expect(e.reason).toBe('aborted');
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('throws Aborted without a request when the signal is already aborted', async () => {
    const s = await serve(status(200));
    const ac = new AbortController();
    ac.abort();
    const e = await sendError(newClient().send(s.url, message, { timeoutMs: 5000, signal: ac.signal }));
    expect(e.kind).toBe('Aborted');
    expect(s.requests).toHaveLength(0);
  });

  it('reuses one keep-alive connection for 20 sequential sends, also after error answers', async () => {
    let n = 0;
    const s = await serve((_req, res) => {
      n++;
      res.writeHead(n % 5 === 0 ? 503 : 200).end(n % 5 === 0 ? 'busy' : 'ok');
    });
    const c = newClient();
    let failures = 0;
    for (let i = 0; i < 20; i++) {
      try {
        await c.send(s.url, message, { timeoutMs: 5000 });
      } catch (err) {
        expect((err as DeliveryError).status).toBe(503);
        failures++;
      }
      // undici marks a connection free again ("drain") one turn after its response completed.
      await new Promise((r) => setImmediate(r));
    }
    expect(s.requests).toHaveLength(20);
    expect(failures).toBe(4);
    expect(s.connections()).toBe(1);
  });

  it('back-to-back sends with no turn between them still stay on at most two connections', async () => {
    const s = await serve(status(200, {}, 'ok'));
    const c = newClient();
    for (let i = 0; i < 20; i++) await c.send(s.url, message, { timeoutMs: 5000 });
    expect(s.requests).toHaveLength(20);
    expect(s.connections()).toBeGreaterThanOrEqual(1);
    expect(s.connections()).toBeLessThanOrEqual(2);
  });

  it('opens one connection per origin and no more than connectionsPerEndpoint', async () => {
    const pending: (() => void)[] = [];
    const s = await serve((_req, res) => {
      pending.push(() => res.writeHead(200).end());
    });
    const c = newClient({ connectionsPerEndpoint: 2 });
    const sends = Array.from({ length: 6 }, () => c.send(s.url, message, { timeoutMs: 5000 }));
    // Answer as requests arrive until all six are done.
    const deadline = Date.now() + 5000;
    let answered = 0;
    while (answered < 6 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
      for (const f of pending.splice(0)) {
        f();
        answered++;
      }
    }
    await Promise.all(sends);
    expect(answered).toBe(6);
    expect(s.connections()).toBe(2);
  });

  it('close() lets a request in flight finish', async () => {
    const s = await serve((_req, res) => {
      setTimeout(() => res.writeHead(200).end(), 100);
    });
    const c = newClient();
    const p = c.send(s.url, message, { timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 20));
    const closed = c.close();
    expect(await p).toEqual({ status: 200 });
    await closed;
    client = undefined;
  });
});
