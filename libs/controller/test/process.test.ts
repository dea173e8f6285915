import { commonShape, leaseShape, loadConfig } from '@kubeless/config';
import { describe, expect, it } from 'vitest';
import { leaderElectionFrom } from '../src/process.js';

describe('leaderElectionFrom', () => {
  const shape = { ...commonShape, ...leaseShape('kubeless-x') };

  it("builds the Manager's Lease settings from the defaults (client-go's timings)", () => {
    const config = loadConfig(shape, {});
    expect(leaderElectionFrom(config, 'pod-1')).toEqual({ namespace: 'kubeless', name: 'kubeless-x', identity: 'pod-1', leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 });
  });

  it('follows the variables, and is off with LEADER_ELECT=false', () => {
    const env = { POD_NAMESPACE: 'ops', LEASE_NAME: 'mine', LEASE_DURATION: '30s', LEASE_RENEW_DEADLINE: '20s', LEASE_RETRY_PERIOD: '500ms' };
    expect(leaderElectionFrom(loadConfig(shape, env), 'pod-2')).toEqual({ namespace: 'ops', name: 'mine', identity: 'pod-2', leaseDurationMs: 30_000, renewDeadlineMs: 20_000, retryPeriodMs: 500 });
    expect(leaderElectionFrom(loadConfig(shape, { ...env, LEADER_ELECT: 'false' }), 'pod-2')).toBe(false);
  });
});
