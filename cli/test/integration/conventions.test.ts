/**
 * The CLI's conventions against the real API server: a missing object exits 3 (not found), and
 * kubectl's `--dry-run=client -o yaml` prints the object and creates nothing. (`function deploy
 * --wait` with its progress on stderr and a clean stdout is in talk.test.ts, which runs the pods.)
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { kubectlOk, withNamespace } from '@kubeless/stack';
import { kubeless } from './helpers.js';

let ns: { name: string; cleanup: () => Promise<void> };
const dir = mkdtempSync(path.join(tmpdir(), 'kubeless-cli-conv-'));
const code = path.join(dir, 'hello.py');

beforeAll(async () => {
  ns = await withNamespace('cli-conv');
  writeFileSync(code, 'def handler(event, context):\n    return "hi"\n');
});
afterAll(async () => {
  await ns.cleanup();
});

const objects = async (): Promise<string> => (await kubectlOk(['get', 'functions.kubeless.io,httptriggers.kubeless.io', '-n', ns.name, '-o', 'name'])).trim();

describe('exit codes', () => {
  it('describe, delete and update of a missing function exit 3 with one line', async () => {
    const results = await Promise.all([['describe', 'nope'], ['delete', 'nope'], ['update', 'nope', '--memory', '64Mi']].map((a) => kubeless(['function', ...a, '-n', ns.name])));
    for (const r of results) expect(r).toEqual({ code: 3, stdout: '', stderr: `Error: function "nope" not found in namespace "${ns.name}"\n` });
  });
});

describe("kubectl's --dry-run", () => {
  it('--dry-run=client -o yaml prints the object and creates nothing; -o alone is refused before sending', async () => {
    const deploy = ['function', 'deploy', 'hello', '--runtime', 'python3.12', '--handler', 'hello.handler', '--from-file', code, '-n', ns.name];
    const [client, alone, trigger] = await Promise.all([
      kubeless([...deploy, '--dry-run=client', '-o', 'yaml']),
      kubeless([...deploy, '--dry-run', '-o', 'json']),
      kubeless(['trigger', 'http', 'create', 'web', '--function-name', 'hello', '--dry-run=client', '-o', 'yaml', '-n', ns.name]),
    ]);
    expect(client).toMatchObject({ code: 0, stderr: '' });
    expect(parse(client.stdout)).toMatchObject({ apiVersion: 'kubeless.io/v1beta1', kind: 'Function', metadata: { name: 'hello', namespace: ns.name }, spec: { runtime: 'python3.12', handler: 'hello.handler' } });
    expect(JSON.parse(alone.stdout)).toEqual(parse(client.stdout));
    expect(parse(trigger.stdout)).toMatchObject({ kind: 'HTTPTrigger', metadata: { name: 'web' }, spec: { 'function-name': 'hello' } });

    const [notDry, server] = await Promise.all([kubeless([...deploy, '-o', 'yaml']), kubeless([...deploy, '--dry-run=server'])]);
    expect(notDry).toEqual({ code: 2, stdout: '', stderr: 'Error: -o/--output prints the object of a dry run only: add --dry-run=client (nothing was sent)\n' });
    expect(server).toEqual({ code: 2, stdout: '', stderr: 'Error: --dry-run=server is not supported; use --dry-run=client to print the object without sending it\n' });
    expect(await objects()).toBe('');
  });
});
