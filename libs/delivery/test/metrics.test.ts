import { createRegistry } from '@kubeless/observability';
import { describe, expect, it } from 'vitest';
import { deliveryMetrics } from '../src/metrics.js';

const labels = { kind: 'kafka', namespace: 'team-a', trigger: 'orders', function: 'hello' };
const l = 'kind="kafka",namespace="team-a",trigger="orders",function="hello"';

describe('deliveryMetrics', () => {
  it('prints the hot-path numbers as Prometheus counters, a gauge and a cumulative histogram', async () => {
    const registry = createRegistry({ defaultMetrics: false });
    const m = deliveryMetrics(registry);
    const s = m.series(labels);
    for (const seconds of [0.0004, 0.0005, 0.003, 0.2, 45]) {
      s.observe(seconds);
      s.delivered++;
    }
    s.retried += 2;
    s.inFlight = 3;
    const text = await registry.metrics();
    expect(text).toContain(`kubeless_delivery_delivered_total{${l}} 5`);
    expect(text).toContain(`kubeless_delivery_retried_total{${l}} 2`);
    expect(text).toContain(`kubeless_delivery_in_flight{${l}} 3`);
    expect(text).toContain('# TYPE kubeless_delivery_duration_seconds histogram');
    // 0.0004 and 0.0005 are <= 0.0005 (le is inclusive); 0.003 falls in 0.005; 0.2 in 0.25; 45 only in +Inf.
    expect(text).toContain(`kubeless_delivery_duration_seconds_bucket{le="0.0005",${l}} 2`);
    expect(text).toContain(`kubeless_delivery_duration_seconds_bucket{le="0.0025",${l}} 2`);
    expect(text).toContain(`kubeless_delivery_duration_seconds_bucket{le="0.005",${l}} 3`);
    expect(text).toContain(`kubeless_delivery_duration_seconds_bucket{le="0.25",${l}} 4`);
    expect(text).toContain(`kubeless_delivery_duration_seconds_bucket{le="30",${l}} 4`);
    expect(text).toContain(`kubeless_delivery_duration_seconds_bucket{le="+Inf",${l}} 5`);
    expect(text).toContain(`kubeless_delivery_duration_seconds_count{${l}} 5`);
    expect(text).toMatch(new RegExp(`kubeless_delivery_duration_seconds_sum\\{${l}\\} 45\\.2039`, 'u'));
  });

  it('adds only what happened since the last scrape, and shares one series per label set', async () => {
    const registry = createRegistry({ defaultMetrics: false });
    const m = deliveryMetrics(registry);
    expect(deliveryMetrics(registry)).toBe(m);
    const a = m.series(labels);
    expect(m.series({ ...labels })).toBe(a);
    a.delivered = 2;
    await registry.metrics();
    a.delivered = 5;
    m.series({ ...labels, trigger: 'other' }).delivered = 1;
    const text = await registry.metrics();
    expect(text).toContain(`kubeless_delivery_delivered_total{${l}} 5`);
    expect(text).toContain('kubeless_delivery_delivered_total{kind="kafka",namespace="team-a",trigger="other",function="hello"} 1');
    // A series with no successful attempt yet prints no histogram lines.
    expect(text).not.toContain('trigger="other",function="hello"} 0\nkubeless_delivery_duration');
    expect(text).not.toMatch(/kubeless_delivery_duration_seconds_count\{[^}]*trigger="other"/u);
  });
});

describe('deliveryMetrics.forget', () => {
  it("drops every series of a deleted trigger, whatever its function and reason, and keeps the others'", async () => {
    const registry = createRegistry({ defaultMetrics: false });
    const m = deliveryMetrics(registry);
    const gone = [labels, { ...labels, function: 'other' }];
    const kept = { ...labels, trigger: 'payments' };
    for (const set of [...gone, kept]) {
      const s = m.series(set);
      s.delivered++;
      s.retried++;
      s.inFlight = 1;
      s.observe(0.01);
      m.failed.inc({ ...set, reason: 'http_5xx' });
      m.failed.inc({ ...set, reason: 'timeout' });
      m.deadLettered.inc({ ...set, reason: 'exhausted' });
      m.dropped.inc({ ...set, reason: 'too_large' });
    }
    expect(await registry.metrics()).toContain('trigger="orders"');
    await m.forget({ kind: 'kafka', namespace: 'team-a', trigger: 'orders' });
    const text = await registry.metrics();
    expect(text).not.toContain('trigger="orders"');
    for (const name of ['delivered_total', 'retried_total', 'in_flight', 'failed_attempts_total', 'dead_lettered_total', 'dropped_total', 'duration_seconds_count']) {
      expect(text).toContain(`kubeless_delivery_${name}{`);
    }
    expect(text).toContain('kubeless_delivery_delivered_total{kind="kafka",namespace="team-a",trigger="payments",function="hello"} 1');
    expect(text).toContain('kubeless_delivery_failed_attempts_total{kind="kafka",namespace="team-a",trigger="payments",function="hello",reason="timeout"} 1');
    // A new series of the same name starts from zero.
    m.series(labels).delivered++;
    expect(await registry.metrics()).toContain(`kubeless_delivery_delivered_total{${l}} 1`);
  });
});
