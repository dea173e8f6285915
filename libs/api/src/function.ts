import type { CommonStatus, KubelessObject } from './meta.js';

/**
 * Function spec: the original kubeless v1beta1 fields with their exact JSON names
 * (docs/architecture.md#compatibility-with-the-original). Every field is optional at the API level,
 * as in the original; the CRD rejects what cannot work (a runtime without a handler, a malformed
 * checksum).
 */
export interface FunctionSpec {
  /** `<module>.<function>`; required when `runtime` is set. */
  handler?: string;
  /** Runtime id as listed in kubeless-config, e.g. `python3.12`, `nodejs24`. Empty with a custom image. */
  runtime?: string;
  /** The code: text, base64 or a URL, per `function-content-type`. */
  function?: string;
  /** `text` | `base64` | `url`, optionally `+zip` or `+compressedtar`, optionally `+deps`. Empty means text. */
  'function-content-type'?: string;
  /** `sha256:<64 hex>` of the raw code bytes; empty is accepted (deprecated, as in the original). */
  checksum?: string;
  /** The runtime's dependency file (package.json, requirements.txt). */
  deps?: string;
  /** Seconds, as a string ("180") or an integer. Default 180. */
  timeout?: string | number;
  /** apps/v1 Deployment merged under the generated one; container 0 is the function container. */
  deployment?: Record<string, unknown>;
  /** core/v1 ServiceSpec; the default is used when it has no ports. */
  service?: Record<string, unknown>;
  /** An HPA, created only when it names itself and a scale target (a zero-value object is ignored). */
  horizontalPodAutoscaler?: Record<string, unknown>;
}

export interface FunctionStatus extends CommonStatus {
  /** Ready replicas of the function's Deployment. */
  readyReplicas?: number;
  /** Desired replicas of the function's Deployment. */
  replicas?: number;
  /** In-cluster URL of the function's Service. */
  url?: string;
}

export type Function = KubelessObject<'Function', FunctionSpec, FunctionStatus>;

/** Content types accepted in `function-content-type`. */
export const FUNCTION_CONTENT_TYPE_PATTERN = '^((text|base64|url)(\\+zip|\\+compressedtar)?(\\+deps)?)?$';
/** `<module>.<function>`: exactly two non-empty parts split on one dot. */
export const HANDLER_PATTERN = '^[^.\\s]+\\.[^.\\s]+$';
/** `sha256:` and 64 lowercase or uppercase hex digits, or empty. */
export const CHECKSUM_PATTERN = '^(sha256:[0-9a-fA-F]{64})?$';
/** The default function timeout in seconds, as the original controller and CLI set it. */
export const DEFAULT_FUNCTION_TIMEOUT_SECONDS = 180;
