import { describe, expect, it } from 'vitest';
import { replicaFailure } from '../../src/reconcile.js';

describe('replicaFailure', () => {
  it('says why the pods cannot be created, from the Deployment condition the deployment controller copies', () => {
    const message = 'pods "f-1" is forbidden: error looking up service account ns/deployer: serviceaccount "deployer" not found';
    const d = { status: { conditions: [{ type: 'Available', status: 'False' }, { type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message }] } };
    expect(replicaFailure(d)).toEqual({ reason: 'ReplicaFailure', message: `the pods cannot be created: ${message}` });
  });

  it('is undefined without a true ReplicaFailure condition', () => {
    expect(replicaFailure(undefined)).toBeUndefined();
    expect(replicaFailure({ status: { conditions: [{ type: 'ReplicaFailure', status: 'False' }] } })).toBeUndefined();
  });
});
