import { describe, expect, it } from 'vitest';
import { ConfigError, commonShape, deliveryFrom, deliveryShape, deliveryTlsFrom, deliveryTlsShape, env, loadConfig } from '../src/index.js';

describe('loadConfig', () => {
  it('applies defaults and types values', () => {
    const cfg = loadConfig(
      { ...commonShape, BATCH: env.int(1, 10).default(10), BROKERS: env.list(), WAIT: env.duration().prefault('20s') },
      { LOG_LEVEL: 'debug', LEADER_ELECT: 'false', BROKERS: 'a:9092, b:9092,' },
    );
    expect(cfg.LOG_LEVEL).toBe('debug');
    expect(cfg.HEALTH_PORT).toBe(8081);
    expect(cfg.LEADER_ELECT).toBe(false);
    expect(cfg.BATCH).toBe(10);
    expect(cfg.BROKERS).toEqual(['a:9092', 'b:9092']);
    expect(cfg.WAIT).toBe(20_000);
    expect(cfg.KUBECONFIG).toBeUndefined();
  });

  it('lists every bad key at once and never echoes values', () => {
    let caught: unknown;
    try {
      loadConfig(
        { LOG_LEVEL: env.enum(['info', 'debug']), PORT: env.int(1, 65535), SECRET: env.duration(), REQ: env.string() },
        { LOG_LEVEL: 'loud', PORT: '70000', SECRET: 'hunter2' },
      );
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const e = caught as ConfigError;
    expect(e.code).toBe('KUBELESS_CONFIG_INVALID');
    expect(e.issues.map((i) => i.split(':')[0]).sort()).toEqual(['LOG_LEVEL', 'PORT', 'REQ', 'SECRET']);
    expect(e.message).not.toContain('hunter2');
  });

  it('treats empty strings as unset', () => {
    const cfg = loadConfig({ X: env.int().default(5), Y: env.bool().default(true) }, { X: '', Y: '' });
    expect(cfg).toEqual({ X: 5, Y: true });
  });

  it('deliveryTlsFrom: undefined without files, the files when set, a ConfigError for a certificate without its key', () => {
    const shape = deliveryTlsShape;
    expect(deliveryTlsFrom(loadConfig(shape, {}))).toBeUndefined();
    expect(deliveryTlsFrom(loadConfig(shape, { DELIVERY_TLS_CA: '/ca' }))).toEqual({ caFile: '/ca', certFile: undefined, keyFile: undefined });
    expect(deliveryTlsFrom(loadConfig(shape, { DELIVERY_TLS_CERT: '/crt', DELIVERY_TLS_KEY: '/key' }))).toEqual({ caFile: undefined, certFile: '/crt', keyFile: '/key' });
    expect(() => deliveryTlsFrom(loadConfig(shape, { DELIVERY_TLS_CERT: '/crt' }))).toThrow(ConfigError);
    expect(() => deliveryTlsFrom(loadConfig(shape, { DELIVERY_TLS_KEY: '/key' }))).toThrow('TLS client certificate and key must be given together');
  });

  it('deliveryFrom: the defaults of every event trigger, and the variables when set', () => {
    expect(deliveryFrom(loadConfig(deliveryShape, {}))).toEqual({ endpointMode: 'service', clusterDomain: 'cluster.local', trustedEndpointManagers: [], deliveryTls: undefined, maxEventBytes: 1024 * 1024 });
    const vars = { ENDPOINT_MODE: 'endpointslice', CLUSTER_DOMAIN: 'corp.local', TRUSTED_ENDPOINTSLICE_MANAGERS: 'istio, linkerd', DELIVERY_TLS_CA: '/ca', MAX_EVENT_BYTES: '2048' };
    expect(deliveryFrom(loadConfig(deliveryShape, vars))).toEqual({ endpointMode: 'endpointslice', clusterDomain: 'corp.local', trustedEndpointManagers: ['istio', 'linkerd'], deliveryTls: { caFile: '/ca', certFile: undefined, keyFile: undefined }, maxEventBytes: 2048 });
    expect(() => loadConfig(deliveryShape, { ENDPOINT_MODE: 'pods' })).toThrow(ConfigError);
  });
});
