/**
 * Wires the runtime: loads the function, creates the HTTP or HTTPS server, and drains on request.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { AccessLog } from './access-log.js';
import type { RuntimeConfig } from './config.js';
import { createContext } from './function-types.js';
import { KubelessRequest, KubelessResponse } from './http-compat.js';
import { loadFunction } from './load-function.js';
import { FunctionMetrics } from './metrics.js';
import { FunctionRuntime } from './runtime.js';
import { readTlsOptions, watchTlsFiles } from './tls.js';
import type { InvocationBoard } from './watchdog.js';

export interface RuntimeIo {
  stdout: (data: string | Uint8Array) => void;
  stderr: (text: string) => void;
}

export interface RuntimeServer {
  /** The request log on stdout; other stdout lines go through it too, to keep their order. */
  accessLog: AccessLog;
  server: Server<typeof KubelessRequest, typeof KubelessResponse> | HttpsServer<typeof KubelessRequest, typeof KubelessResponse>;
  runtime: FunctionRuntime;
  /** `http(s)://<host>:<port>` as bound (the port is the real one when FUNC_PORT is 0). */
  url: string;
  /**
   * Graceful stop: stops accepting connections, lets in-flight requests finish (each is bounded by
   * FUNC_TIMEOUT), then closes every connection. Resolves true when everything finished in time.
   */
  shutdown(): Promise<boolean>;
}

/** Keep idle connections longer than the usual client and proxy idle timeouts (no race on reuse). */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/**
 * Loads the function and listens; rejects when the function cannot be loaded or the port bound.
 * With a `board`, running invocations are published for the runaway guard (watchdog.ts); with a
 * `metricsStore` the metrics are kept there (they outlive this worker).
 */
export async function startRuntimeServer(config: RuntimeConfig, io: RuntimeIo, board?: InvocationBoard, metricsStore?: SharedArrayBuffer): Promise<RuntimeServer> {
  const handler = await loadFunction(config.installDir, config.moduleName, config.functionName);
  const accessLog = new AccessLog(io.stdout);
  const metrics = new FunctionMetrics(metricsStore);
  const timeoutMs = Math.round(config.timeoutSeconds * 1000);
  const runtime = new FunctionRuntime({
    handler,
    context: createContext(config.functionName, config.timeoutSeconds, config.runtime, config.memoryLimit),
    timeoutMs,
    bodyLimitBytes: config.bodyLimitBytes,
    metrics,
    accessLog,
    reportError: (message) => {
      io.stderr(`${new Date().toISOString()} ${message}\n`);
    },
    board,
  });
  // maxHeaderSize: binary-mode CloudEvents carry a Kafka key and headers in `ce-*` headers, so the
  // default 16 KiB would answer 431 (not retried) to events the triggers accept.
  const httpOptions = { IncomingMessage: KubelessRequest, ServerResponse: KubelessResponse, maxHeaderSize: config.maxHeaderBytes };
  let server: Server<typeof KubelessRequest, typeof KubelessResponse> | HttpsServer<typeof KubelessRequest, typeof KubelessResponse>;
  let stopWatching = (): void => undefined;
  if (config.tls !== undefined) {
    const tlsFiles = config.tls;
    const { requestCert, rejectUnauthorized, ...context } = readTlsOptions(tlsFiles);
    const https = createHttpsServer({ ...httpOptions, ...context, requestCert, rejectUnauthorized }, runtime.handle);
    https.on('tlsClientError', (err, socket) => {
      io.stderr(`${new Date().toISOString()} TLS handshake with ${socket.remoteAddress ?? '-'} failed: ${err.message}\n`);
    });
    stopWatching = watchTlsFiles(
      tlsFiles,
      ({ requestCert: _r, rejectUnauthorized: _u, ...next }) => {
        https.setSecureContext(next);
        io.stderr(`${new Date().toISOString()} TLS certificates reloaded\n`);
      },
      (err) => {
        io.stderr(`${new Date().toISOString()} TLS certificates changed but could not be read, keeping the old ones: ${String(err)}\n`);
      },
    );
    server = https;
  } else {
    server = createHttpServer(httpOptions, runtime.handle);
  }
  // Node drops header lines past this count (it does not answer 431).
  server.maxHeadersCount = config.maxHeaderCount;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${config.tls !== undefined ? 'https' : 'http'}://${host}:${address.port}`;

  let shutdown: Promise<boolean> | undefined;
  return {
    accessLog,
    server,
    runtime,
    url,
    shutdown: () => {
      shutdown ??= (async () => {
        runtime.startDraining();
        stopWatching();
        const closed = new Promise<void>((resolve) => {
          server.close(() => {
            resolve();
          });
        });
        server.closeIdleConnections();
        // Each invocation ends by FUNC_TIMEOUT (408 at the latest); the margin covers writing it.
        const idle = await runtime.whenIdle(timeoutMs + 1000);
        server.closeAllConnections();
        await closed;
        accessLog.flush();
        return idle;
      })();
      return shutdown;
    },
  };
}
