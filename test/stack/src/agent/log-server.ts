/**
 * The kubelet's container-log endpoint, over TLS, so `kubectl logs` and `kubeless function logs`
 * work through the API server: GET /containerLogs/<namespace>/<pod>/<container>[?follow=true&tailLines=N].
 */
import { createReadStream, readFileSync, statSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export function startLogServer(options: {
  port: number;
  certFile: string;
  keyFile: string;
  logFile: (namespace: string, pod: string, container: string) => string | undefined;
}): Promise<https.Server> {
  const server = https.createServer({ cert: readFileSync(options.certFile), key: readFileSync(options.keyFile) }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://localhost');
    const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    const file = m ? options.logFile(decodeURIComponent(m[1] ?? ''), decodeURIComponent(m[2] ?? ''), decodeURIComponent(m[3] ?? '')) : undefined;
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('container not found on this node\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    let size = 0;
    try {
      size = statSync(file).size;
    } catch {
      // not written yet
    }
    const tail = Number(url.searchParams.get('tailLines') ?? NaN);
    if (!Number.isNaN(tail)) {
      const text = size > 0 ? readFileSync(file, 'utf8') : '';
      const lines = text.split('\n');
      if (lines.at(-1) === '') lines.pop();
      res.write(lines.slice(-tail).map((l) => `${l}\n`).join(''));
    } else if (size > 0) {
      res.write(readFileSync(file));
    }
    if (url.searchParams.get('follow') !== 'true') {
      res.end();
      return;
    }
    let offset = size;
    const timer = setInterval(() => {
      let now = 0;
      try {
        now = statSync(file).size;
      } catch {
        return;
      }
      if (now <= offset) return;
      createReadStream(file, { start: offset, end: now - 1 }).pipe(res, { end: false });
      offset = now;
    }, 250);
    req.on('close', () => {
      clearInterval(timer);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => {
      resolve(server);
    });
  });
}

export const portOf = (s: https.Server): number => (s.address() as AddressInfo).port;
