/** The built binary without a cluster: help, version, completion and usage errors. */
import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { buildProgram, createApp } from '../../src/index.js';

const BIN = fileURLToPath(new URL('../../bin/kubeless.js', import.meta.url));

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, KUBECONFIG: '/nonexistent' } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function leaves(cmd: Command, prefix: string[] = []): [string[], Command][] {
  const here: [string[], Command][] = [[prefix, cmd]];
  return [...here, ...cmd.commands.flatMap((c) => leaves(c, [...prefix, c.name()]))];
}

describe('help', () => {
  it('every command lists each of its flags in --help', () => {
    const sink = { write: () => true };
    const program = buildProgram(createApp({}, sink, sink, '0.0.0'));
    const all = leaves(program);
    expect(all.map(([p]) => p.join(' '))).toEqual(expect.arrayContaining(['function deploy', 'function top', 'trigger http create', 'trigger kafka update', 'trigger sqs list', 'topic publish', 'autoscale create', 'get-server-config', 'completion']));
    for (const [, cmd] of all) {
      const help = cmd.helpInformation();
      for (const o of cmd.options) expect(help).toContain(o.flags);
      for (const s of cmd.commands) expect(help).toContain(s.name());
    }
  });

  it('the binary prints help with the talk\'s http trigger flags, and its version', async () => {
    const [root, http, version] = await Promise.all([run(['--help']), run(['trigger', 'http', 'create', '--help']), run(['version'])]);
    expect(root.stdout).toMatch(/function\s+deploy, update, call and inspect functions/);
    for (const flag of ['--function-name', '--hostname', '--path', '--gateway', '--basic-auth-secret', '--tls-secret', '--enableTLSAcme', '--cors-enable', '--namespace', '--dryrun']) expect(http.stdout).toContain(flag);
    expect(version.stdout).toBe(`Kubeless version: 0.1.0\n`);
  });

  it('usage errors are one line and exit 2', async () => {
    const r = await run(['function', 'deploy']);
    expect(r).toMatchObject({ code: 2, stderr: "Error: missing required argument 'name'\n" });
    const shell = await run(['completion', 'tcsh']);
    expect(shell).toMatchObject({ code: 2, stderr: 'Error: unsupported shell "tcsh"; supported: bash, zsh, fish\n' });
  });
});

describe('completion', () => {
  it('bash completes subcommands and flags of the command typed so far', async () => {
    const script = (await run(['completion', 'bash'])).stdout;
    const complete = (words: string[]): string => {
      const r = spawnSync('bash', ['-c', `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${String(words.length - 1)}; _kubeless; echo "\${COMPREPLY[*]}"`], { encoding: 'utf8' });
      return r.stdout.trim();
    };
    expect(complete(['kubeless', 'fu'])).toBe('function');
    expect(complete(['kubeless', 'function', 'd']).split(' ').sort()).toEqual(['delete', 'deploy', 'describe']);
    expect(complete(['kubeless', 'trigger', 'http', 'create', 'x', '--ba'])).toBe('--basic-auth-secret');
    expect(complete(['kubeless', '-n', 'ns', 'topic', 'p'])).toBe('publish');
    expect(complete(['kubeless', 'autoscale', 'create', 'f', '--metric', ''])).toBe('cpu qps kafka-lag sqs-depth');
    expect(complete(['kubeless', 'autoscale', 'create', 'f', '--metric', 's'])).toBe('sqs-depth');
    expect(complete(['kubeless', 'autoscale', 'create', 'f', '--metric', 'sqs-depth', '--po'])).toBe('--polling-interval');
  });

  it('zsh and fish scripts are generated from the same tree', async () => {
    const [zsh, fish] = await Promise.all([run(['completion', 'zsh']), run(['completion', 'fish'])]);
    expect(zsh.stdout).toContain('#compdef kubeless');
    expect(zsh.stdout).toContain('complete -o default -F _kubeless kubeless');
    expect(fish.stdout).toContain(`complete -c kubeless -n 'test (__kubeless_path) = '\\''trigger http create'\\''' -l 'basic-auth-secret'`);
    expect(fish.stdout).toContain(`complete -c kubeless -n 'test (__kubeless_path) = '\\''autoscale create'\\''' -l 'metric' -x -a 'cpu qps kafka-lag sqs-depth'`);
    expect(path.basename(BIN)).toBe('kubeless.js');
  });
});
