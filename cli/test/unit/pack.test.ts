/**
 * The one-command install, as README "The CLI" gives it: `npm run -s cli:pack` (npm pack of cli/,
 * whose prepack builds the single-file bundle) gives a tarball of that file, package.json and
 * README.md, with no dependencies; `npm install -g` of it into an empty prefix, offline, gives a
 * `kubeless` that runs from anywhere, and so does the bundle copied alone.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'cli/package.json'), 'utf8')) as { version: string }).version;

const tmp = mkdtempSync(path.join(tmpdir(), 'kubeless-cli-pack-'));
const prefix = path.join(tmp, 'prefix');
/** An empty working directory for the installed command: it must leave it empty. */
const work = path.join(tmp, 'work');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], o: { cwd: string; env?: Record<string, string | undefined> }): Promise<Result> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: o.cwd, env: o.env, timeout: 170_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** npm without the settings of an npm that may have started vitest (npm_config_*, lifecycle variables). */
const npmEnv = (): Record<string, string | undefined> => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_'))),
  npm_config_cache: path.join(tmp, 'npm-cache'),
  npm_config_update_notifier: 'false',
});

/** The installed command's environment: no kubeconfig, no home of the user. */
const cliEnv = { PATH: process.env.PATH, HOME: work, KUBECONFIG: path.join(work, 'no-kubeconfig') };

let packed: { filename: string; files: { path: string }[] };
let kubeless: string;

beforeAll(async () => {
  mkdirSync(work);
  const pack = await run('npm', ['run', '-s', 'cli:pack', '--', '--json', '--pack-destination', tmp], { cwd: ROOT, env: npmEnv() });
  if (pack.code !== 0) throw new Error(`npm run cli:pack exited ${String(pack.code)}: ${pack.stderr}`);
  [packed] = JSON.parse(pack.stdout) as [typeof packed];
  const install = await run('npm', ['install', '--global', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', path.join(tmp, packed.filename)], { cwd: tmp, env: npmEnv() });
  if (install.code !== 0) throw new Error(`npm install -g exited ${String(install.code)}: ${install.stderr}`);
  kubeless = path.join(prefix, 'bin', 'kubeless');
}, 180_000);

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('npm run cli:pack', () => {
  it('packs the bundle, the licences of what it bundles, package.json, README.md and the LICENSE, and nothing else', () => {
    expect(packed.filename).toBe(`kubeless-cli-${VERSION}.tgz`);
    expect(packed.files.map((f) => f.path).sort()).toEqual(['LICENSE', 'README.md', 'dist/THIRD-PARTY-LICENSES.txt', 'dist/kubeless.mjs', 'package.json']);
  });

  it('names every bundled npm package with its licence text', () => {
    const notices = readFileSync(path.join(prefix, 'lib/node_modules/@kubeless/cli/dist/THIRD-PARTY-LICENSES.txt'), 'utf8');
    for (const p of ['commander', 'kafkajs', 'yaml', '@kubernetes/client-node', 'pino']) expect(notices, p).toMatch(new RegExp(`^={78}\\n${p.replace('/', '\\/')}@\\d+\\.\\d+\\.\\d+ \\(`, 'mu'));
    // kafkajs's own MIT text, not just its name.
    expect(notices).toMatch(/kafkajs@2\.\d+\.\d+ \(MIT\)\n={78}\n\n[^=]*Permission is hereby granted/u);
  });

  it('the installed package has no dependencies and its bin is the bundle', () => {
    const pkg = JSON.parse(readFileSync(path.join(prefix, 'lib/node_modules/@kubeless/cli/package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg).toMatchObject({ name: '@kubeless/cli', version: VERSION, bin: { kubeless: './dist/kubeless.mjs' } });
    expect(pkg.dependencies).toBeUndefined();
    expect(readdirSync(path.join(prefix, 'lib/node_modules'))).toEqual(['@kubeless']);
    expect(readdirSync(path.join(prefix, 'lib/node_modules/@kubeless/cli')).sort()).toEqual(['LICENSE', 'README.md', 'dist', 'package.json']);
  });
});

describe('the installed kubeless', () => {
  it('prints its version and its help, and writes nothing where it runs', async () => {
    const version = await run(kubeless, ['version'], { cwd: work, env: cliEnv });
    expect(version).toEqual({ code: 0, stdout: `Kubeless version: ${VERSION}\n`, stderr: '' });
    const help = await run(kubeless, ['--help'], { cwd: work, env: cliEnv });
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^Usage: kubeless \[options\] \[command\]/);
    expect(help.stdout).toMatch(/function\s+deploy, update, call and inspect functions/);
    expect(help.stdout).toContain('Exit codes:\n  0  success');
    expect(readdirSync(work)).toEqual([]);
  });

  it('a usage error exits 2; a missing kubeconfig is one line, exit 1', async () => {
    expect(await run(kubeless, ['function', 'deploy'], { cwd: work, env: cliEnv })).toEqual({ code: 2, stdout: '', stderr: "Error: missing required argument 'name'\n" });
    // It reaches for the kubeconfig (bundled @kubeless/controller and @kubernetes/client-node load).
    const ls = await run(kubeless, ['function', 'ls'], { cwd: work, env: cliEnv });
    expect(ls.code).toBe(1);
    expect(ls.stderr).toMatch(/^Error: cannot load the kubeconfig: ENOENT: no such file or directory, open '.*no-kubeconfig'\n$/);
  });

  it('the bundle runs alone, copied away from its package', async () => {
    const alone = path.join(tmp, 'alone');
    mkdirSync(alone);
    copyFileSync(path.join(prefix, 'lib/node_modules/@kubeless/cli/dist/kubeless.mjs'), path.join(alone, 'kubeless.mjs'));
    expect(await run(process.execPath, [path.join(alone, 'kubeless.mjs'), 'version'], { cwd: work, env: cliEnv })).toEqual({ code: 0, stdout: `Kubeless version: ${VERSION}\n`, stderr: '' });
  });
});
