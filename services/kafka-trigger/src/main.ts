/**
 * kafka-trigger: process wiring only. Skeleton: the reconciler lands with its own issue; until then the
 * process serves /healthz and /metrics and reports not ready, so nothing routes work to it.
 */
import { commonShape, loadConfig } from '@kubeless/config';
import { HealthServer, createLogger, createRegistry } from '@kubeless/observability';

const config = loadConfig(commonShape);
const logger = createLogger({ name: 'kafka-trigger', level: config.LOG_LEVEL });
const registry = createRegistry();
const health = new HealthServer({ port: config.HEALTH_PORT, host: config.HEALTH_HOST, registry, logger });
health.addReadinessGate('reconciler-not-implemented', () => false);
const port = await health.listen();
logger.info({ port }, 'health server listening');

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'shutting down');
    void health.close().then(() => process.exit(0));
  });
}
