import { describe, expect, it } from 'vitest';
import { DeliveryError, describeFailure, isRetriableStatus, isSuccess, parseRetryAfter } from '../src/index.js';

describe('isSuccess', () => {
  it.each([200, 201, 202, 204, 299])('%i is a success', (s) => {
    expect(isSuccess(s)).toBe(true);
  });
  it.each([100, 199, 300, 302, 304, 400, 404, 500])('%i is not a success', (s) => {
    expect(isSuccess(s)).toBe(false);
  });
});

describe('isRetriableStatus', () => {
  it.each([500, 502, 503, 504, 599, 404, 408, 409, 429])('%i is retried', (s) => {
    expect(isRetriableStatus(s)).toBe(true);
  });
  it.each([400, 401, 403, 405, 410, 413, 415, 422, 451])('%i goes to the dead letter at once', (s) => {
    expect(isRetriableStatus(s)).toBe(false);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2015-10-21T07:28:00Z');
  const cap = 60_000;

  it('reads delta-seconds as ms', () => {
    expect(parseRetryAfter('2', cap, now)).toBe(2000);
    expect(parseRetryAfter('0', cap, now)).toBe(0);
    expect(parseRetryAfter(' 3 ', cap, now)).toBe(3000);
    expect(parseRetryAfter('1.5', cap, now)).toBe(1500);
  });

  it('reads an HTTP date relative to now', () => {
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', cap, now)).toBe(30_000);
    // The obsolete RFC 850 and asctime forms are HTTP-dates too.
    expect(parseRetryAfter('Wednesday, 21-Oct-15 07:28:10 GMT', cap, now)).toBe(10_000);
  });

  it('gives 0 for a date in the past (never negative)', () => {
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:00:00 GMT', cap, now)).toBe(0);
  });

  it('caps both forms', () => {
    expect(parseRetryAfter('3600', cap, now)).toBe(cap);
    expect(parseRetryAfter('Thu, 22 Oct 2015 07:28:00 GMT', cap, now)).toBe(cap);
    expect(parseRetryAfter('5', 1000, now)).toBe(1000);
  });

  it.each(['', '   ', 'soon', '12abc', '1e3', '0x10', 'soon 5', 'now 2099', 'NaN'])('ignores garbage %j', (v) => {
    expect(parseRetryAfter(v, cap, now)).toBeUndefined();
  });

  it('ignores a negative delay instead of reading it as a year', () => {
    expect(parseRetryAfter('-5', cap, now)).toBeUndefined();
  });

  it('is undefined when absent and takes the first of repeated headers', () => {
    expect(parseRetryAfter(undefined, cap, now)).toBeUndefined();
    expect(parseRetryAfter(['4', '9'], cap, now)).toBe(4000);
    expect(parseRetryAfter([], cap, now)).toBeUndefined();
  });
});

describe('DeliveryError', () => {
  it('carries kind, code, retriable, status, retryAfterMs and cause', () => {
    const cause = new Error('boom');
    const e = new DeliveryError('HttpStatus', 'function answered 503', { retriable: true, status: 503, retryAfterMs: 2000, cause });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('DeliveryError');
    expect(e.kind).toBe('HttpStatus');
    expect(e.code).toBe('KUBELESS_DELIVERY_HTTP_STATUS');
    expect(new DeliveryError('EventTooLarge', 'x', { retriable: false }).code).toBe('KUBELESS_DELIVERY_EVENT_TOO_LARGE');
    expect(e.retriable).toBe(true);
    expect(e.status).toBe(503);
    expect(e.retryAfterMs).toBe(2000);
    expect(e.cause).toBe(cause);
  });

  it.each([
    ['HttpStatus', 'http_404'],
    ['Timeout', 'timeout'],
    ['Connection', 'connection'],
    ['NoEndpoints', 'no_endpoints'],
    ['EventTooLarge', 'event_too_large'],
    ['InvalidEvent', 'invalid_event'],
    ['Aborted', 'aborted'],
  ] as const)('%s has the reason %s', (kind, reason) => {
    expect(new DeliveryError(kind, 'x', { retriable: false, status: 404 }).reason).toBe(reason);
  });

  it('describeFailure calls a TypeError or RangeError (a bug or bad input, the same on every attempt) non-retriable', () => {
    expect(describeFailure(new RangeError('Invalid time value'))).toEqual({ reason: 'internal_error', message: 'Invalid time value', retriable: false });
    expect(describeFailure(new TypeError('x is not a function'))).toEqual({ reason: 'internal_error', message: 'x is not a function', retriable: false });
  });

  it('describeFailure keeps a DeliveryError and calls anything else a retriable error', () => {
    expect(describeFailure(new DeliveryError('HttpStatus', 'function answered 400', { retriable: false, status: 400 }))).toEqual({
      reason: 'http_400',
      message: 'function answered 400',
      retriable: false,
    });
    expect(describeFailure(new Error('odd'))).toEqual({ reason: 'error', message: 'odd', retriable: true });
    expect(describeFailure('plain')).toEqual({ reason: 'error', message: 'plain', retriable: true });
  });
});
