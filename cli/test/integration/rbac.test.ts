/**
 * RBAC errors read well: a user without rights gets the API server's Forbidden message, on one
 * line, with exit code 1, from every command that talks to the API server. Granting the talk's
 * `function-reader` role then lets the same user list functions.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectlOk, withNamespace } from '@kubeless/stack';
import { kubeless, kubelessOk } from './helpers.js';

let ns: { name: string; cleanup: () => Promise<void> };
const dir = mkdtempSync(path.join(tmpdir(), 'kubeless-rbac-'));
const code = path.join(dir, 'foo.py');

beforeAll(async () => {
  ns = await withNamespace('cli-rbac');
  writeFileSync(code, 'def handler(event, context):\n    return "x"\n');
  // Objects exist, so a failure can only come from RBAC (not from "not found").
  await kubelessOk(['function', 'deploy', 'foo', '--from-file', code, '--runtime', 'python3.11', '--handler', 'foo.handler', '-n', ns.name]);
  await kubelessOk(['trigger', 'http', 'create', 'foo', '--function-name', 'foo', '-n', ns.name]);
  await kubelessOk(['trigger', 'kafka', 'create', 'foo', '--trigger-topic', 't', '--function-selector', 'function=foo', '-n', ns.name]);
  await kubelessOk(['trigger', 'sqs', 'create', 'foo', '--queue-url', 'http://127.0.0.1:9324/queue/q', '--function-name', 'foo', '-n', ns.name]);
});
afterAll(async () => {
  await ns.cleanup();
});

describe('a user without rights', () => {
  it('gets the Forbidden message of the API server and exit code 1 from every API command', async () => {
    const n = ['-n', ns.name];
    const commands: string[][] = [
      ['function', 'deploy', 'bar', '--from-file', code, '--runtime', 'python3.11', '--handler', 'foo.handler', ...n],
      ['function', 'update', 'foo', '--timeout', '10', ...n],
      ['function', 'delete', 'foo', ...n],
      ['function', 'ls', ...n],
      ['function', 'describe', 'foo', ...n],
      ['function', 'call', 'foo', '--data', 'x', ...n],
      ['function', 'logs', 'foo', ...n],
      ['function', 'top', ...n],
      ['trigger', 'http', 'create', 'bar', '--function-name', 'foo', ...n],
      ['trigger', 'http', 'update', 'foo', '--path', 'x', ...n],
      ['trigger', 'http', 'delete', 'foo', ...n],
      ['trigger', 'http', 'list', ...n],
      ['trigger', 'kafka', 'create', 'bar', '--trigger-topic', 't', '--function-selector', 'a=b', ...n],
      ['trigger', 'kafka', 'update', 'foo', '--trigger-topic', 'u', ...n],
      ['trigger', 'kafka', 'delete', 'foo', ...n],
      ['trigger', 'kafka', 'list', ...n],
      ['trigger', 'sqs', 'create', 'bar', '--queue-url', 'http://x/q', '--function-name', 'foo', ...n],
      ['trigger', 'sqs', 'update', 'foo', '--batch-size', '2', ...n],
      ['trigger', 'sqs', 'delete', 'foo', ...n],
      ['trigger', 'sqs', 'list', ...n],
      ['autoscale', 'create', 'foo', '--value', '50', ...n],
      ['autoscale', 'delete', 'foo', ...n],
      ['autoscale', 'list', ...n],
      ['get-server-config', '--config-namespace', ns.name],
    ];
    // A few at a time: the machine has two cores.
    const results: Awaited<ReturnType<typeof kubeless>>[] = [];
    for (let i = 0; i < commands.length; i += 3) {
      results.push(...(await Promise.all(commands.slice(i, i + 3).map((c) => kubeless(c, { user: 'bob' })))));
    }
    results.forEach((r, i) => {
      const cmd = commands[i]?.join(' ');
      expect({ cmd, code: r.code, stdout: r.stdout }).toEqual({ cmd, code: 1, stdout: expect.not.stringContaining('Error') as unknown });
      expect({ cmd, stderr: r.stderr }).toEqual({ cmd, stderr: expect.stringMatching(new RegExp(`^Error: \\S+ (\\"[^"]+\\" )?is forbidden: User "bob" cannot \\w+ resource "[a-z/]+" in API group "[a-z.]*" in the namespace "${ns.name}"\\n$`)) as unknown });
    });
    // Nothing changed.
    expect((await kubectlOk(['get', 'kubeless', '-n', ns.name, '-o', 'name'])).trim().split('\n').sort()).toEqual(
      ['function.kubeless.io/foo', 'httptrigger.kubeless.io/foo', 'kafkatrigger.kubeless.io/foo', 'sqstrigger.kubeless.io/foo'].sort(),
    );
  });

  it("can list functions once the talk's function-reader role is bound", async () => {
    await kubectlOk(['create', 'role', 'function-reader', '--verb=get,list,watch', '--resource=functions', '-n', ns.name]);
    await kubectlOk(['create', 'rolebinding', 'function-reader', '--role', 'function-reader', '--user=bob', '-n', ns.name]);
    const out = await kubelessOk(['function', 'ls', '-n', ns.name], { user: 'bob' });
    expect(out).toMatch(/^foo\s/m);
  });
});
