import { describe, expect, it } from 'vitest';
import { isRejected, rejected } from '../src/apply.js';
import { ApiError } from '../src/errors.js';

const apiError = (status: number, message: string): ApiError => new ApiError(status, 'Reason', message, {}, 'PATCH', '/apis/apps/v1/namespaces/ns/deployments/f');

describe('isRejected', () => {
  it.each([
    ['a 422 (a field the schema refuses)', apiError(422, 'spec.replicas: Invalid value'), true],
    ['a 400', apiError(400, 'bad request'), true],
    ["SSA's 500 for a field of the wrong type", apiError(500, '.spec.template: failed to create typed patch object'), true],
    ['another 500', apiError(500, 'etcdserver: request timed out'), false],
    ['a 409', apiError(409, 'conflict'), false],
    ['a 403', apiError(403, 'forbidden'), false],
    ['a network error', new Error('ECONNRESET'), false],
  ])('%s: %s', (_what, err, want) => {
    expect(isRejected(err)).toBe(want);
  });
});

describe('rejected', () => {
  it('names the kind in the reason and quotes the API server', () => {
    const err = apiError(422, 'spec.replicas: Invalid value');
    expect(rejected('Deployment', err)).toEqual({ reason: 'DeploymentInvalid', message: `the API server rejected the Deployment: ${err.message}` });
    expect(rejected('Service', new Error('boom')).message).toBe('the API server rejected the Service: Error: boom');
  });
});
