/**
 * @kubeless/runtime-nodejs: the Node.js function runtime and the code preparation tool.
 * Entry points: `dist/server.js` (the runtime) and `dist/prepare.js` (the `prepare` init container).
 */
export { AccessLog } from './access-log.js';
export { decodeBody, InvalidBodyError, isBinaryMediaType, mediaType } from './body.js';
export { decodeHeaderValue, InvalidCloudEventError, parseBinaryCloudEvent, parseStructuredCloudEvent, type CloudEventAttributes } from './cloudevents.js';
export { DEFAULT_BODY_LIMIT_MB, DEFAULT_MAX_HEADER_KB, DEFAULT_MAX_HEADERS, DEFAULT_TIMEOUT_SECONDS, loadPrepareConfig, loadRuntimeConfig, prepareShape, runtimeShape, type PrepareConfig, type RuntimeConfig, type TlsFiles } from './config.js';
export {
  createContext,
  extensionBytes,
  FunctionResponse,
  type FunctionContext,
  type FunctionEvent,
  type FunctionHandler,
  type ResponseHeaders,
  type ResponseInit,
} from './function-types.js';
export { KubelessRequest, KubelessResponse } from './http-compat.js';
export { FunctionLoadError, loadFunction } from './load-function.js';
export { DURATION_BUCKETS, FunctionMetrics, METRICS_CONTENT_TYPE } from './metrics.js';
export { prepareCode, parseContentType, PrepareError, type ContentType, type PrepareResult, type PrepareSettings } from './prepare-code.js';
export { FunctionRuntime, type FunctionRuntimeOptions } from './runtime.js';
export { startRuntimeServer, type RuntimeIo, type RuntimeServer } from './runtime-server.js';
export { Supervisor, WorkerStartError, type SupervisorIo } from './supervisor.js';
export { BOARD_SLOTS, boardNow, createBoard, HEARTBEAT_MS, InvocationBoard, readBoard, runaway, STALL_MS, type BoardSnapshot, type RunningInvocation } from './watchdog.js';
