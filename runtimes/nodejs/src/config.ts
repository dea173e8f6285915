/**
 * The environment contracts of the runtime server and of the code preparation tool, read once at
 * start through `@kubeless/config` (every bad key listed in one `ConfigError`).
 */
import { ConfigError, env, loadConfig, z, type Config } from '@kubeless/config';

/** FUNC_TIMEOUT when unset or 0. */
export const DEFAULT_TIMEOUT_SECONDS = 180;
/**
 * REQ_MB_LIMIT when unset: the triggers' default largest event is 1 MiB of data, which structured
 * mode sends base64-encoded inside JSON (+1/3), next to attributes and extensions (a Kafka key and
 * headers, base64 too when they are not UTF-8) and JSON escaping: 3 MiB leaves room for all of it.
 */
export const DEFAULT_BODY_LIMIT_MB = 3;
/** FUNC_MAX_HEADER_KB when unset: binary mode puts a Kafka key and headers into `ce-*` headers. */
export const DEFAULT_MAX_HEADER_KB = 64;
/** FUNC_MAX_HEADERS when unset (Node's own default is 2000, Python's http.client 100). */
export const DEFAULT_MAX_HEADERS = 1000;

/** Seconds as a positive number (fractions allowed), capped where a Node timer still works. */
const seconds = () => z.coerce.number().positive().max(2_000_000);

/** The function container's environment (the original kubeless keys plus the TLS and bind keys; runtimes/README.md, "Environment"). */
export const runtimeShape = {
  /** Name of the exported function (the part after the dot of `handler`). */
  FUNC_HANDLER: env.string(),
  /** Module name (the part before the dot): the code is `<KUBELESS_INSTALL_VOLUME>/<MOD_NAME>.js`. */
  MOD_NAME: env.string(),
  /** 0 means the default (with a warning): a Function created with `timeout: "0"` must not crash-loop. */
  FUNC_TIMEOUT: z.coerce.number().min(0).max(2_000_000).default(DEFAULT_TIMEOUT_SECONDS),
  FUNC_RUNTIME: env.string().optional(),
  FUNC_MEMORY_LIMIT: env.string().optional(),
  FUNC_PORT: env.int(0, 65535).default(8080),
  FUNC_HOST: env.string().default('0.0.0.0'),
  KUBELESS_INSTALL_VOLUME: env.string().default('/kubeless'),
  /** Request body limit in MiB. */
  REQ_MB_LIMIT: z.coerce.number().positive().max(4096).default(DEFAULT_BODY_LIMIT_MB),
  /** Largest request head (request line and headers) in KiB; larger answers 431. */
  FUNC_MAX_HEADER_KB: env.int(1, 1024 * 1024).default(DEFAULT_MAX_HEADER_KB),
  /** Most request header lines. */
  FUNC_MAX_HEADERS: env.int(1, 1_000_000).default(DEFAULT_MAX_HEADERS),
  FUNC_TLS_CERT_FILE: env.string().optional(),
  FUNC_TLS_KEY_FILE: env.string().optional(),
  FUNC_TLS_CLIENT_CA_FILE: env.string().optional(),
};

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** When set, clients must present a certificate signed by this CA (mTLS). */
  clientCaFile?: string;
}

export interface RuntimeConfig {
  functionName: string;
  moduleName: string;
  timeoutSeconds: number;
  runtime: string | undefined;
  memoryLimit: string | undefined;
  port: number;
  host: string;
  installDir: string;
  bodyLimitBytes: number;
  maxHeaderBytes: number;
  maxHeaderCount: number;
  tls: TlsFiles | undefined;
  /** Settings that were replaced by a default, to print at start. */
  warnings: string[];
}

const tlsShape = {
  FUNC_TLS_CERT_FILE: runtimeShape.FUNC_TLS_CERT_FILE,
  FUNC_TLS_KEY_FILE: runtimeShape.FUNC_TLS_KEY_FILE,
  FUNC_TLS_CLIENT_CA_FILE: runtimeShape.FUNC_TLS_CLIENT_CA_FILE,
};

/** Reads the runtime's environment; throws `ConfigError` listing every bad key. */
export function loadRuntimeConfig(source?: Record<string, string | undefined>): RuntimeConfig {
  // The TLS keys are all optional strings: this read cannot fail, so their combination is checked
  // even when other keys are bad, and the error lists everything at once.
  const t = loadConfig(tlsShape, source);
  const issues: string[] = [];
  if ((t.FUNC_TLS_CERT_FILE === undefined) !== (t.FUNC_TLS_KEY_FILE === undefined)) {
    issues.push('FUNC_TLS_CERT_FILE and FUNC_TLS_KEY_FILE: set both or neither');
  }
  if (t.FUNC_TLS_CLIENT_CA_FILE !== undefined && t.FUNC_TLS_CERT_FILE === undefined) {
    issues.push('FUNC_TLS_CLIENT_CA_FILE: needs FUNC_TLS_CERT_FILE and FUNC_TLS_KEY_FILE (mTLS is served over TLS)');
  }
  let c: Config<typeof runtimeShape>;
  try {
    c = loadConfig(runtimeShape, source);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError([...err.issues, ...issues]);
    throw err;
  }
  if (issues.length > 0) throw new ConfigError(issues);
  let tls: TlsFiles | undefined;
  if (c.FUNC_TLS_CERT_FILE !== undefined && c.FUNC_TLS_KEY_FILE !== undefined) {
    tls = { certFile: c.FUNC_TLS_CERT_FILE, keyFile: c.FUNC_TLS_KEY_FILE };
    if (c.FUNC_TLS_CLIENT_CA_FILE !== undefined) tls.clientCaFile = c.FUNC_TLS_CLIENT_CA_FILE;
  }
  const warnings: string[] = [];
  let timeoutSeconds = c.FUNC_TIMEOUT;
  if (timeoutSeconds === 0) {
    timeoutSeconds = DEFAULT_TIMEOUT_SECONDS;
    warnings.push(`FUNC_TIMEOUT=0 is not a timeout: using the default, ${DEFAULT_TIMEOUT_SECONDS}s`);
  }
  return {
    functionName: c.FUNC_HANDLER,
    moduleName: c.MOD_NAME,
    timeoutSeconds,
    runtime: c.FUNC_RUNTIME,
    memoryLimit: c.FUNC_MEMORY_LIMIT,
    port: c.FUNC_PORT,
    host: c.FUNC_HOST,
    installDir: c.KUBELESS_INSTALL_VOLUME,
    bodyLimitBytes: Math.floor(c.REQ_MB_LIMIT * 1024 * 1024),
    maxHeaderBytes: c.FUNC_MAX_HEADER_KB * 1024,
    maxHeaderCount: c.FUNC_MAX_HEADERS,
    tls,
    warnings,
  };
}

/** The `prepare` init container's environment. */
export const prepareShape = {
  /** The ConfigMap mount: the code file, `handler` and the deps file. */
  KUBELESS_SRC_DIR: env.string().default('/src'),
  KUBELESS_INSTALL_VOLUME: env.string().default('/kubeless'),
  /** The code file's name in the src dir: `<module><suffix>`, or `<module>` for archives. */
  FUNC_FILE: env.string(),
  /** text|base64|url, optionally +zip or +compressedtar, optionally +deps; empty means text. */
  FUNC_CONTENT_TYPE: env.string().default('text'),
  /** `sha256:<hex>` of the raw code bytes; empty skips the check. */
  FUNC_CHECKSUM: env.string().optional(),
  /** package.json, requirements.txt, ...; empty when the runtime has no deps file. */
  KUBELESS_DEPS_NAME: env.string().optional(),
  /** Bounds for `url` code: whole download time (seconds) and size (MiB). */
  KUBELESS_DOWNLOAD_TIMEOUT: seconds().default(300),
  KUBELESS_MAX_CODE_MB: z.coerce.number().positive().default(256),
  /** Bound on the total bytes an archive may extract to (zip and tar bombs). */
  KUBELESS_MAX_EXTRACT_MB: z.coerce.number().positive().default(2048),
};

export type PrepareConfig = ReturnType<typeof loadPrepareConfig>;

/** Reads the prepare tool's environment; throws `ConfigError` listing every bad key. */
export function loadPrepareConfig(source?: Record<string, string | undefined>) {
  const c = loadConfig(prepareShape, source);
  const mib = 1024 * 1024;
  return {
    srcDir: c.KUBELESS_SRC_DIR,
    installDir: c.KUBELESS_INSTALL_VOLUME,
    funcFile: c.FUNC_FILE,
    contentType: c.FUNC_CONTENT_TYPE,
    checksum: c.FUNC_CHECKSUM,
    depsName: c.KUBELESS_DEPS_NAME,
    downloadTimeoutMs: Math.round(c.KUBELESS_DOWNLOAD_TIMEOUT * 1000),
    maxCodeBytes: Math.floor(c.KUBELESS_MAX_CODE_MB * mib),
    maxExtractBytes: Math.floor(c.KUBELESS_MAX_EXTRACT_MB * mib),
  };
}
