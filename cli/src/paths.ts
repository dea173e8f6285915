/** API paths of the objects the CLI reads and writes. */
import { API_VERSION } from '@kubeless/api';

export const PLURALS = { Function: 'functions', HTTPTrigger: 'httptriggers', KafkaTrigger: 'kafkatriggers', SQSTrigger: 'sqstriggers', CronJobTrigger: 'cronjobtriggers' } as const;
export type KubelessKind = keyof typeof PLURALS;

export function kubelessPath(kind: KubelessKind, namespace: string, name?: string): string {
  const base = `/apis/${API_VERSION}/namespaces/${encodeURIComponent(namespace)}/${PLURALS[kind]}`;
  return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
}

export function corePath(resource: string, namespace: string, name?: string): string {
  const base = `/api/v1/namespaces/${encodeURIComponent(namespace)}/${resource}`;
  return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
}

/** The API server's service proxy to `service` on `port` (a port name or number), ending in `/`. */
export function serviceProxyPath(namespace: string, service: string, port: string | number, rest = ''): string {
  return `${corePath('services', namespace, `${service}:${String(port)}`)}/proxy/${rest}`;
}
