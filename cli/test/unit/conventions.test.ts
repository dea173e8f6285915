/**
 * The CLI's user-facing conventions (issue 24 item 7): distinct exit codes, kubectl's
 * `--dry-run=client`, `--wait` progress on stderr, and the fish completion's command path. The real
 * program runs in-process on an App whose streams are captured; no cluster.
 */
import { ApiError } from '@kubeless/controller';
import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import { maybeWait, parseDryRun } from '../../src/commands/common.js';
import { commandPath, fishCompletion } from '../../src/completion.js';
import { CliError, EXIT, EXIT_CODES, exitCodeOf } from '../../src/errors.js';
import { buildProgram, commandTree, run } from '../../src/program.js';

interface Captured {
  app: App;
  out: () => string;
  err: () => string;
  /** How many times the command asked for the cluster. */
  connects: () => number;
}

/** An App that captures both streams; its cluster names the namespace and reads `get` for every object. */
function captured(get: () => Promise<unknown> = () => Promise.reject(new Error('no API server in this test'))): Captured {
  let out = '';
  let err = '';
  let connects = 0;
  const app: App = {
    env: {},
    out: { write: (s: string) => (out += s) },
    err: { write: (s: string) => (err += s) },
    version: '0.0.0',
    cluster: () => {
      connects++;
      return Promise.resolve({ namespace: (f: string | undefined) => f ?? 'team', client: { get } } as never);
    },
    close: () => undefined,
  };
  return { app, out: () => out, err: () => err, connects: () => connects };
}

const kubeless = async (c: Captured, args: string[]): Promise<number> => run(c.app, ['node', 'kubeless', ...args]);

describe('exit codes', () => {
  it('map each kind of error to its code, in one table', () => {
    const cases: [unknown, number][] = [
      [new CliError('--max (2) must be at least --min (3)'), EXIT.usage],
      [new CliError('runtime "python2.7" is not supported', 'KUBELESS_CLI_RUNTIME'), EXIT.usage],
      [new CliError('function "x" not found in namespace "ns"', 'KUBELESS_CLI_NOT_FOUND'), EXIT.notFound],
      [new CliError('timed out waiting for function x to be ready', 'KUBELESS_CLI_WAIT_TIMEOUT'), EXIT.timeout],
      [new CliError('no answer from the API server within 30 s', 'KUBELESS_CLI_TIMEOUT'), EXIT.timeout],
      [new CliError('function x failed: CrashLoopBackOff', 'KUBELESS_CLI_NOT_READY'), EXIT.failed],
      [new CliError('topic "t" already exists', 'KUBELESS_CLI_CONFLICT'), EXIT.failed],
      [new ApiError(404, 'NotFound', 'namespaces "nope" not found', undefined, 'POST', '/apis/x'), EXIT.notFound],
      [new ApiError(403, 'Forbidden', 'forbidden', undefined, 'GET', '/apis/x'), EXIT.failed],
      [new ApiError(0, 'ConnectionError', 'connect ECONNREFUSED', undefined, 'GET', '/x'), EXIT.failed],
      [new CommanderError(1, 'commander.unknownOption', "error: unknown option '--bogus'"), EXIT.usage],
      [new CommanderError(1, 'commander.help', '(outputHelp)'), EXIT.usage],
      [new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'), EXIT.ok],
      [new TypeError('a bug'), EXIT.failed],
      ['a string', EXIT.failed],
    ];
    expect(cases.map(([err]) => exitCodeOf(err))).toEqual(cases.map(([, code]) => code));
    expect(EXIT_CODES.map(([code]) => code)).toEqual([0, 1, 2, 3, 4]);
  });

  it('usage errors exit 2 with one line on stderr, help exits 0 and lists the codes', async () => {
    const missing = captured();
    expect(await kubeless(missing, ['function', 'deploy'])).toBe(2);
    expect(missing.err()).toBe("Error: missing required argument 'name'\n");
    const flag = captured();
    expect(await kubeless(flag, ['trigger', 'http', 'list', '--bogus'])).toBe(2);
    expect(flag.err()).toBe("Error: unknown option '--bogus'\n");
    const value = captured();
    expect(await kubeless(value, ['function', 'deploy', 'x', '--port', '0', '--dry-run'])).toBe(2);
    expect(value.err()).toBe('Error: --port: 0 is out of range [1, 65535]\n');
    const none = captured();
    expect(await kubeless(none, [])).toBe(2);
    const help = captured();
    expect(await kubeless(help, ['--help'])).toBe(0);
    expect(help.out()).toContain('Exit codes:\n  0  success\n  1  failed');
    expect(help.out()).toContain('  3  not found');
  });

  it('a missing object exits 3, an object that failed while waiting 1, a wait that ran out 4', async () => {
    const notFound = captured(() => Promise.reject(new ApiError(404, 'NotFound', 'not found', undefined, 'GET', '/x')));
    expect(await kubeless(notFound, ['function', 'describe', 'nope'])).toBe(3);
    expect(notFound.err()).toBe('Error: function "nope" not found in namespace "team"\n');
    const failed = captured(() => Promise.resolve(fn('False', 'CrashLoopBackOff')));
    expect(await waitExit(failed, '0')).toBe(1);
    const slow = captured(() => Promise.resolve(fn('False', 'WaitingForReplicas')));
    expect(await waitExit(slow, '1ms')).toBe(4);
    expect(slow.err()).toContain('timed out waiting for function foo to be ready: WaitingForReplicas');
  });
});

const fn = (status: string, reason: string): unknown => ({ metadata: { generation: 1 }, status: { observedGeneration: 1, conditions: [{ type: 'Ready', status, reason, message: 'm' }] } });

/** `maybeWait` the way deploy calls it, mapped to its exit code. */
async function waitExit(c: Captured, timeout: string): Promise<number> {
  try {
    await maybeWait(c.app, new Command(), 'function foo', '/apis/kubeless.io/v1beta1/namespaces/team/functions/foo', { wait: true, waitTimeout: timeout });
    return EXIT.ok;
  } catch (err) {
    c.app.err.write(`Error: ${(err as Error).message}\n`);
    return exitCodeOf(err);
  }
}

describe('--wait progress', () => {
  it('goes to stderr, the spinner too; stdout gets nothing', async () => {
    const states = [fn('False', 'WaitingForReplicas'), fn('True', 'Deployed')];
    const plain = captured(() => Promise.resolve(states.shift()));
    await maybeWait(plain.app, new Command(), 'function foo', '/x', { wait: true, waitTimeout: '5m' });
    expect(plain.out()).toBe('');
    expect(plain.err()).toBe('waiting for function foo: WaitingForReplicas (m)\nfunction foo is ready: m\n');

    const tty = captured(() => Promise.resolve(fn('True', 'Deployed')));
    (tty.app.err as { isTTY?: boolean }).isTTY = true;
    (tty.app.out as { isTTY?: boolean }).isTTY = true;
    await maybeWait(tty.app, new Command(), 'function foo', '/x', { wait: true });
    expect(tty.out()).toBe('');
    expect(tty.err()).toBe('\r\x1b[Kfunction foo is ready: m\n');
  });
});

describe('--dry-run', () => {
  it("kubectl's spellings: alone or =client is --dryrun, =none sends, =server is refused", () => {
    expect(parseDryRun({ dryRun: true, outputGiven: true })).toBe(true);
    expect(parseDryRun({ dryRun: 'client', outputGiven: true })).toBe(true);
    expect(parseDryRun({ dryrun: true, outputGiven: false })).toBe(true);
    expect(parseDryRun({ dryRun: 'none', outputGiven: false })).toBe(false);
    expect(parseDryRun({ outputGiven: false })).toBe(false);
    expect(() => parseDryRun({ dryRun: 'server', outputGiven: false })).toThrow('--dry-run=server is not supported; use --dry-run=client');
    expect(() => parseDryRun({ dryRun: 'foo', outputGiven: false })).toThrow('--dry-run: "foo" is not one of client, server, none (write --dry-run=client)');
    expect(() => parseDryRun({ dryrun: true, dryRun: 'none', outputGiven: false })).toThrow('contradict');
  });

  it('-o without a dry run is a usage error, before anything is read or sent', () => {
    expect(() => parseDryRun({ outputGiven: true })).toThrow('-o/--output prints the object of a dry run only: add --dry-run=client (nothing was sent)');
    expect(() => parseDryRun({ dryRun: 'none', outputGiven: true })).toThrow('-o/--output');
  });

  it('the program reads them on deploy, update and trigger create/update (-o, --output and --out)', async () => {
    const dry = captured();
    expect(await kubeless(dry, ['trigger', 'kafka', 'create', 'kt', '--trigger-topic', 'orders', '--function-name', 'f', '--dry-run=client', '-o', 'json'])).toBe(0);
    expect(JSON.parse(dry.out())).toMatchObject({ kind: 'KafkaTrigger', metadata: { name: 'kt', namespace: 'team' } });
    const alone = captured();
    expect(await kubeless(alone, ['trigger', 'kafka', 'create', 'kt', '--trigger-topic', 'orders', '--function-name', 'f', '--dry-run'])).toBe(0);
    expect(alone.out()).toContain('kind: KafkaTrigger\n');
    for (const o of [['-o', 'yaml'], ['--output=json'], ['--out', 'yaml']]) {
      const c = captured();
      expect(await kubeless(c, ['function', 'deploy', 'foo', '--runtime', 'python3.12', '--handler', 'a.b', '--from-file', '/nonexistent', ...o])).toBe(2);
      expect({ o, out: c.out(), err: c.err(), connects: c.connects() }).toEqual({ o, out: '', err: 'Error: -o/--output prints the object of a dry run only: add --dry-run=client (nothing was sent)\n', connects: 0 });
    }
    const server = captured();
    expect(await kubeless(server, ['function', 'update', 'foo', '--dry-run=server'])).toBe(2);
    expect(server.connects()).toBe(0);
    const help = buildProgram(captured().app).commands.find((c) => c.name() === 'function')?.commands.find((c) => c.name() === 'deploy')?.helpInformation();
    expect(help).toContain('--dry-run [strategy]');
  });
});

describe('fish completion', () => {
  const tree = commandTree(buildProgram(captured().app));
  const script = fishCompletion(tree);

  /** The generated `__kubeless_subcommands` table, walked as `__kubeless_path` walks it. */
  function fishPath(words: string[]): string {
    const table = new Map<string, string[]>();
    const lines = script.split('\n');
    lines.forEach((line, i) => {
      const c = /^ {4}case '(.*)'$/.exec(line);
      if (c) table.set(c[1] ?? '', [...(lines[i + 1] ?? '').matchAll(/'([^']*)'/g)].slice(1).map((m) => m[1] ?? ''));
    });
    const path: string[] = [];
    for (const w of words) if ((table.get(path.join(' ')) ?? []).includes(w)) path.push(w);
    return path.join(' ');
  }

  it('only known subcommands extend the path: arguments and flag values do not', () => {
    const cases: [string[], string][] = [
      [['function', 'deploy', 'foo', '--runtime', 'python3.12'], 'function deploy'],
      [['-n', 'ns', 'topic', 'publish'], 'topic publish'],
      [['trigger', 'http', 'create', 'x', '--function-name', 'function'], 'trigger http create'],
      [['autoscale', 'create', 'f', '--metric', 'cpu'], 'autoscale create'],
      [['function', 'describe', 'list'], 'function describe'],
      [['nope', 'function'], 'function'],
    ];
    for (const [words, path] of cases) {
      expect({ words, path: commandPath(tree, words) }).toEqual({ words, path });
      expect({ words, fish: fishPath(words) }).toEqual({ words, fish: path });
    }
    expect(script).toContain(`    if contains -- $t (__kubeless_subcommands "$path")\n`);
    expect(script).not.toContain(`string match -q -- '-*'`);
    expect(script).toContain(`complete -c kubeless -n 'test (__kubeless_path) = '\\''trigger http create'\\''' -l 'function-name'`);
  });
});
