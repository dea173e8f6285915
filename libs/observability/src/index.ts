export { createLogger, REDACT_PATHS, type Logger, type LoggerSettings } from './logger.js';
export { createRegistry, Counter, Gauge, Histogram, Summary, Registry } from './metrics.js';
export { HealthServer, type HealthServerOptions, type ReadinessGate } from './health-server.js';
