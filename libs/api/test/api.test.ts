import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { buildCrds, crdDrift, DEFAULT_CRD_DIR, functionTimeoutMs, parseDuration, resolveDelivery, triggerTopics } from '../src/index.js';

describe('CRD drift check', () => {
  it('finds the committed helm/kubeless/crds identical to the generator output', async () => {
    expect(await crdDrift()).toEqual([]);
  });

  it('reports a changed, missing or extra file', async () => {
    const { mkdtemp, writeFile, cp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(path.join(tmpdir(), 'crds-'));
    await cp(DEFAULT_CRD_DIR, dir, { recursive: true });
    await writeFile(path.join(dir, 'functions.kubeless.io.yaml'), '# edited by hand\n');
    await writeFile(path.join(dir, 'extra.yaml'), 'x: 1\n');
    const { rm } = await import('node:fs/promises');
    await rm(path.join(dir, 'sqstriggers.kubeless.io.yaml'));
    expect((await crdDrift(dir)).sort()).toEqual([
      'extra.yaml: not produced by the generator',
      'functions.kubeless.io.yaml: differs from the generator',
      'sqstriggers.kubeless.io.yaml: missing',
    ]);
  });
});

describe('buildCrds', () => {
  const crds = buildCrds();
  it('makes the five kinds namespaced, with status, short names and the kubeless category', () => {
    expect(crds.map((c) => c.metadata.name)).toEqual([
      'functions.kubeless.io',
      'httptriggers.kubeless.io',
      'kafkatriggers.kubeless.io',
      'sqstriggers.kubeless.io',
      'cronjobtriggers.kubeless.io',
    ]);
    for (const crd of crds) {
      expect(crd.spec.scope).toBe('Namespaced');
      expect(crd.spec.names.categories).toEqual(['kubeless']);
      expect(crd.spec.names.shortNames.length).toBeGreaterThan(0);
      const [v] = crd.spec.versions;
      expect(v?.name).toBe('v1beta1');
      expect(v?.subresources.status).toEqual({});
      expect(v?.additionalPrinterColumns.map((c) => c.name)).toContain('Ready');
    }
  });

  it('keeps every original field name exactly', async () => {
    const fn = parse(await readFile(path.join(DEFAULT_CRD_DIR, 'functions.kubeless.io.yaml'), 'utf8')) as {
      spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: { properties: object } } } } }[] };
    };
    const fields = Object.keys(fn.spec.versions[0]?.schema.openAPIV3Schema.properties.spec.properties ?? {});
    expect(fields).toEqual(
      expect.arrayContaining(['handler', 'runtime', 'function', 'function-content-type', 'checksum', 'deps', 'timeout', 'deployment', 'service', 'horizontalPodAutoscaler']),
    );
    const http = crds[1]?.spec.versions[0]?.schema.openAPIV3Schema.properties?.spec?.properties ?? {};
    expect(Object.keys(http)).toEqual(
      expect.arrayContaining(['function-name', 'host-name', 'path', 'tls', 'tls-secret', 'basic-auth-secret', 'gateway', 'cors-enable']),
    );
  });

  it('CronJobTrigger: the original fields, required schedule and function, the schedule rule and the delivery subset', () => {
    const cron = crds[4]?.spec.versions[0]?.schema.openAPIV3Schema.properties?.spec;
    expect(Object.keys(cron?.properties ?? {})).toEqual(['function-name', 'schedule', 'payload', 'timeZone', 'concurrencyPolicy', 'startingDeadlineSeconds', 'suspend', 'delivery']);
    expect(cron?.required).toEqual(['function-name', 'schedule']);
    expect(cron?.properties?.schedule?.['x-kubernetes-validations']?.[0]?.message).toMatch(/^schedule must be five cron fields/);
    expect(Object.keys(cron?.properties?.delivery?.properties ?? {})).toEqual(['timeout', 'retry', 'backoffPolicy', 'backoffDelay', 'backoffMax', 'eventMode']);
  });
});

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['2m', 120_000],
    ['1h30m', 5_400_000],
    ['1.5s', 1500],
    ['250us', 0.25],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '10', 's', '-1s', '1d', '1 s'])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(TypeError);
  });
});

describe('resolveDelivery', () => {
  it('applies the documented defaults', () => {
    expect(resolveDelivery(undefined, 180_000)).toEqual({
      ordering: 'ordered',
      maxInFlight: 1,
      timeoutMs: 180_000,
      retry: 3,
      backoffPolicy: 'exponential',
      backoffDelayMs: 1000,
      backoffMaxMs: 60_000,
      deadLetter: undefined,
      onExhausted: 'block',
      rateLimit: undefined,
      eventMode: 'binary',
      commitIntervalMs: 100,
      commitWindow: 1000,
    });
  });

  it('reads the commit window (KafkaTrigger) and refuses a bad commitInterval', () => {
    const d = resolveDelivery({ ordering: 'unordered', commitInterval: '2s', commitWindow: 50 }, 180_000);
    expect(d.commitIntervalMs).toBe(2000);
    expect(d.commitWindow).toBe(50);
    expect(() => resolveDelivery({ commitInterval: '0s' }, 180_000)).toThrow(/delivery.commitInterval must be longer than 0/);
  });

  it('defaults onExhausted to deadLetter when a dead letter is named, and maxInFlight to 100 when unordered', () => {
    const d = resolveDelivery({ ordering: 'unordered', deadLetter: 'dlq', timeout: '5s' }, 180_000);
    expect(d.onExhausted).toBe('deadLetter');
    expect(d.maxInFlight).toBe(100);
    expect(d.timeoutMs).toBe(5000);
  });

  it('keeps an explicit drop', () => {
    expect(resolveDelivery({ onExhausted: 'drop' }, 1000).onExhausted).toBe('drop');
  });
});

describe('functionTimeoutMs', () => {
  it.each([
    ['kubeless function deploy --timeout 5', '5', 5000],
    ['a number', 30, 30_000],
    ['no --timeout', undefined, 180_000],
    ['not a number', 'soon', 180_000],
    ['zero', '0', 180_000],
    ['negative', '-3', 180_000],
  ])('%s', (_what, timeout, want) => {
    expect(functionTimeoutMs({ spec: timeout === undefined ? {} : { timeout } })).toBe(want);
  });

  it('is the default when there is no function (a cron trigger whose function is gone)', () => {
    expect(functionTimeoutMs(undefined)).toBe(180_000);
  });
});

describe('triggerTopics', () => {
  it('merges topic and topics without duplicates or empties', () => {
    expect(triggerTopics({ topic: 'a', topics: ['b', 'a', ''] })).toEqual(['a', 'b']);
    expect(triggerTopics({ topic: '' })).toEqual([]);
  });
});
