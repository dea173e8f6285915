/**
 * Golden tests of `--dryrun -o yaml`: every row of the flag-to-spec table of the original CLI
 * (the original kubeless CLI's translation of flags into the Function spec) and the trigger
 * flags. The expected objects are written by hand from those tables, not captured output.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { kubeless, kubelessOk } from './helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'kubeless-golden-'));
const file = (name: string, content: string | Buffer): string => {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
};
const sha = (b: string | Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const code = 'def handler(event, context):\n    return event["data"]\n';
const binary = Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80]);
const zipBytes = Buffer.from('PK\x03\x04 not really a zip, the CLI does not open it');
let codeFile: string;
let server: http.Server;
let base: string;

beforeAll(async () => {
  codeFile = file('hello.py', code);
  server = http.createServer((req, res) => {
    res.end(req.url === '/code.zip' ? zipBytes : code);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
});
afterAll(() => {
  server.close();
});

/** `kubeless function deploy hello --dryrun -o yaml -n golden ...`, parsed. */
async function dry(args: string[], name = 'hello'): Promise<any> {
  return parse(await kubelessOk(['function', 'deploy', name, '--dryrun', '-o', 'yaml', '-n', 'golden', ...args]));
}

const defaultService = (labels: Record<string, string>, port = 8080, servicePort = port): any => ({
  ports: [{ name: 'http-function-port', port: servicePort, targetPort: port, protocol: 'TCP' }],
  selector: labels,
  type: 'ClusterIP',
});

describe('function deploy --dryrun -o yaml', () => {
  it('a text file with runtime and handler: the defaults of every other flag', async () => {
    expect(await dry(['--runtime', 'python3.12', '--handler', 'hello.handler', '--from-file', codeFile])).toEqual({
      apiVersion: 'kubeless.io/v1beta1',
      kind: 'Function',
      metadata: { name: 'hello', namespace: 'golden', labels: { 'created-by': 'kubeless', function: 'hello' } },
      spec: {
        runtime: 'python3.12',
        handler: 'hello.handler',
        'function-content-type': 'text',
        function: code,
        checksum: sha(code),
        timeout: '180',
        deployment: { spec: { template: { spec: { containers: [{ imagePullPolicy: 'Always' }] } } } },
        service: defaultService({ 'created-by': 'kubeless', function: 'hello' }),
      },
    });
  });

  it('every pod, service and metadata flag at once', async () => {
    const deps = file('requirements.txt', 'requests==2.32.3\n');
    const got = await dry([
      '--runtime', 'python3.12', '--handler', 'hello.handler', '--from-file', codeFile,
      '--dependencies', deps,
      '--label', 'foo=bar,bar:baz', '-l', 'tier=fn',
      '--env', 'A=1,B=x=y', '-e', 'URL=http://a:1/b',
      '--secrets', 's1,s2',
      '--node-selectors', 'disk=ssd',
      '--service-account', 'falco',
      '--memory', '128Mi', '--cpu', '250m',
      '--runtime-image', 'example.com/custom:1',
      '--image-pull-policy', 'IfNotPresent',
      '--timeout', '30',
      '--port', '9090', '--servicePort', '80',
      '--headless',
    ]);
    const labels = { foo: 'bar', bar: 'baz', tier: 'fn', 'created-by': 'kubeless', function: 'hello' };
    expect(got).toEqual({
      apiVersion: 'kubeless.io/v1beta1',
      kind: 'Function',
      metadata: { name: 'hello', namespace: 'golden', labels },
      spec: {
        runtime: 'python3.12',
        handler: 'hello.handler',
        'function-content-type': 'text',
        function: code,
        checksum: sha(code),
        deps: 'requests==2.32.3\n',
        timeout: '30',
        deployment: {
          spec: {
            template: {
              spec: {
                containers: [
                  {
                    image: 'example.com/custom:1',
                    imagePullPolicy: 'IfNotPresent',
                    env: [
                      { name: 'A', value: '1' },
                      { name: 'B', value: 'x=y' },
                      { name: 'URL', value: 'http://a:1/b' },
                    ],
                    resources: { requests: { memory: '128Mi', cpu: '250m' }, limits: { memory: '128Mi', cpu: '250m' } },
                    volumeMounts: [
                      { name: 's1-vol', mountPath: '/s1' },
                      { name: 's2-vol', mountPath: '/s2' },
                    ],
                  },
                ],
                volumes: [
                  { name: 's1-vol', secret: { secretName: 's1' } },
                  { name: 's2-vol', secret: { secretName: 's2' } },
                ],
                serviceAccountName: 'falco',
                nodeSelector: { disk: 'ssd' },
              },
            },
          },
        },
        service: { ...defaultService(labels, 9090, 80), clusterIP: 'None' },
      },
    });
  });

  it('code that is not UTF-8 is base64; archives get +zip and +compressedtar', async () => {
    const bin = await dry(['--runtime', 'nodejs22', '--handler', 'h.f', '--from-file', file('blob.bin', binary)]);
    expect(bin.spec).toMatchObject({ 'function-content-type': 'base64', function: binary.toString('base64'), checksum: sha(binary) });
    const zip = await dry(['--runtime', 'nodejs22', '--handler', 'h.f', '--from-file', file('fn.zip', zipBytes)]);
    expect(zip.spec).toMatchObject({ 'function-content-type': 'base64+zip', function: zipBytes.toString('base64'), checksum: sha(zipBytes) });
    const tgz = await dry(['--runtime', 'nodejs22', '--handler', 'h.f', '--from-file', file('fn.tgz', binary)]);
    expect(tgz.spec).toMatchObject({ 'function-content-type': 'base64+compressedtar', function: binary.toString('base64'), checksum: sha(binary) });
  });

  it('a URL is kept as the code, with the checksum of what it serves', async () => {
    const plain = await dry(['--runtime', 'python3.12', '--handler', 'hello.handler', '--from-file', `${base}/hello.py`]);
    expect(plain.spec).toMatchObject({ 'function-content-type': 'url', function: `${base}/hello.py`, checksum: sha(code) });
    const zip = await dry(['--runtime', 'python3.12', '--handler', 'hello.handler', '--from-file', `${base}/code.zip`]);
    expect(zip.spec).toMatchObject({ 'function-content-type': 'url+zip', function: `${base}/code.zip`, checksum: sha(zipBytes) });
  });

  it('-o json prints the same object as JSON; bad flags fail with one line', async () => {
    const json = JSON.parse(await kubelessOk(['function', 'deploy', 'hello', '--dryrun', '-o', 'json', '-n', 'golden', '--runtime', 'python3.12', '--handler', 'hello.handler', '--from-file', codeFile]));
    expect(json.spec.service.ports[0]).toEqual({ name: 'http-function-port', port: 8080, targetPort: 8080, protocol: 'TCP' });
    const cases: [string[], string][] = [
      [['--runtime', 'python3.12', '--from-file', codeFile], 'Error: --runtime needs --handler\n'],
      [['--handler', 'x.y', '--from-file', codeFile], 'Error: set --runtime, or --runtime-image for a custom image\n'],
      [['--runtime', 'python3.12', '--handler', 'nodot', '--from-file', codeFile], 'Error: --handler: "nodot" must be <module>.<function>\n'],
      [['--runtime', 'python3.12', '--handler', 'a.b', '--from-file', codeFile, '--image-pull-policy', 'Sometimes'], 'Error: --image-pull-policy: "Sometimes" is not one of Always, IfNotPresent, Never\n'],
      [['--runtime', 'python3.12', '--handler', 'a.b', '--from-file', path.join(dir, 'missing.py')], `Error: cannot read the code file ${path.join(dir, 'missing.py')}: ENOENT\n`],
    ];
    const results = await Promise.all(cases.map(([args]) => kubeless(['function', 'deploy', 'x', '--dryrun', '-n', 'golden', ...args])));
    results.forEach((r, i) => {
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(cases[i]?.[1]);
    });
  });
});

describe('trigger create --dryrun -o yaml', () => {
  it('http: every flag of the talk', async () => {
    const [a, b] = await Promise.all([
      kubelessOk(['trigger', 'http', 'create', 'get-python', '--function-name', 'get-python', '--basic-auth-secret', 'basic-auth', '--gateway', 'traefik', '--path', '/hello', '--cors-enable', '--tls-secret', 'tls', '-n', 'golden', '--dryrun']),
      kubelessOk(['trigger', 'http', 'create', 'acme', '--function-name', 'f', '--hostname', 'foo.bar.com', '--enableTLSAcme', '-n', 'golden', '--dryrun']),
    ]);
    expect(parse(a)).toEqual({
      apiVersion: 'kubeless.io/v1beta1',
      kind: 'HTTPTrigger',
      metadata: { name: 'get-python', namespace: 'golden', labels: { 'created-by': 'kubeless' } },
      spec: { 'function-name': 'get-python', gateway: 'traefik', path: 'hello', 'basic-auth-secret': 'basic-auth', 'tls-secret': 'tls', 'cors-enable': true },
    });
    expect(parse(b).spec).toEqual({ 'function-name': 'f', gateway: 'nginx', 'host-name': 'foo.bar.com', tls: true });
  });

  it('kafka: --trigger-topic and --function-selector, plus delivery flags', async () => {
    const out = await kubelessOk(['trigger', 'kafka', 'create', 'kt', '--trigger-topic', 'orders', '--function-selector', 'topic=orders,tier=fn', '--retry', '5', '--backoff-delay', '500ms', '--dead-letter', 'orders-dlq', '--ordering', 'key-ordered', '-n', 'golden', '--dryrun']);
    expect(parse(out)).toEqual({
      apiVersion: 'kubeless.io/v1beta1',
      kind: 'KafkaTrigger',
      metadata: { name: 'kt', namespace: 'golden', labels: { 'created-by': 'kubeless' } },
      spec: { topic: 'orders', functionSelector: { matchLabels: { topic: 'orders', tier: 'fn' } }, delivery: { ordering: 'key-ordered', retry: 5, backoffDelay: '500ms', deadLetter: 'orders-dlq' } },
    });
  });

  it('sqs: queue, region, endpoint, credentials and target', async () => {
    const out = await kubelessOk(['trigger', 'sqs', 'create', 'st', '--queue-name', 'jobs', '--region', 'eu-west-1', '--endpoint', 'http://127.0.0.1:9324', '--credentials-secret', 'aws', '--function-name', 'worker', '--batch-size', '5', '--visibility-timeout', '30s', '-n', 'golden', '--dryrun', '-o', 'json']);
    expect(JSON.parse(out)).toEqual({
      apiVersion: 'kubeless.io/v1beta1',
      kind: 'SQSTrigger',
      metadata: { name: 'st', namespace: 'golden', labels: { 'created-by': 'kubeless' } },
      spec: { queueName: 'jobs', region: 'eu-west-1', endpoint: 'http://127.0.0.1:9324', credentialsSecret: 'aws', functionName: 'worker', batchSize: 5, visibilityTimeout: '30s' },
    });
  });
});
