import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Counter, HealthServer, createLogger, createRegistry } from '../src/index.js';

const servers: HealthServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(defaultMetrics = false): Promise<{ server: HealthServer; base: string; registry: ReturnType<typeof createRegistry> }> {
  const registry = createRegistry({ defaultMetrics });
  const server = new HealthServer({ port: 0, host: '127.0.0.1', registry, gateTimeoutMs: 200 });
  servers.push(server);
  const port = await server.listen();
  return { server, base: `http://127.0.0.1:${String(port)}`, registry };
}

describe('HealthServer', () => {
  it('gates /readyz on every gate and serves metrics', async () => {
    const { server, base, registry } = await start();
    let synced = false;
    server.addReadinessGate('informers-synced', () => synced);
    server.addReadinessGate('slow', () => new Promise<boolean>(() => undefined));
    new Counter({ name: 'test_things_total', help: 'things', registers: [registry] }).inc(3);

    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.text()).toBe('not ready: informers-synced, slow\n');

    synced = true;
    server.removeReadinessGate('slow');
    expect((await fetch(`${base}/readyz`)).status).toBe(200);

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('test_things_total 3');
    expect((await fetch(`${base}/nope`)).status).toBe(404);

    server.markShuttingDown();
    expect((await fetch(`${base}/healthz`)).status).toBe(503);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
  });

  it('counts a throwing gate as not ready', async () => {
    const { server, base } = await start();
    server.addReadinessGate('broken', () => {
      throw new Error('boom');
    });
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
  });
});

describe('createLogger', () => {
  it('writes JSON lines with errors under err and secrets redacted', async () => {
    const out = new PassThrough();
    const lines: string[] = [];
    out.on('data', (b: Buffer) => lines.push(...b.toString().trim().split('\n')));
    const log = createLogger({ name: 'test', destination: out });
    log.child({ controller: 'kafka' }).error({ err: new Error('kaput'), password: 'hunter2', creds: { token: 't0p' } }, 'delivery failed');
    await new Promise((r) => setImmediate(r));
    const line = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    expect(line.msg).toBe('delivery failed');
    expect(line.level).toBe('error');
    expect(line.controller).toBe('kafka');
    expect((line.err as { message: string }).message).toBe('kaput');
    expect(lines[0]).not.toContain('hunter2');
    expect(lines[0]).not.toContain('t0p');
  });

  it('binds the component as `component`, so an object\'s namespace and name bound by a child are the only ones', async () => {
    const out = new PassThrough();
    const lines: string[] = [];
    out.on('data', (b: Buffer) => lines.push(...b.toString().trim().split('\n')));
    createLogger({ name: 'kafka-trigger', destination: out }).child({ namespace: 'team', name: 'orders' }).info('reconciled');
    await new Promise((r) => setImmediate(r));
    const text = lines[0] ?? '';
    expect(JSON.parse(text)).toMatchObject({ component: 'kafka-trigger', namespace: 'team', name: 'orders', msg: 'reconciled' });
    expect(text.match(/"name":/g)).toHaveLength(1);
  });
});

describe('createRegistry', () => {
  it('exports the default process and Node.js metrics under their standard names (scraped from /metrics)', async () => {
    const { base } = await start(true);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/^process_cpu_seconds_total \d/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    expect(text).not.toContain('kubeless_process_');
  });
});
