/**
 * The connection to the API server: the kubeconfig (`--kubeconfig`, else `KUBECONFIG`, else
 * ~/.kube/config), its current context (`--context` overrides) and that context's namespace
 * (`-n` overrides; `default` when unset). Besides the JSON client, it sends raw requests with
 * headers and bodies of its own, for the service proxy (`function call`, `top`) and pod logs.
 */
import http from 'node:http';
import https from 'node:https';
import type { ApiRequestOptions, KubeClient } from '@kubeless/controller';
import { CliError } from './errors.js';

type KubeConfigLike = KubeClient['kubeConfig'];

export interface ConnectOptions {
  /** A kubeconfig path (or a `:`-separated list, read by the default rules). */
  kubeconfig?: string;
  context?: string;
  userAgent: string;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export class Cluster {
  readonly client: KubeClient;
  /** The current context's namespace, or `default`. */
  readonly defaultNamespace: string;
  readonly #kc: KubeConfigLike;

  private constructor(client: KubeClient) {
    this.client = client;
    this.#kc = client.kubeConfig;
    const ctx = this.#kc.getContextObject(this.#kc.getCurrentContext());
    this.defaultNamespace = ctx?.namespace ?? 'default';
  }

  /** Loads the kubeconfig; @kubeless/controller is imported here, so commands without the API server start fast. */
  static async connect(o: ConnectOptions): Promise<Cluster> {
    const { KubeClient, KubeconfigError } = await import('@kubeless/controller');
    const single = o.kubeconfig !== undefined && o.kubeconfig !== '' && !o.kubeconfig.includes(':');
    let client: KubeClient;
    try {
      // The context is chosen before the client is made: the default one may hold a proxy-url
      // the client refuses.
      client = KubeClient.fromKubeconfig(single ? o.kubeconfig : undefined, { userAgent: o.userAgent, context: o.context });
    } catch (err) {
      if (err instanceof KubeconfigError && err.code === 'KUBELESS_KUBECONFIG_NO_CONTEXT') throw new CliError(err.message, 'KUBELESS_CLI_USAGE', { cause: err });
      throw new CliError(`cannot load the kubeconfig: ${(err as Error).message}`, 'KUBELESS_CLI_KUBECONFIG', { cause: err });
    }
    return new Cluster(client);
  }

  namespace(flag: string | undefined): string {
    return flag !== undefined && flag !== '' ? flag : this.defaultNamespace;
  }

  get server(): string {
    return this.#kc.getCurrentCluster()?.server ?? '';
  }

  /** The client's request options (credentials, and its agent: CA, tls-server-name, proxy-url) with `headers` added. */
  async #requestOptions(method: string, path: string, headers: Record<string, string>): Promise<ApiRequestOptions> {
    const opts = await this.client.requestOptions(method, path);
    return { ...opts, headers: { ...opts.headers, ...headers } };
  }

  /**
   * One request with the caller's headers and body; resolves with any status (the caller decides
   * what a non-2xx means). Rejects on connection errors and after `timeoutMs` (0: none).
   */
  async raw(method: string, path: string, options: { headers?: Record<string, string>; body?: string; timeoutMs?: number } = {}): Promise<RawResponse> {
    const headers: Record<string, string> = { 'user-agent': 'kubeless-cli', ...options.headers };
    if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
    const opts = await this.#requestOptions(method, path, headers);
    const mod = opts.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(opts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
      });
      const timeoutMs = options.timeoutMs ?? 30_000;
      if (timeoutMs > 0) {
        req.setTimeout(timeoutMs, () => req.destroy(new CliError(`no answer from the API server within ${String(Math.round(timeoutMs / 1000))} s`, 'KUBELESS_CLI_TIMEOUT')));
      }
      req.on('error', (err) => {
        reject(err instanceof CliError ? err : new CliError(`unable to reach the API server: ${err.message}`, 'KUBELESS_CLI_CONNECT', { cause: err }));
      });
      req.end(options.body);
    });
  }

  /** Streams a GET's body to `onChunk` until the server ends it; a non-2xx answer rejects with its message. */
  async stream(path: string, onChunk: (chunk: Buffer) => void, signal?: AbortSignal): Promise<void> {
    const opts = await this.#requestOptions('GET', path, { 'user-agent': 'kubeless-cli' });
    const mod = opts.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request({ ...opts, signal }, (res) => {
        if ((res.statusCode ?? 0) >= 300) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            reject(new CliError(statusMessage(res.statusCode ?? 0, Buffer.concat(chunks)), res.statusCode === 404 ? 'KUBELESS_CLI_NOT_FOUND' : 'KUBELESS_CLI_API'));
          });
          return;
        }
        res.on('data', onChunk);
        res.on('error', reject);
        res.on('end', resolve);
      });
      req.on('error', (err) => {
        if (signal?.aborted) resolve();
        else reject(new CliError(`unable to reach the API server: ${err.message}`, 'KUBELESS_CLI_CONNECT', { cause: err }));
      });
      req.end();
    });
  }

  close(): void {
    this.client.close();
  }
}

/** The message of a Kubernetes Status body, else the body's text, else the status code. */
export function statusMessage(status: number, body: Buffer): string {
  const text = body.toString().trim();
  try {
    const parsed = JSON.parse(text) as { kind?: string; message?: string };
    if (parsed.kind === 'Status' && parsed.message) return parsed.message;
  } catch {
    // not JSON
  }
  return text !== '' ? text.split('\n')[0] ?? text : `the API server answered ${String(status)}`;
}
