/**
 * Tenant isolation (issue 18), each attack against the real stack: the controller's own Kafka
 * identity (SASL PLAIN on the stack's SASL listener) is lent to no broker a trigger chooses, to no
 * namespace or topic the operator did not grant; a function whose Service routes out of its
 * namespace gets nothing; a rotated auth Secret takes effect within 30 s.
 */
import net from 'node:net';
import { parseIdentityGrants } from '@kubeless/api';
import { KAFKA_SASL_USER, grantSecrets, stackEnv, uniqueName, withNamespace } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder, createTopic, eventually, kafka, kafkaTrigger, kubeClient, produce, registerFunction, startController, triggersPath, type RunningController } from './harness.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
type Any = any;

/** The controller's own credentials: SASL PLAIN on the stack's SASL listener. */
const controllerAuth = { sasl: { mechanism: 'plain' as const, username: KAFKA_SASL_USER.username, password: KAFKA_SASL_USER.password } };
const saslBrokers = (): string[] => [stackEnv().KAFKA_SASL_BROKERS];

/**
 * A fake Kafka broker on a stack address: answers ApiVersions (offering SaslHandshake and
 * SaslAuthenticate, as a real SASL listener does) and SaslHandshake (PLAIN), and records every
 * request's API key and every byte a client sends.
 */
class FakeBroker {
  readonly apiKeys: number[] = [];
  bytes = Buffer.alloc(0);
  readonly #sockets = new Set<net.Socket>();
  readonly #server = net.createServer((socket) => {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    let buf = Buffer.alloc(0);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      this.bytes = Buffer.concat([this.bytes, chunk]);
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        const size = buf.readInt32BE(0);
        const frame = buf.subarray(4, 4 + size);
        buf = buf.subarray(4 + size);
        const apiKey = frame.readInt16BE(0);
        const version = frame.readInt16BE(2);
        const correlationId = frame.readInt32BE(4);
        this.apiKeys.push(apiKey);
        if (apiKey === 18) socket.write(apiVersionsResponse(correlationId, version));
        else if (apiKey === 17) socket.write(saslHandshakeResponse(correlationId));
        // Anything else (Metadata, SaslAuthenticate): no answer; the client times out.
      }
    });
  });

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `127.0.0.1:${String((this.#server.address() as net.AddressInfo).port)}`;
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => this.#server.close(() => {
      resolve();
    }));
  }
}

function frame(body: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length);
  return Buffer.concat([size, body]);
}

function apiVersionsResponse(correlationId: number, version: number): Buffer {
  const apis: [number, number, number][] = [[3, 0, 5], [17, 0, 1], [18, 0, 2], [36, 0, 1]];
  const head = Buffer.alloc(4 + 2 + 4);
  head.writeInt32BE(correlationId, 0);
  head.writeInt16BE(0, 4);
  head.writeInt32BE(apis.length, 6);
  const entries = apis.map(([k, min, max]) => {
    const b = Buffer.alloc(6);
    b.writeInt16BE(k, 0);
    b.writeInt16BE(min, 2);
    b.writeInt16BE(max, 4);
    return b;
  });
  const throttle = version >= 1 ? Buffer.alloc(4) : Buffer.alloc(0);
  return frame(Buffer.concat([head, ...entries, throttle]));
}

function saslHandshakeResponse(correlationId: number): Buffer {
  const mech = Buffer.from('PLAIN');
  const b = Buffer.alloc(4 + 2 + 4 + 2);
  b.writeInt32BE(correlationId, 0);
  b.writeInt16BE(0, 4);
  b.writeInt32BE(1, 6);
  b.writeInt16BE(mech.length, 10);
  return frame(Buffer.concat([b, mech]));
}

const condition = async (ns: string, name: string, type: string): Promise<Any> => {
  const t = await kubeClient().get<Any>(`${triggersPath(ns)}/${name}`);
  return t.status?.conditions?.find((c: Any) => c.type === type);
};

/** The committed offsets of a group on a topic (-1 where none); retries while the group coordinator moves or loads. */
async function groupOffsets(groupId: string, topic: string): Promise<string[]> {
  const admin = kafka().admin();
  await admin.connect();
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
        return (t?.partitions ?? []).map((p) => p.offset);
      } catch (err) {
        if (attempt >= 10 || (err as { retriable?: boolean }).retriable !== true) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  } finally {
    await admin.disconnect();
  }
}

async function highWatermarks(topic: string): Promise<string[]> {
  const admin = kafka().admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).map((p) => p.high);
  } finally {
    await admin.disconnect();
  }
}

describe('kafka-trigger tenancy', () => {
  const client = kubeClient();
  let teamA: { name: string; cleanup: () => Promise<void> };
  let teamB: { name: string; cleanup: () => Promise<void> };
  let controller: RunningController; // watches team-b, with SASL PLAIN credentials of its own
  const topicA = uniqueName('payments');
  const topicB = uniqueName('team-b-orders');

  beforeAll(async () => {
    teamA = await withNamespace('team-a');
    teamB = await withNamespace('team-b');
    await createTopic(topicA, 1);
    await createTopic(topicB, 1);
    await produce(topicA, [{ value: 'team-a secret payment 1' }, { value: 'team-a secret payment 2' }]);
    await grantSecrets('kafka-trigger', teamB.name, ['own-auth', 'rotating']);
    // The operator granted team-a its topic, and team-b only its own topic (no dead letters).
    const grants = parseIdentityGrants(JSON.stringify([{ namespace: teamA.name, topics: [topicA], deadLetterTopics: [`${topicA}-dlq`] }, { namespace: teamB.name, topics: [topicB] }]));
    controller = await startController(teamB.name, { brokers: saslBrokers(), auth: controllerAuth, grants });
  }, 90_000);

  afterAll(async () => {
    await controller.stop();
    await teamA.cleanup();
    await teamB.cleanup();
    client.close();
  });

  it("never sends the controller's SASL credentials to brokers a trigger names without an authSecret", async () => {
    const fake = new FakeBroker();
    const address = await fake.listen();
    const fn = new Recorder();
    await registerFunction(client, teamB.name, 'exfil', fn);
    await client.create(triggersPath(teamB.name), kafkaTrigger(teamB.name, 'exfil', { topic: topicB, functionName: 'exfil', brokers: [address] }));
    // The consumer connects to the fake broker (ApiVersions, then Metadata that never answers).
    await eventually('a connection to the fake broker', () => Promise.resolve(fake.apiKeys.includes(18)), 40_000);
    const authorized = await eventually('Authorized', () => condition(teamB.name, 'exfil', 'Authorized'), 30_000);
    expect(authorized).toMatchObject({ status: 'True', reason: 'NoCredentials' });
    await new Promise((r) => setTimeout(r, 4000));
    expect(fake.apiKeys).not.toContain(17); // SaslHandshake
    expect(fake.apiKeys).not.toContain(36); // SaslAuthenticate
    expect(fake.bytes.includes(Buffer.from(KAFKA_SASL_USER.password))).toBe(false);
    await client.delete(`${triggersPath(teamB.name)}/exfil`);
    await fake.close();
    await fn.close();
  }, 90_000);

  it("refuses team-b the controller's identity on team-a's topic and dead letter, and touches neither", async () => {
    const fn = new Recorder();
    fn.behaviour = () => ({ status: 400 }); // every record would be dead-lettered at once
    await registerFunction(client, teamB.name, 'thief', fn);
    const before = await highWatermarks(topicA);
    await client.create(triggersPath(teamB.name), kafkaTrigger(teamB.name, 'steal', { topic: topicA, functionName: 'thief', initialOffset: 'earliest' }));
    await client.create(
      triggersPath(teamB.name),
      kafkaTrigger(teamB.name, 'inject', { topic: topicB, functionName: 'thief', initialOffset: 'earliest', delivery: { deadLetter: topicA, onExhausted: 'deadLetter' } }),
    );
    const steal = await eventually('steal refused', async () => {
      const c = await condition(teamB.name, 'steal', 'Ready');
      return c?.status === 'False' ? c : undefined;
    }, 30_000);
    expect(steal.reason).toBe('TopicNotGranted');
    expect(steal.message).toContain(topicA);
    const inject = await eventually('inject refused', async () => {
      const c = await condition(teamB.name, 'inject', 'Ready');
      return c?.status === 'False' ? c : undefined;
    }, 30_000);
    expect(inject.reason).toBe('DeadLetterTopicNotGranted');
    await produce(topicB, [{ value: 'would be dead-lettered into team-a' }]);
    await new Promise((r) => setTimeout(r, 5000));
    expect(fn.received).toHaveLength(0);
    expect(await highWatermarks(topicA)).toEqual(before);
    expect(await groupOffsets(`kubeless.${teamB.name}.steal.thief`, topicA)).toEqual(['-1']);
    await fn.close();
  }, 90_000);

  it('a trigger refused after an edit loses nothing it delivered, and delivers nothing twice once allowed again', async () => {
    const fn = new Recorder();
    await registerFunction(client, teamB.name, 'edited', fn);
    const path = `${triggersPath(teamB.name)}/edited`;
    await client.create(triggersPath(teamB.name), kafkaTrigger(teamB.name, 'edited', { topic: topicB, functionName: 'edited', initialOffset: 'earliest' }));
    const before = Number((await highWatermarks(topicB))[0]);
    await produce(topicB, Array.from({ length: 5 }, (_, i) => ({ value: `before the edit ${String(i)}` })));
    await eventually('5 delivered', () => Promise.resolve(fn.ids.size >= before + 5), 40_000);
    // The edit adds team-a's topic: the whole trigger is refused, and its consumer stops.
    await client.request('PATCH', path, { body: { spec: { topics: [topicA] } }, contentType: 'application/merge-patch+json' });
    const refused = await eventually('refused after the edit', async () => {
      const c = await condition(teamB.name, 'edited', 'Ready');
      return c?.status === 'False' ? c : undefined;
    }, 30_000);
    expect(refused.reason).toBe('TopicNotGranted');
    // Everything delivered was committed on the way out.
    expect(await groupOffsets(`kubeless.${teamB.name}.edited.edited`, topicB)).toEqual([String(before + 5)]);
    await produce(topicB, [{ value: 'while refused' }]);
    await new Promise((r) => setTimeout(r, 3000));
    expect(fn.ids.size).toBe(before + 5);
    await client.request('PATCH', path, { body: { spec: { topics: null } }, contentType: 'application/merge-patch+json' });
    await eventually('the record sent while refused', () => Promise.resolve(fn.ids.size === before + 6), 40_000);
    await new Promise((r) => setTimeout(r, 2000));
    expect(fn.received).toHaveLength(before + 6);
    await fn.close();
  }, 120_000);

  it('a namespace the operator did not grant is refused, and works with its own authSecret', async () => {
    const ungranted = await withNamespace('team-c');
    const c = await startController(ungranted.name, { brokers: saslBrokers(), auth: controllerAuth, grants: parseIdentityGrants(JSON.stringify([{ namespace: teamA.name, topics: ['.*'] }])) });
    try {
      await grantSecrets('kafka-trigger', ungranted.name, ['own-auth']);
      const fn = new Recorder();
      await registerFunction(client, ungranted.name, 'f', fn);
      const topic = uniqueName('team-c');
      await createTopic(topic, 1);
      await client.create(triggersPath(ungranted.name), kafkaTrigger(ungranted.name, 'shared', { topic, functionName: 'f', initialOffset: 'earliest' }));
      const refused = await eventually('refused', async () => {
        const r = await condition(ungranted.name, 'shared', 'Ready');
        return r?.status === 'False' ? r : undefined;
      }, 30_000);
      expect(refused.reason).toBe('SharedIdentityNotGranted');
      expect(refused.message).toContain('spec.authSecret');
      await client.create(`/api/v1/namespaces/${ungranted.name}/secrets`, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'own-auth' },
        data: { 'sasl.mechanism': b64('plain'), username: b64(KAFKA_SASL_USER.username), password: b64(KAFKA_SASL_USER.password) },
      });
      await client.create(triggersPath(ungranted.name), kafkaTrigger(ungranted.name, 'own', { topic, functionName: 'f', initialOffset: 'earliest', brokers: saslBrokers(), authSecret: 'own-auth' }));
      await produce(topic, [{ value: 'with its own credentials' }]);
      const got = await eventually('delivered with its own Secret', () => Promise.resolve(fn.received[0]), 40_000);
      expect(got.body.toString()).toBe('with its own credentials');
      // The refused trigger consumed nothing: one delivery, from the trigger with its own Secret.
      await new Promise((r) => setTimeout(r, 2000));
      expect(fn.received).toHaveLength(1);
      await fn.close();
    } finally {
      await c.stop();
      await ungranted.cleanup();
    }
  }, 120_000);

  it("delivers nothing through an ExternalName Service or a hand-made EndpointSlice to another namespace's pod", async () => {
    const victim = new Recorder();
    await registerFunction(client, teamA.name, 'victim', victim);
    // ExternalName: a Function whose Service names team-a's function.
    await client.create(`/apis/kubeless.io/v1beta1/namespaces/${teamB.name}/functions`, {
      apiVersion: 'kubeless.io/v1beta1',
      kind: 'Function',
      metadata: { name: 'alias', namespace: teamB.name },
      spec: { runtime: 'nodejs22', handler: 'h.f', function: 'x', timeout: '10' },
    });
    await client.create(`/api/v1/namespaces/${teamB.name}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'alias', namespace: teamB.name, labels: { 'created-by': 'kubeless', function: 'alias' } },
      spec: { type: 'ExternalName', externalName: `victim.${teamA.name}.svc.cluster.local`, ports: [{ port: 8080 }] },
    });
    // A hand-made EndpointSlice: a selector-less Service whose slice lists team-a's pod.
    await client.create(`/apis/kubeless.io/v1beta1/namespaces/${teamB.name}/functions`, {
      apiVersion: 'kubeless.io/v1beta1',
      kind: 'Function',
      metadata: { name: 'handmade', namespace: teamB.name },
      spec: { runtime: 'nodejs22', handler: 'h.f', function: 'x', timeout: '10' },
    });
    await client.create(`/api/v1/namespaces/${teamB.name}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'handmade', namespace: teamB.name, labels: { 'created-by': 'kubeless', function: 'handmade' } },
      spec: { ports: [{ name: 'http-function-port', port: 8080, targetPort: 8080 }] },
    });
    const [victimIp, victimPort] = (victim.lastAddress ?? ':').split(':');
    await client.create(`/apis/discovery.k8s.io/v1/namespaces/${teamB.name}/endpointslices`, {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'handmade-1', namespace: teamB.name, labels: { 'created-by': 'kubeless', 'kubernetes.io/service-name': 'handmade' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: [victimIp ?? ''], conditions: { ready: true }, targetRef: { kind: 'Pod', namespace: teamA.name, name: 'victim' } }],
      ports: [{ name: 'http-function-port', port: Number(victimPort), protocol: 'TCP' }],
    });
    for (const name of ['alias', 'handmade']) {
      await client.create(triggersPath(teamB.name), kafkaTrigger(teamB.name, `to-${name}`, { topic: topicB, functionName: name, initialOffset: 'earliest' }));
    }
    const alias = await eventually('ExternalName refused', async () => {
      const c = await condition(teamB.name, 'to-alias', 'FunctionsResolved');
      return c?.status === 'False' ? c : undefined;
    }, 30_000);
    expect(alias.reason).toBe('ExternalNameService');
    const handmade = await eventually('hand-made slice refused', async () => {
      const c = await condition(teamB.name, 'to-handmade', 'FunctionsResolved');
      return c?.status === 'False' ? c : undefined;
    }, 30_000);
    expect(handmade.reason).toBe('ForeignEndpoints');
    await produce(topicB, [{ value: 'injected into team-a' }]);
    await new Promise((r) => setTimeout(r, 5000));
    expect(victim.received).toHaveLength(0);
    expect(await groupOffsets(`kubeless.${teamB.name}.to-alias.alias`, topicB)).toEqual(['-1']);
    await victim.close();
  }, 90_000);

  it('picks up a rotated auth Secret within 30 s: wrong credentials turn it not Ready, right ones deliver', async () => {
    const fn = new Recorder();
    await registerFunction(client, teamB.name, 'rotated', fn);
    const topic = uniqueName('rotating');
    await createTopic(topic, 1);
    const secretPath = `/api/v1/namespaces/${teamB.name}/secrets`;
    const data = (password: string): Record<string, string> => ({ 'sasl.mechanism': b64('plain'), username: b64(KAFKA_SASL_USER.username), password: b64(password) });
    await client.create(secretPath, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'rotating' }, data: data('not-the-password') });
    await client.create(triggersPath(teamB.name), kafkaTrigger(teamB.name, 'rotating', { topic, functionName: 'rotated', initialOffset: 'earliest', brokers: saslBrokers(), authSecret: 'rotating' }));
    await eventually('not Ready on wrong credentials', async () => (await condition(teamB.name, 'rotating', 'Ready'))?.status === 'False', 40_000);
    await produce(topic, [{ value: 'after the fix' }]);
    const fixedAt = Date.now();
    await client.request('PATCH', `${secretPath}/rotating`, { body: { data: data(KAFKA_SASL_USER.password) }, contentType: 'application/merge-patch+json' });
    await eventually('delivered after the rotation', () => Promise.resolve(fn.received[0]), 30_000);
    expect(Date.now() - fixedAt).toBeLessThan(30_000);
    await eventually('Ready after the rotation', async () => (await condition(teamB.name, 'rotating', 'Ready'))?.status === 'True', 30_000);
    // Rotated to a password the broker refuses: the data plane, not the Secret's shape, decides.
    await client.request('PATCH', `${secretPath}/rotating`, { body: { data: data('revoked') }, contentType: 'application/merge-patch+json' });
    const broken = await eventually('not Ready after a bad rotation', async () => {
      const c = await condition(teamB.name, 'rotating', 'Ready');
      return c?.status === 'False' ? c : undefined;
    }, 30_000);
    expect(broken.message).toMatch(/auth|SASL/iu);
    await fn.close();
  }, 150_000);
});
