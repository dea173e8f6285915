import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from './logger.js';

/** A readiness check: true or a promise of true means ready; false or a throw means not ready. */
export type ReadinessGate = () => boolean | Promise<boolean>;

export interface HealthServerOptions {
  host?: string;
  /** 0 picks a free port. */
  port: number;
  registry: Registry;
  logger?: Logger;
  /** A gate that takes longer than this counts as not ready. Default 2000 ms. */
  gateTimeoutMs?: number;
}

/**
 * The /healthz, /readyz and /metrics server of a process.
 * - /healthz answers 200 while the process is alive and not shutting down.
 * - /readyz answers 200 only when every registered gate passes, else 503 with the failing names.
 * - /metrics serves the registry in the Prometheus text format.
 */
export class HealthServer {
  readonly #gates = new Map<string, ReadinessGate>();
  readonly #server: Server;
  readonly #options: HealthServerOptions;
  #shuttingDown = false;

  constructor(options: HealthServerOptions) {
    this.#options = options;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        options.logger?.error({ err }, 'health server request failed');
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
  }

  /** Adds or replaces a named readiness gate. */
  addReadinessGate(name: string, gate: ReadinessGate): void {
    this.#gates.set(name, gate);
  }

  removeReadinessGate(name: string): void {
    this.#gates.delete(name);
  }

  /** Marks the process as stopping: /healthz and /readyz answer 503 from now on. */
  markShuttingDown(): void {
    this.#shuttingDown = true;
  }

  /** Names of the gates that do not pass now. */
  async failingGates(): Promise<string[]> {
    const timeoutMs = this.#options.gateTimeoutMs ?? 2000;
    const results = await Promise.all(
      [...this.#gates].map(async ([name, gate]) => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<boolean>((resolve) => {
          timer = setTimeout(() => {
            resolve(false);
          }, timeoutMs);
        });
        try {
          const ok = await Promise.race([Promise.resolve().then(gate), timeout]);
          return ok ? undefined : name;
        } catch {
          return name;
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    return results.filter((n): n is string => n !== undefined);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (path) {
      case '/healthz':
        res.writeHead(this.#shuttingDown ? 503 : 200, { 'content-type': 'text/plain' });
        res.end(this.#shuttingDown ? 'shutting down\n' : 'ok\n');
        return;
      case '/readyz': {
        const failing = this.#shuttingDown ? ['shutdown'] : await this.failingGates();
        res.writeHead(failing.length === 0 ? 200 : 503, { 'content-type': 'text/plain' });
        res.end(failing.length === 0 ? 'ok\n' : `not ready: ${failing.join(', ')}\n`);
        return;
      }
      case '/metrics': {
        const body = await this.#options.registry.metrics();
        res.writeHead(200, { 'content-type': this.#options.registry.contentType });
        res.end(body);
        return;
      }
      default:
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  }

  /** Starts listening; resolves with the bound port. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.port, this.#options.host ?? '0.0.0.0', () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    return (this.#server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.#shuttingDown = true;
    await new Promise<void>((resolve) => {
      this.#server.close(() => {
        resolve();
      });
      this.#server.closeAllConnections();
    });
  }
}
