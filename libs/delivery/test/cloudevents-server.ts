import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HTTP, type CloudEvent } from 'cloudevents';

/** One request as a function's server saw it, and what the official SDK made of it. */
export interface ReceivedEvent {
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  mode: 'binary' | 'structured';
  /** `HTTP.toEvent` of the request: the event, or what it threw. */
  event?: CloudEvent;
  error?: unknown;
}

export interface CloudEventsServer {
  url: URL;
  received: ReceivedEvent[];
  close: () => Promise<void>;
}

/** Python's http.server refuses requests with more header lines than this (431); Node has no such bound. */
export const PYTHON_MAX_HEADERS = 100;

/**
 * A real HTTP server on 127.0.0.1, port 0, with the strictest limits of the runtimes' servers
 * (Node's 16 KiB of headers, Python's 100 header lines: both answer 431), that runs the cloudevents
 * SDK's `HTTP.toEvent` on every request, as a function written against the SDK would, and answers
 * `status(received)` (200 by default).
 */
export async function startCloudEventsServer(status: (r: ReceivedEvent) => number = () => 200, options: http.ServerOptions = {}): Promise<CloudEventsServer> {
  const received: ReceivedEvent[] = [];
  const server = http.createServer(options, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const structured = (req.headers['content-type'] ?? '').startsWith('application/cloudevents+json');
      const r: ReceivedEvent = { headers: req.headers, body, mode: structured ? 'structured' : 'binary' };
      if (req.rawHeaders.length / 2 > PYTHON_MAX_HEADERS) {
        r.error = new Error(`${String(req.rawHeaders.length / 2)} header lines`);
        received.push(r);
        res.writeHead(431).end();
        return;
      }
      try {
        // Binary mode: the raw bytes (the SDK passes a Buffer through); structured: the JSON text.
        const ev = HTTP.toEvent({ headers: req.headers, body: structured ? body.toString('utf8') : body });
        if (Array.isArray(ev)) throw new Error('a batch');
        r.event = ev as CloudEvent;
      } catch (err) {
        r.error = err;
      }
      received.push(r);
      res.writeHead(status(r)).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${String(port)}/`),
    received,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    },
  };
}

const CORE = new Set(['id', 'source', 'type', 'specversion', 'time', 'subject', 'datacontenttype', 'dataschema', 'data', 'data_base64']);

/**
 * The extensions of a received event as bytes, decoded as the runtimes do (the documented wire
 * form): binary mode percent-decodes once (invalid UTF-8 throws, as the binding requires); a name
 * ending in `b64` holds base64 of the value of the name without it; anything else is UTF-8 text.
 */
export function decodeExtensions(r: ReceivedEvent): Map<string, Buffer> {
  const ev = r.event;
  if (!ev) throw new Error('no event');
  const out = new Map<string, Buffer>();
  for (const [name, raw] of Object.entries(ev)) {
    if (CORE.has(name) || typeof raw !== 'string') continue;
    const text = r.mode === 'binary' ? decodeURIComponent(raw) : raw;
    if (name.endsWith('b64')) out.set(name.slice(0, -3), Buffer.from(text, 'base64'));
    else out.set(name, Buffer.from(text, 'utf8'));
  }
  return out;
}
