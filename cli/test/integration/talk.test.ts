/**
 * The talk's commands, as written (with our runtime names), against the real stack: the function
 * controller runs beside the test and the stack's node runs the pods, so `call`, `logs` and `top`
 * go through the API server to real runtime processes.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, kubectlOk, withNamespace } from '@kubeless/stack';
import { kubeless, kubelessOk, startFunctionController, startKafkaTrigger } from './helpers.js';

let ns: { name: string; cleanup: () => Promise<void> };
let ctrl: ReturnType<typeof startFunctionController>;
const dir = mkdtempSync(path.join(tmpdir(), 'kubeless-cli-'));
const fooPy = path.join(dir, 'foo.py');
const fooV2 = path.join(dir, 'foo-v2.py');

beforeAll(async () => {
  ns = await withNamespace('cli-talk');
  writeFileSync(fooPy, "def handler(event, context):\n    print('talk-log-marker', event['data'], flush=True)\n    return event['data']\n");
  writeFileSync(fooV2, "def handler(event, context):\n    return 'v2'\n");
  await kubectlOk(['create', 'secret', 'generic', 'pubsub-key', '-n', ns.name, '--from-literal=key.json={"k":"v"}']);
  await kubectlOk(['create', 'secret', 'generic', 'basic-auth', '-n', ns.name, '--from-literal=auth=foo:$apr1$abc$def']);
  ctrl = startFunctionController(ns.name);
});
afterAll(async () => {
  await ctrl.stop();
  await ns.cleanup();
});

const getJson = async (kind: string, name: string): Promise<any> => JSON.parse(await kubectlOk(['get', kind, name, '-n', ns.name, '-o', 'json']));

describe('the talk, end to end', () => {
  it('rejects the talk\'s python2.7 with the supported ids, and creates nothing', async () => {
    const r = await kubeless(['function', 'deploy', 'foo', '--from-file', fooPy, '--handler', 'foo.handler', '--runtime', 'python2.7', '--label', 'foo=bar,bar=baz', '-n', ns.name]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('Error: runtime "python2.7" is not supported (Python 2.7 reached end of life in January 2020); use python3.13; supported runtimes are: nodejs22, nodejs24, nodejs26, python3.11, python3.12, python3.13\n');
    expect((await kubectlOk(['get', 'functions', '-n', ns.name, '-o', 'name'])).trim()).toBe('');
  });

  it('deploys foo with labels, lists, describes, calls it, shows its logs and metrics', async () => {
    const deployed = await kubeless(['function', 'deploy', 'foo', '--from-file', fooPy, '--handler', 'foo.handler', '--runtime', 'python3.11', '--label', 'foo=bar,bar=baz', '-n', ns.name, '--wait']);
    // stdout holds the command's result only; the --wait progress and its outcome are on stderr.
    expect(deployed.code).toBe(0);
    expect(deployed.stdout).toBe("Deploying function...\nFunction foo submitted for deployment\nCheck the deployment status executing 'kubeless function ls foo'\n");
    expect(deployed.stderr).toMatch(/^waiting for function foo: /);
    expect(deployed.stderr).toMatch(/\nfunction foo is ready(: .*)?\n$/);
    const fn = await getJson('functions.kubeless.io', 'foo');
    expect(fn.metadata.labels).toEqual({ 'created-by': 'kubeless', function: 'foo', foo: 'bar', bar: 'baz' });
    expect(fn.spec).toMatchObject({ runtime: 'python3.11', handler: 'foo.handler', 'function-content-type': 'text', timeout: '180' });
    // The pods carry the labels the talk's NetworkPolicy selects on.
    const pods = JSON.parse(await kubectlOk(['get', 'pods', '-n', ns.name, '-l', 'foo=bar', '-o', 'json']));
    expect(pods.items.length).toBe(1);

    const ls = await kubelessOk(['function', 'ls', '-n', ns.name]);
    const [header, row] = ls.trim().split('\n');
    expect(header?.split(/\s{2,}/)).toEqual(['NAME', 'NAMESPACE', 'HANDLER', 'RUNTIME', 'DEPENDENCIES', 'STATUS']);
    expect(row?.split(/\s{2,}/)).toEqual(['foo', ns.name, 'foo.handler', 'python3.11', '1/1 READY']);

    const described = await kubelessOk(['function', 'describe', 'foo', '-n', ns.name]);
    expect(described).toMatch(/^Name:\s+foo$/m);
    expect(described).toMatch(/^Runtime:\s+python3\.11$/m);
    expect(described).toMatch(/^Label:\s+\{.*"foo":"bar".*\}$/m);

    const called = await kubelessOk(['function', 'call', 'foo', '--data', '{"hey":"kubecon"}', '-n', ns.name]);
    expect(JSON.parse(called)).toEqual({ hey: 'kubecon' });

    const logs = await eventually('the log line', async () => {
      const l = await kubelessOk(['function', 'logs', 'foo', '-n', ns.name]);
      return l.includes('talk-log-marker') ? l : undefined;
    });
    expect(logs).toContain("talk-log-marker {'hey': 'kubecon'}");

    const top = JSON.parse(await kubelessOk(['function', 'top', '-f', 'foo', '-n', ns.name, '-o', 'json']));
    expect(top).toEqual([expect.objectContaining({ name: 'foo', namespace: ns.name, method: 'POST', total_calls: 1, total_failures: 0, message: '' })]);
    // The original's spellings: `--out`, and the snake_case keys scripts grep.
    const topYaml = await kubelessOk(['function', 'top', '--function', 'foo', '--out', 'yaml', '-n', ns.name]);
    expect(topYaml).toMatch(/^\s*total_calls: 1$/m);
    expect(topYaml).toMatch(/^\s*total_failures: 0$/m);
    expect(topYaml).toMatch(/^\s*avg_duration_seconds: /m);
  });

  it("deploys with the original CLI's k:v, k=v and bare-key lists in --label, --env and --node-selectors", async () => {
    await kubelessOk(['function', 'deploy', 'kv', '--from-file', fooPy, '--handler', 'foo.handler', '--runtime', 'python3.11', '-n', ns.name,
      '--label', 'foo:bar,bar=foo,foobar', '--env', 'foo:bar,bar=foo', '--env', 'FLAG', '--node-selectors', 'kubernetes.io/os:linux']);
    const fn = JSON.parse(await kubectlOk(['get', 'function', 'kv', '-n', ns.name, '-o', 'json']));
    expect(fn.metadata.labels).toMatchObject({ foo: 'bar', bar: 'foo', foobar: '' });
    const pod = fn.spec.deployment.spec.template.spec;
    expect(pod.containers[0].env).toEqual(expect.arrayContaining([{ name: 'foo', value: 'bar' }, { name: 'bar', value: 'foo' }, { name: 'FLAG', value: '' }]));
    expect(pod.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    await kubelessOk(['function', 'delete', 'kv', '-n', ns.name]);
  });

  it('publishes to a Kafka topic and the function receives it through a KafkaTrigger selecting its labels', async () => {
    const kafkaTrigger = startKafkaTrigger(ns.name);
    try {
      const topic = `talk-${ns.name}`;
      await kubelessOk(['topic', 'create', topic]);
      const created = await kubelessOk(['trigger', 'kafka', 'create', 'foo-kafka', '--trigger-topic', topic, '--function-selector', 'foo=bar', '-n', ns.name, '--wait']);
      expect(created).toContain('foo-kafka');
      await kubelessOk(['topic', 'publish', '--topic', topic, '--data', '{"hello":"kafka"}']);
      const logs = await eventually('the event in the function log', async () => {
        const l = await kubelessOk(['function', 'logs', 'foo', '-n', ns.name]);
        return l.includes("talk-log-marker {'hello': 'kafka'}") ? l : undefined;
      }, 30_000);
      expect(logs).toContain("talk-log-marker {'hello': 'kafka'}");
      const t = await getJson('kafkatriggers.kubeless.io', 'foo-kafka');
      expect(t.status.functions).toEqual(['foo']);
      await kubelessOk(['topic', 'delete', topic]);
    } finally {
      await kafkaTrigger.stop();
    }
  });

  it('deploys with --env and --secrets: the Function and its Deployment carry the variable and the mounted key', async () => {
    await kubelessOk([
      'function', 'deploy', 'pubsub', '--from-file', fooPy, '--runtime', 'python3.11', '--handler', 'foo.handler',
      '--env', 'GOOGLE_APPLICATION_CREDENTIALS=/pubsub-key/key.json', '--secrets', 'pubsub-key', '-n', ns.name,
    ]);
    const fn = await getJson('functions.kubeless.io', 'pubsub');
    const podSpec = fn.spec.deployment.spec.template.spec;
    expect(podSpec.containers[0].env).toEqual([{ name: 'GOOGLE_APPLICATION_CREDENTIALS', value: '/pubsub-key/key.json' }]);
    expect(podSpec.containers[0].volumeMounts).toEqual([{ name: 'pubsub-key-vol', mountPath: '/pubsub-key' }]);
    expect(podSpec.volumes).toEqual([{ name: 'pubsub-key-vol', secret: { secretName: 'pubsub-key' } }]);
    // The controller carries them into the Deployment.
    const dep = await eventually('deployment', async () => getJson('deployments', 'pubsub').catch(() => undefined));
    const c0 = dep.spec.template.spec.containers[0];
    expect(c0.env).toEqual(expect.arrayContaining([{ name: 'GOOGLE_APPLICATION_CREDENTIALS', value: '/pubsub-key/key.json' }]));
    expect(c0.volumeMounts).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'pubsub-key-vol', mountPath: '/pubsub-key' })]));
  });

  it('creates the talk\'s http triggers (nginx with basic auth; kong with a host name)', async () => {
    await kubelessOk(['function', 'deploy', 'get-python', '--from-file', fooPy, '--runtime', 'python3.11', '--handler', 'foo.handler', '-n', ns.name]);
    await kubelessOk(['trigger', 'http', 'create', 'get-python', '--function-name', 'get-python', '--basic-auth-secret', 'basic-auth', '--gateway', 'nginx', '-n', ns.name]);
    const t = await getJson('httptriggers.kubeless.io', 'get-python');
    expect(t.metadata.labels).toEqual({ 'created-by': 'kubeless' });
    expect(t.spec).toEqual({ 'function-name': 'get-python', 'basic-auth-secret': 'basic-auth', gateway: 'nginx' });

    await kubelessOk(['trigger', 'http', 'create', 'get-python-kong', '--function-name', 'get-python', '--gateway', 'kong', '--hostname', 'foo.bar.com', '-n', ns.name]);
    expect((await getJson('httptriggers.kubeless.io', 'get-python-kong')).spec).toEqual({ 'function-name': 'get-python', gateway: 'kong', 'host-name': 'foo.bar.com' });

    const missing = await kubeless(['trigger', 'http', 'create', 'nope', '--function-name', 'does-not-exist', '-n', ns.name]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toBe(`Error: function "does-not-exist" not found in namespace "${ns.name}"\n`);

    const list = await kubelessOk(['trigger', 'http', 'list', '-n', ns.name]);
    expect(list).toMatch(/^get-python\s+\S+\s+get-python\s+\/\s+nginx/m);
    expect(list).toMatch(/^get-python-kong\s+\S+\s+get-python\s+foo\.bar\.com\s+\/\s+kong/m);
  });

  it('update keeps what it was not told to change, and rolls out the new code', async () => {
    await kubelessOk(['function', 'deploy', 'keep', '--from-file', fooPy, '--runtime', 'python3.11', '--handler', 'foo.handler', '--timeout', '30', '--port', '8090', '--memory', '128Mi', '--image-pull-policy', 'IfNotPresent', '-n', ns.name, '--wait']);
    const before = await getJson('functions.kubeless.io', 'keep');
    await kubelessOk(['function', 'update', 'keep', '--from-file', fooV2, '-n', ns.name, '--wait']);
    const after = await getJson('functions.kubeless.io', 'keep');
    expect(after.spec.function).toContain("return 'v2'");
    expect(after.spec.checksum).not.toBe(before.spec.checksum);
    const { function: _a, checksum: _b, ...restAfter } = after.spec;
    const { function: _c, checksum: _d, ...restBefore } = before.spec;
    expect(restAfter).toEqual(restBefore);
    expect(after.spec.timeout).toBe('30');
    expect(after.spec.service.ports).toEqual([{ name: 'http-function-port', port: 8090, targetPort: 8090, protocol: 'TCP' }]);
    expect(after.spec.deployment.spec.template.spec.containers[0]).toEqual({
      imagePullPolicy: 'IfNotPresent',
      resources: { requests: { memory: '128Mi' }, limits: { memory: '128Mi' } },
    });
    expect(after.metadata.labels).toEqual(before.metadata.labels);
    // --wait returned once the new code was Ready: the call reaches it.
    expect((await kubelessOk(['function', 'call', 'keep', '-n', ns.name])).trim()).toBe('v2');
  });

  it('autoscale create, list and delete', async () => {
    await kubelessOk(['autoscale', 'create', 'foo', '--min', '1', '--max', '3', '--metric', 'cpu', '--value', '70', '-n', ns.name]);
    const fn = await getJson('functions.kubeless.io', 'foo');
    expect(fn.spec.horizontalPodAutoscaler.spec).toMatchObject({ minReplicas: 1, maxReplicas: 3, metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }] });
    const listed = await eventually('the HPA', async () => {
      const l = await kubelessOk(['autoscale', 'list', '-n', ns.name]);
      return l.includes('foo') ? l : undefined;
    });
    expect(listed.trim().split('\n')[1]?.split(/\s+/)).toEqual(['foo', ns.name, 'foo', '1', '3', 'cpu', '70']);
    await kubelessOk(['autoscale', 'delete', 'foo', '-n', ns.name]);
    expect((await getJson('functions.kubeless.io', 'foo')).spec.horizontalPodAutoscaler).toBeUndefined();
  });

  it('deletes the function', async () => {
    await kubelessOk(['function', 'delete', 'foo', '-n', ns.name]);
    const r = await kubectlOk(['get', 'functions', '-n', ns.name, '-o', 'name']);
    expect(r).not.toContain('function.kubeless.io/foo\n');
    const again = await kubeless(['function', 'delete', 'foo', '-n', ns.name]);
    expect(again.code).toBe(3);
    expect(again.stderr).toBe(`Error: function "foo" not found in namespace "${ns.name}"\n`);
  });
});
