/**
 * Trigger update, list and delete against the API server, `--wait` against a Ready condition written
 * through the status subresource (standing in for the trigger controllers), and get-server-config /
 * runtime validation from a kubeless-config ConfigMap.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectlOk, stackEnv, withNamespace } from '@kubeless/stack';
import { BIN, kubeless, kubelessOk } from './helpers.js';

let ns: { name: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  ns = await withNamespace('cli-trig');
  await kubectlOk(['apply', '-n', ns.name, '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'kubeless.io/v1beta1', kind: 'Function', metadata: { name: 'fn', labels: { app: 'x' } }, spec: { runtime: 'python3.11', handler: 'a.b', function: 'x' } }),
  });
});
afterAll(async () => {
  await ns.cleanup();
});

const getSpec = async (kind: string, name: string): Promise<any> => JSON.parse(await kubectlOk(['get', kind, name, '-n', ns.name, '-o', 'json'])).spec;

describe('trigger update, list and delete', () => {
  it('http update changes only the given fields', async () => {
    await kubelessOk(['trigger', 'http', 'create', 'web', '--function-name', 'fn', '--hostname', 'a.example.com', '--gateway', 'traefik', '-n', ns.name]);
    await kubelessOk(['trigger', 'http', 'update', 'web', '--path', 'api', '--cors-enable', '-n', ns.name]);
    expect(await getSpec('httptriggers.kubeless.io', 'web')).toEqual({ 'function-name': 'fn', 'host-name': 'a.example.com', gateway: 'traefik', path: 'api', 'cors-enable': true });
    const bad = await kubeless(['trigger', 'http', 'update', 'web', '--gateway', 'apache', '-n', ns.name]);
    expect(bad).toMatchObject({ code: 2, stderr: 'Error: --gateway: "apache" is not one of nginx, traefik, kong\n' });
  });

  it('kafka update keeps the selector, or swaps it for a function name; list and delete', async () => {
    await kubelessOk(['trigger', 'kafka', 'create', 'kt', '--trigger-topic', 'a', '--function-selector', 'app=x', '-n', ns.name]);
    await kubelessOk(['trigger', 'kafka', 'update', 'kt', '--trigger-topic', 'b', '--retry', '7', '-n', ns.name]);
    expect(await getSpec('kafkatriggers.kubeless.io', 'kt')).toEqual({ topic: 'b', functionSelector: { matchLabels: { app: 'x' } }, delivery: { retry: 7 } });
    await kubelessOk(['trigger', 'kafka', 'update', 'kt', '--function-name', 'fn', '-n', ns.name]);
    expect(await getSpec('kafkatriggers.kubeless.io', 'kt')).toEqual({ topic: 'b', functionName: 'fn', delivery: { retry: 7 } });
    expect(await kubelessOk(['trigger', 'kafka', 'ls', '-n', ns.name])).toMatch(/^kt\s+\S+\s+b\s+name=fn\s/m);
    // The API server's own validation message comes through.
    const invalid = await kubeless(['trigger', 'kafka', 'update', 'kt', '--on-exhausted', 'deadLetter', '-n', ns.name]);
    expect(invalid).toMatchObject({ code: 2, stderr: 'Error: --on-exhausted deadLetter needs --dead-letter\n' });
    await kubelessOk(['trigger', 'kafka', 'delete', 'kt', '-n', ns.name]);
    expect(await kubectlOk(['get', 'kafkatriggers.kubeless.io', '-n', ns.name, '-o', 'name'])).toBe('');
    expect(await kubeless(['trigger', 'kafka', 'delete', 'kt', '-n', ns.name])).toMatchObject({ code: 3, stderr: `Error: kafka trigger "kt" not found in namespace "${ns.name}"\n` });
  });

  it('sqs create, update and list', async () => {
    await kubelessOk(['trigger', 'sqs', 'create', 'sq', '--queue-url', 'http://127.0.0.1:9324/queue/jobs', '--function-selector', 'app=x', '-n', ns.name]);
    await kubelessOk(['trigger', 'sqs', 'update', 'sq', '--queue-name', 'jobs2', '--region', 'elasticmq', '--batch-size', '3', '-n', ns.name]);
    expect(await getSpec('sqstriggers.kubeless.io', 'sq')).toEqual({ queueName: 'jobs2', region: 'elasticmq', functionSelector: { matchLabels: { app: 'x' } }, batchSize: 3 });
    expect(await kubelessOk(['trigger', 'sqs', 'list', '-n', ns.name])).toMatch(/^sq\s+\S+\s+jobs2\s+app=x\s/m);
  });
});

/** Starts `kubeless ...` and returns its exit code, stdout and stderr when it ends. */
function start(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, KUBECONFIG: stackEnv().KUBECONFIG }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => {
    child.on('close', (code) => {
      resolve({ code, stdout, stderr });
    });
  });
}

async function setReady(kind: string, name: string, status: 'True' | 'False', reason: string, message: string): Promise<void> {
  const body = { status: { observedGeneration: 1, conditions: [{ type: 'Ready', status, reason, message, lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }] } };
  await kubectlOk(['patch', kind, name, '-n', ns.name, '--subresource=status', '--type=merge', '-p', JSON.stringify(body)]);
}

async function exists(kind: string, name: string): Promise<void> {
  for (;;) {
    const out = await kubectlOk(['get', kind, '-n', ns.name, '-o', 'name']);
    if (out.includes(`/${name}\n`)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('trigger create --wait', () => {
  it('returns once Ready is True, and fails with the status reason when it is False', async () => {
    const ok = start(['trigger', 'kafka', 'create', 'w-ok', '--trigger-topic', 't', '--function-name', 'fn', '-n', ns.name, '--wait']);
    const bad = start(['trigger', 'http', 'create', 'w-bad', '--function-name', 'fn', '-n', ns.name, '--wait']);
    await Promise.all([exists('kafkatriggers.kubeless.io', 'w-ok'), exists('httptriggers.kubeless.io', 'w-bad')]);
    await setReady('kafkatriggers.kubeless.io', 'w-ok', 'True', 'Ready', 'delivering to fn');
    await setReady('httptriggers.kubeless.io', 'w-bad', 'False', 'SecretNotFound', 'Secret "basic" not found');
    const [a, b] = await Promise.all([ok, bad]);
    expect(a.code).toBe(0);
    // Not a terminal: plain progress lines, then the outcome, all on stderr; stdout has the result only.
    expect(a.stdout).toBe(`KafkaTrigger w-ok created in namespace ${ns.name}\n`);
    expect(a.stderr).toContain('waiting for kafka trigger w-ok: NoStatus (waiting for the controller)\n');
    expect(a.stderr).toContain('kafka trigger w-ok is ready: delivering to fn\n');
    expect(b.code).toBe(1);
    expect(b.stdout).toBe(`HTTPTrigger w-bad created in namespace ${ns.name}\n`);
    expect(b.stderr).toMatch(/^waiting for http trigger w-bad: NoStatus \(waiting for the controller\)\n/);
    expect(b.stderr).toMatch(/\nError: http trigger w-bad failed: SecretNotFound: Secret "basic" not found\n$/);
  });

  it('gives up after --wait-timeout with the last reason', async () => {
    const r = await kubeless(['trigger', 'sqs', 'create', 'w-slow', '--queue-url', 'http://x/q', '--function-name', 'fn', '-n', ns.name, '--wait', '--wait-timeout', '1s']);
    expect(r).toEqual({
      code: 4,
      stdout: `SQSTrigger w-slow created in namespace ${ns.name}\n`,
      stderr: 'waiting for sqs trigger w-slow: NoStatus (waiting for the controller)\nError: timed out waiting for sqs trigger w-slow to be ready: NoStatus: waiting for the controller\n',
    });
  });
});

describe('runtimes from kubeless-config', () => {
  it('get-server-config lists them, and deploy checks --runtime against them', async () => {
    const images = [{ ID: 'python', versions: [{ name: 'python312', version: '3.12' }] }, { id: 'go', versions: [{ name: 'go122', version: '1.22' }] }];
    await kubectlOk(['create', 'configmap', 'kubeless-config', '-n', ns.name, `--from-literal=runtime-images=${JSON.stringify(images)}`]);
    expect(await kubelessOk(['get-server-config', '--config-namespace', ns.name])).toBe('Supported Runtimes are: python3.12, go1.22\n');
    const env = { KUBELESS_NAMESPACE: ns.name };
    const rejected = await kubeless(['function', 'deploy', 'x', '--runtime', 'python3.11', '--handler', 'a.b', '--runtime-image', 'img', '--dryrun', '-n', ns.name], { env });
    expect(rejected).toMatchObject({ code: 2, stderr: 'Error: runtime "python3.11" is not supported; supported runtimes are: python3.12, go1.22\n' });
    // An end-of-life id names the newest listed id of its language.
    const retired = await kubeless(['function', 'deploy', 'x', '--runtime', 'python2.7', '--handler', 'a.b', '--runtime-image', 'img', '--dryrun', '-n', ns.name], { env });
    expect(retired).toMatchObject({ code: 2, stderr: 'Error: runtime "python2.7" is not supported (Python 2.7 reached end of life in January 2020); use python3.12; supported runtimes are: python3.12, go1.22\n' });
    expect(await kubeless(['function', 'deploy', 'x', '--runtime', 'go1.22', '--handler', 'a.b', '--runtime-image', 'img', '--dryrun', '-n', ns.name], { env })).toMatchObject({ code: 0 });
    // Without the ConfigMap, the built-in list.
    expect(await kubelessOk(['get-server-config', '--config-namespace', 'no-such-namespace'])).toBe('Supported Runtimes are: nodejs22, nodejs24, nodejs26, python3.11, python3.12, python3.13\n');
  });
});
