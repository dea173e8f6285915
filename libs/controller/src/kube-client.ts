import https from 'node:https';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { KubeConfig } from '@kubernetes/client-node';
import { ApiError, KubeconfigError } from './errors.js';

/** A Kubernetes object as JSON; kubeless never deserialises into typed models. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }[];
    finalizers?: string[];
    deletionTimestamp?: string;
    creationTimestamp?: string;
    managedFields?: unknown[];
  };
  [key: string]: unknown;
}

export interface KubeList<T extends KubeObject = KubeObject> {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  /** Default 30 s; watches pass 0 (no timeout). */
  timeoutMs?: number;
  /** Accept header; default application/json. */
  accept?: string;
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: KubeObject & { code?: number };
}

/** One request to the API server as `node:http(s).request` takes it (`KubeClient.requestOptions`). */
export type ApiRequestOptions = Omit<https.RequestOptions, 'headers'> & { protocol: string; headers: Record<string, string> };

/**
 * The cluster's `proxy-url`, checked. Node's agents (`proxyEnv`) tunnel through an http:// or
 * https:// proxy: CONNECT for an https server (TLS then runs end to end, through the tunnel),
 * absolute-form requests for an http one. A SOCKS proxy, which kubectl also takes, is refused when
 * the kubeconfig is loaded rather than bypassed. The URL itself is never in the message: it may
 * hold credentials.
 */
function checkedProxy(cluster: string, proxyUrl: string | undefined): string | undefined {
  if (proxyUrl === undefined || proxyUrl === '') return undefined;
  let url: URL;
  try {
    url = new URL(proxyUrl);
  } catch (err) {
    throw new KubeconfigError('KUBELESS_KUBECONFIG_PROXY', `cluster "${cluster}": proxy-url is not a URL`, { cause: err });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new KubeconfigError('KUBELESS_KUBECONFIG_PROXY', `cluster "${cluster}": proxy-url scheme "${url.protocol.slice(0, -1)}" is not supported; use an http:// or https:// proxy (SOCKS is not supported)`);
  }
  return proxyUrl;
}

/**
 * A small JSON client of the API server over node:https with a keep-alive agent, built from a
 * kubeconfig (certificates, tokens, in-cluster). It exists beside @kubernetes/client-node's typed
 * APIs because those serialise through generated models, which drop fields they do not know
 * (e.g. `x-kubernetes-*` keys, and any field newer than the models) and so cannot carry a user's
 * embedded Deployment template as written. `userAgent` names the process, so the audit log tells
 * replicas apart. The cluster's `tls-server-name` is the name sent in SNI and checked against the
 * server's certificate (instead of the server URL's host), and its `proxy-url` (http:// or
 * https://) carries every connection, as kubectl does; a SOCKS proxy throws `KubeconfigError`.
 */
export class KubeClient {
  readonly #kc: KubeConfig;
  readonly #server: URL;
  readonly #userAgent: string;
  readonly #proxy: string | undefined;
  readonly #tlsServerName: string | undefined;
  #agent: https.Agent | http.Agent | undefined;

  /** Uses `kc`'s current context; throws `KubeconfigError` when it has no cluster or an unusable `proxy-url`. */
  constructor(kc: KubeConfig, options: { userAgent?: string } = {}) {
    this.#kc = kc;
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new KubeconfigError('KUBELESS_KUBECONFIG_NO_CLUSTER', 'kubeconfig has no current cluster');
    this.#server = new URL(cluster.server);
    this.#proxy = checkedProxy(cluster.name, cluster.proxyUrl);
    this.#tlsServerName = cluster.tlsServerName === '' ? undefined : cluster.tlsServerName;
    this.#userAgent = options.userAgent ?? 'kubeless';
  }

  /**
   * Loads a kubeconfig from `path`, or from the default rules (KUBECONFIG, in-cluster,
   * ~/.kube/config), and uses `context` (default: its current context); an unknown context throws
   * `KubeconfigError` (`KUBELESS_KUBECONFIG_NO_CONTEXT`).
   */
  static fromKubeconfig(path: string | undefined, options: { userAgent?: string; context?: string } = {}): KubeClient {
    const kc = new KubeConfig();
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
    if (options.context !== undefined) {
      const context = options.context;
      if (!kc.getContexts().some((c) => c.name === context)) throw new KubeconfigError('KUBELESS_KUBECONFIG_NO_CONTEXT', `context "${context}" not found in the kubeconfig`);
      kc.setCurrentContext(context);
    }
    return new KubeClient(kc, options);
  }

  get kubeConfig(): KubeConfig {
    return this.#kc;
  }

  /**
   * The options of one request to the API server, for `node:http(s).request`: the credentials
   * (tokens refreshed as the kubeconfig says), `user-agent`, and this client's keep-alive agent,
   * which carries the CA, client certificate, `tls-server-name` and `proxy-url`. For callers that
   * send requests of their own (the CLI's service-proxy calls and log streams); `request` and
   * `watch` use it too. The agent is made on first use and lives until `close()`.
   */
  async requestOptions(method: string, path: string, query?: RequestOptions['query']): Promise<ApiRequestOptions> {
    const opts: https.RequestOptions = { headers: {} };
    await this.#kc.applyToHTTPSOptions(opts);
    const url = new URL(this.#server.toString().replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    this.#agent ??= this.#newAgent(url.protocol, opts);
    return {
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      agent: this.#agent,
      // A user with a username and password (basic auth).
      auth: opts.auth,
      headers: { ...(opts.headers as Record<string, string> | undefined), 'user-agent': this.#userAgent },
    };
  }

  /**
   * Node's `proxyEnv` agents tunnel through `proxy-url`; `servername` sets SNI and the name the
   * certificate is checked against (tls.connect checks `servername` before the host).
   */
  #newAgent(protocol: string, tls: https.RequestOptions): https.Agent | http.Agent {
    const pool = { keepAlive: true, maxSockets: 64 };
    if (protocol === 'https:') {
      return new https.Agent({
        ...pool,
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        rejectUnauthorized: tls.rejectUnauthorized,
        servername: this.#tlsServerName,
        proxyEnv: this.#proxy === undefined ? undefined : { HTTPS_PROXY: this.#proxy },
      });
    }
    return new http.Agent({ ...pool, proxyEnv: this.#proxy === undefined ? undefined : { HTTP_PROXY: this.#proxy } });
  }

  async #options(method: string, path: string, query: RequestOptions['query']): Promise<ApiRequestOptions> {
    const opts = await this.requestOptions(method, path, query);
    opts.headers.accept = 'application/json';
    return opts;
  }

  /** Sends one request; resolves with the parsed JSON body, throws ApiError on a non-2xx status. */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const opts = await this.#options(method, path, options.query);
    if (options.accept) opts.headers.accept = options.accept;
    const payload = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    if (payload !== undefined) {
      opts.headers['content-type'] = options.contentType ?? 'application/json';
      opts.headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const mod = opts.protocol === 'https:' ? https : http;
    return new Promise<T>((resolve, reject) => {
      const req = mod.request({ ...opts, signal: options.signal }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let body: unknown = text;
          try {
            body = text === '' ? undefined : JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve(body as T);
            return;
          }
          const st = (typeof body === 'object' && body !== null ? body : {}) as { reason?: string; message?: string };
          reject(new ApiError(status, st.reason ?? res.statusMessage ?? '', st.message ?? text.slice(0, 500), body, method, path));
        });
      });
      const timeoutMs = options.timeoutMs ?? 30_000;
      if (timeoutMs > 0) {
        req.setTimeout(timeoutMs, () => {
          req.destroy(new ApiError(0, 'Timeout', `no answer within ${String(timeoutMs)} ms`, undefined, method, path));
        });
      }
      req.on('error', (err) => {
        reject(err instanceof ApiError ? err : new ApiError(0, 'ConnectionError', err.message, undefined, method, path));
      });
      req.end(payload);
    });
  }

  get<T extends KubeObject>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, { signal });
  }

  /** Lists all pages of a collection. */
  async list<T extends KubeObject>(path: string, query: RequestOptions['query'] = {}, signal?: AbortSignal): Promise<KubeList<T>> {
    let cont: string | undefined;
    const items: T[] = [];
    let last: KubeList<T>;
    do {
      last = await this.request<KubeList<T>>('GET', path, { query: { ...query, limit: 500, continue: cont }, signal, timeoutMs: 60_000 });
      items.push(...last.items);
      cont = last.metadata?.continue;
      if (cont === '') cont = undefined;
    } while (cont);
    return { ...last, items };
  }

  /**
   * Opens a watch on `path` from `resourceVersion`; `onEvent` gets each event, `onDone` the end
   * (an error, or undefined when the server closed the stream). Returns a function that stops it.
   */
  async watch(
    path: string,
    query: RequestOptions['query'],
    onEvent: (e: WatchEvent) => void,
    onDone: (err?: unknown) => void,
  ): Promise<() => void> {
    const opts = await this.#options('GET', path, { ...query, watch: 'true', allowWatchBookmarks: 'true' });
    const mod = opts.protocol === 'https:' ? https : http;
    let finished = false;
    const finish = (err?: unknown): void => {
      if (finished) return;
      finished = true;
      onDone(err);
    };
    const req = mod.request(opts, (res) => {
      // A destroyed request makes the response emit 'aborted' errors: always listen.
      res.on('error', (err) => {
        finish(err);
      });
      if (res.statusCode !== 200) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let st: { reason?: string; message?: string } = {};
          try {
            st = JSON.parse(text) as typeof st;
          } catch {
            // keep defaults
          }
          finish(new ApiError(res.statusCode ?? 0, st.reason ?? '', st.message ?? text, st, 'WATCH', path));
        });
        return;
      }
      const lines = createInterface({ input: res, crlfDelay: Infinity });
      lines.on('line', (line) => {
        if (line.trim() === '') return;
        try {
          onEvent(JSON.parse(line) as WatchEvent);
        } catch (err) {
          // A broken line means a broken stream: end it and let the informer resume.
          req.destroy(err as Error);
        }
      });
      lines.on('close', () => {
        finish();
      });
      // readline re-emits its input's errors (e.g. "aborted" when we stop the watch).
      lines.on('error', (err) => {
        finish(err);
      });
    });
    req.on('error', (err) => {
      finish(err);
    });
    req.end();
    return () => {
      finished = true;
      req.destroy();
    };
  }

  /**
   * Server-side apply of a whole object under `fieldManager` (force takes ownership of fields
   * another manager set). Returns the object as stored.
   */
  apply<T extends KubeObject>(path: string, obj: KubeObject, fieldManager: string, options: { force?: boolean; dryRun?: boolean; signal?: AbortSignal } = {}): Promise<T> {
    return this.request<T>('PATCH', path, {
      body: obj,
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager, force: options.force ?? true, dryRun: options.dryRun ? 'All' : undefined },
      signal: options.signal,
    });
  }

  /** JSON merge patch. */
  mergePatch<T extends KubeObject>(path: string, patch: unknown, signal?: AbortSignal): Promise<T> {
    return this.request<T>('PATCH', path, { body: patch, contentType: 'application/merge-patch+json', signal });
  }

  create<T extends KubeObject>(path: string, obj: KubeObject, signal?: AbortSignal): Promise<T> {
    return this.request<T>('POST', path, { body: obj, signal });
  }

  replace<T extends KubeObject>(path: string, obj: KubeObject, signal?: AbortSignal): Promise<T> {
    return this.request<T>('PUT', path, { body: obj, signal });
  }

  delete(path: string, options: { propagationPolicy?: 'Background' | 'Foreground' | 'Orphan'; signal?: AbortSignal } = {}): Promise<unknown> {
    return this.request('DELETE', path, {
      body: options.propagationPolicy ? { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: options.propagationPolicy } : undefined,
      signal: options.signal,
    });
  }

  close(): void {
    this.#agent?.destroy();
  }
}
