/**
 * Connection settings from a per-trigger Secret: SASL PLAIN and SCRAM against the stack's SASL
 * listener; wrong credentials show in status instead of crashing anything.
 */
import { KAFKA_SASL_USER, grantSecrets, stackEnv, uniqueName, withNamespace } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder, createTopic, eventually, kafkaTrigger, kubeClient, produce, registerFunction, startController, triggersPath, type RunningController } from './harness.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('kafka-trigger SASL', () => {
  const client = kubeClient();
  let ns: { name: string; cleanup: () => Promise<void> };
  let controller: RunningController;

  const secret = async (name: string, mechanism: string, password: string): Promise<void> => {
    await client.create(`/api/v1/namespaces/${ns.name}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: ns.name },
      data: { 'sasl.mechanism': b64(mechanism), username: b64(KAFKA_SASL_USER.username), password: b64(password) },
    });
  };

  beforeAll(async () => {
    ns = await withNamespace('kafka-sasl');
    // The controller runs on its ServiceAccount: it reads only the Secrets granted by name.
    await grantSecrets('kafka-trigger', ns.name, ['sasl-plain', 'sasl-scram-sha-256', 'sasl-scram-sha-512', 'badauth']);
    controller = await startController(ns.name);
  }, 60_000);

  afterAll(async () => {
    await controller.stop();
    await ns.cleanup();
    client.close();
  });

  for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512']) {
    it(`consumes through SASL ${mechanism} with credentials from the trigger's Secret`, async () => {
      const topic = uniqueName(mechanism);
      await createTopic(topic, 1);
      const fn = new Recorder();
      const name = `sasl-${mechanism}`;
      await registerFunction(client, ns.name, name, fn);
      await secret(name, mechanism, KAFKA_SASL_USER.password);
      await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, name, { topic, functionName: name, initialOffset: 'earliest', brokers: [stackEnv().KAFKA_SASL_BROKERS], authSecret: name }));
      await produce(topic, [{ value: `via ${mechanism}` }]);
      const got = await eventually(`${mechanism} delivered`, () => Promise.resolve(fn.received[0]), 40_000);
      expect(got.body.toString()).toBe(`via ${mechanism}`);
      await fn.close();
    }, 60_000);
  }

  it('shows wrong credentials in status', async () => {
    const fn = new Recorder();
    await registerFunction(client, ns.name, 'badauth', fn);
    await secret('badauth', 'scram-sha-256', 'wrong-password');
    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'badauth', { topic: 'anything', functionName: 'badauth', brokers: [stackEnv().KAFKA_SASL_BROKERS], authSecret: 'badauth' }));
    const cond = await eventually('BrokerReachable False', async () => {
      const t = await client.get<any>(`${triggersPath(ns.name)}/badauth`);
      const c = t.status?.conditions?.find((x: any) => x.type === 'BrokerReachable');
      return c?.status === 'False' ? c : undefined;
    }, 40_000);
    expect(cond.message).toMatch(/auth/i);
    await fn.close();
  }, 60_000);

  it('shows a Secret it was not granted as SecretForbidden, and never reads it', async () => {
    const fn = new Recorder();
    await registerFunction(client, ns.name, 'ungranted', fn);
    await secret('ungranted', 'plain', KAFKA_SASL_USER.password);
    await client.create(triggersPath(ns.name), kafkaTrigger(ns.name, 'ungranted', { topic: 'anything', functionName: 'ungranted', brokers: [stackEnv().KAFKA_SASL_BROKERS], authSecret: 'ungranted' }));
    const cond = await eventually('BrokerReachable False (SecretForbidden)', async () => {
      const t = await client.get<any>(`${triggersPath(ns.name)}/ungranted`);
      const c = t.status?.conditions?.find((x: any) => x.type === 'BrokerReachable');
      return c?.status === 'False' ? c : undefined;
    }, 40_000);
    expect(cond.reason).toBe('SecretForbidden');
    expect(cond.message).toContain('kafkaTrigger.rbac.secrets');
    await fn.close();
  }, 60_000);
});
