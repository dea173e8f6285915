import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { KafkaTriggerError } from '../../src/errors.js';
import { authFromEnv, authFromSecret, type KafkaEnv } from '../../src/kafka.js';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const secret = (data: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)]));

const USER = 'svc-user-7f3a';
const PASS = 'p@ss w0rd:ünïcode\nline2';
const CA = '-----BEGIN CERTIFICATE-----\nMIIBca-SECRET-CA\n-----END CERTIFICATE-----\n';
const CERT = '-----BEGIN CERTIFICATE-----\nMIIBcert-SECRET-CERT\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIEkey-SECRET-KEY\n-----END PRIVATE KEY-----\n';

/** Runs authFromSecret expecting a KafkaTriggerError (SecretInvalid, not a RangeError: bad input is no bug), and checks no value of the Secret leaks into it. */
function rejects(data: Record<string, string>, message: RegExp): void {
  let err: unknown;
  try {
    authFromSecret(secret(data));
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(KafkaTriggerError);
  expect(err).toMatchObject({ reason: 'SecretInvalid', code: 'KUBELESS_KAFKA_SECRET_INVALID', retriable: true });
  const text = `${(err as Error).message}\n${String((err as Error).stack)}\n${JSON.stringify(err)}`;
  expect((err as Error).message).toMatch(message);
  for (const value of Object.values(data)) {
    expect(text).not.toContain(value);
    expect(text).not.toContain(b64(value));
  }
}

describe('authFromSecret', () => {
  it('tls: "true" in any case turns TLS on; "false" leaves it off; anything else is refused, never read as plaintext', () => {
    for (const v of ['true', 'TRUE', ' True ']) expect(authFromSecret(secret({ tls: v }))).toEqual({ tls: { rejectUnauthorized: true } });
    expect(authFromSecret(secret({ tls: 'false' }))).toEqual({});
    rejects({ tls: 'yes-please' }, /tls must be "true" or "false"/);
  });

  it('no Secret data or an empty Secret means plaintext without SASL', () => {
    expect(authFromSecret(undefined)).toEqual({});
    expect(authFromSecret({})).toEqual({});
  });

  it.each<[string, 'plain' | 'scram-sha-256' | 'scram-sha-512']>([
    ['plain', 'plain'],
    ['PLAIN', 'plain'],
    ['scram-sha-256', 'scram-sha-256'],
    ['SCRAM-SHA-512', 'scram-sha-512'],
  ])('sasl.mechanism %s', (given, mechanism) => {
    const auth = authFromSecret(secret({ 'sasl.mechanism': given, username: USER, password: PASS }));
    expect(auth.sasl).toEqual({ mechanism, username: USER, password: PASS });
    expect(auth.tls).toBeUndefined();
  });

  it('decodes base64 values (Secret data), not the raw strings', () => {
    const auth = authFromSecret(secret({ 'sasl.mechanism': 'plain', username: USER, password: PASS }));
    expect(auth.sasl?.password).toBe(PASS);
    expect(auth.sasl?.password).not.toBe(b64(PASS));
  });

  it('TLS with a CA only verifies the server', () => {
    expect(authFromSecret(secret({ 'ca.crt': CA }))).toEqual({ tls: { rejectUnauthorized: true, ca: CA } });
  });

  it('TLS with a client certificate and key, plus SASL', () => {
    const auth = authFromSecret(secret({ 'ca.crt': CA, 'tls.crt': CERT, 'tls.key': KEY, 'sasl.mechanism': 'scram-sha-256', username: USER, password: PASS }));
    expect(auth).toEqual({
      tls: { rejectUnauthorized: true, ca: CA, cert: CERT, key: KEY },
      sasl: { mechanism: 'scram-sha-256', username: USER, password: PASS },
    });
  });

  it('a client certificate without a CA uses the system roots', () => {
    const auth = authFromSecret(secret({ 'tls.crt': CERT, 'tls.key': KEY }));
    expect(auth.tls).toEqual({ rejectUnauthorized: true, cert: CERT, key: KEY });
    expect(auth.tls && 'ca' in auth.tls).toBe(false);
  });

  it('tls: "true" turns TLS on without any certificate; other values do not', () => {
    expect(authFromSecret(secret({ tls: 'true' }))).toEqual({ tls: { rejectUnauthorized: true } });
    expect(authFromSecret(secret({ tls: 'false' }))).toEqual({});
    expect(authFromSecret(secret({ tls: 'true', 'sasl.mechanism': 'plain', username: USER, password: PASS }))).toEqual({
      tls: { rejectUnauthorized: true },
      sasl: { mechanism: 'plain', username: USER, password: PASS },
    });
  });

  it('rejects an unknown SASL mechanism', () => {
    rejects({ 'sasl.mechanism': 'gssapi-SECRET-MECH', username: USER, password: PASS }, /sasl\.mechanism must be one of plain, scram-sha-256, scram-sha-512/);
  });

  it.each<[string, Record<string, string>]>([
    ['no password', { 'sasl.mechanism': 'plain', username: USER }],
    ['no username', { 'sasl.mechanism': 'scram-sha-512', password: PASS }],
    ['neither', { 'sasl.mechanism': 'plain' }],
  ])('rejects SASL with %s', (_name, data) => {
    rejects(data, /sasl needs the keys username and password/);
  });

  it.each<[string, Record<string, string>]>([
    ['a certificate without a key', { 'tls.crt': CERT, 'ca.crt': CA }],
    ['a key without a certificate', { 'tls.key': KEY, 'sasl.mechanism': 'plain', username: USER, password: PASS }],
  ])('rejects %s', (_name, data) => {
    rejects(data, /tls\.crt and tls\.key must be given together/);
  });
});

describe('authFromEnv', () => {
  const off: KafkaEnv = { KAFKA_ENABLE_TLS: false, KAFKA_INSECURE: false, KAFKA_ENABLE_SASL: false, KAFKA_SASL_MECHANISM: 'plain' };
  const dir = (files: Record<string, string>): string => {
    const d = mkdtempSync(path.join(os.tmpdir(), 'kafka-auth-'));
    for (const [k, v] of Object.entries(files)) writeFileSync(path.join(d, k), v);
    return d;
  };

  it('is plaintext without TLS or SASL', () => {
    expect(authFromEnv(off)).toEqual({});
  });

  it('KAFKA_ENABLE_SASL with KAFKA_USERNAME and KAFKA_PASSWORD; KAFKA_ENABLE_TLS with KAFKA_CACERTS and KAFKA_INSECURE', () => {
    const d = dir({ ca: CA });
    try {
      expect(authFromEnv({ ...off, KAFKA_ENABLE_SASL: true, KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_USERNAME: USER, KAFKA_PASSWORD: PASS, KAFKA_ENABLE_TLS: true, KAFKA_CACERTS: path.join(d, 'ca'), KAFKA_INSECURE: true })).toEqual({
        sasl: { mechanism: 'scram-sha-256', username: USER, password: PASS },
        tls: { rejectUnauthorized: false, ca: CA },
      });
    } finally {
      rmSync(d, { recursive: true });
    }
  });

  it('KAFKA_AUTH_DIR: a mounted Secret with the keys of an authSecret, the mechanism from KAFKA_SASL_MECHANISM when it has none', () => {
    const d = dir({ username: USER, password: PASS, 'ca.crt': CA });
    try {
      expect(authFromEnv({ ...off, KAFKA_ENABLE_SASL: true, KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_AUTH_DIR: d })).toEqual({
        sasl: { mechanism: 'scram-sha-512', username: USER, password: PASS },
        tls: { rejectUnauthorized: true, ca: CA },
      });
    } finally {
      rmSync(d, { recursive: true });
    }
  });
});
