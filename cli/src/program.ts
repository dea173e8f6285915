/**
 * The `kubeless` command tree. `buildProgram` wires every command to `app`; `commandTree` gives
 * the shape the completion scripts are generated from.
 */
import { KUBELESS_CONFIG_NAME } from '@kubeless/api';
import { Command, Option } from 'commander';
import type { App } from './app.js';
import { autoscaleCommand } from './commands/autoscale.js';
import { readRuntimes } from './commands/common.js';
import { functionCommand } from './commands/function.js';
import { topicCommand } from './commands/topic.js';
import { triggerCommand } from './commands/trigger.js';
import { completionScript, SHELLS, type CommandTree } from './completion.js';
import { CliError, errorMessage, EXIT, exitCodeOf, exitCodesHelp, isCommanderError } from './errors.js';
import { CONFIG_NAMESPACE } from './runtimes.js';

/**
 * Runs one command line (`argv` as in `process.argv`) and returns its exit code (see `EXIT`). An
 * error is printed as one `Error: ...` line on `app.err` (commander prints its own usage errors);
 * never throws.
 */
export async function run(app: App, argv: readonly string[]): Promise<number> {
  try {
    await buildProgram(app).parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    if (!isCommanderError(err)) app.err.write(`Error: ${errorMessage(err)}\n`);
    return exitCodeOf(err);
  }
}

/** The command tree; usage errors throw a commander error (see `run`) instead of exiting the process. */
export function buildProgram(app: App): Command {
  const program = new Command('kubeless')
    .description('Kubeless: Kubernetes-native functions, triggered over HTTP, Kafka and SQS')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context (default: the current context)')
    .showSuggestionAfterError()
    .exitOverride()
    .addHelpText('after', exitCodesHelp())
    .configureOutput({
      writeOut: (s) => app.out.write(s),
      writeErr: (s) => app.err.write(s),
      outputError: (s, write) => {
        write(s.replace(/^error: /, 'Error: '));
      },
    });

  program.addCommand(functionCommand(app));
  program.addCommand(triggerCommand(app));
  program.addCommand(topicCommand(app));
  program.addCommand(autoscaleCommand(app));

  program
    .command('get-server-config')
    .description('print the runtimes the server supports')
    .option('--config-namespace <namespace>', `namespace of ${KUBELESS_CONFIG_NAME} (default: $KUBELESS_NAMESPACE, else ${CONFIG_NAMESPACE})`)
    .action(async (o: { configNamespace?: string }, cmd: Command) => {
      const list = await readRuntimes(app, cmd, o.configNamespace ?? app.env.configNamespace ?? CONFIG_NAMESPACE, 'show');
      if (list.problem) app.err.write(`Warning: ${KUBELESS_CONFIG_NAME}: ${list.problem}; showing the built-in runtimes\n`);
      app.out.write(`Supported Runtimes are: ${list.ids.join(', ')}\n`);
    });

  program
    .command('version')
    .description('print the version of this CLI')
    .action(() => {
      app.out.write(`Kubeless version: ${app.version}\n`);
    });

  program
    .command('completion')
    .argument('<shell>', SHELLS.join(', '))
    .description('print a shell completion script: source <(kubeless completion bash)')
    .action((shell: string) => {
      if (!(SHELLS as readonly string[]).includes(shell)) throw new CliError(`unsupported shell "${shell}"; supported: ${SHELLS.join(', ')}`);
      app.out.write(completionScript(shell as (typeof SHELLS)[number], commandTree(program)));
    });

  // Subcommands inherit the output settings (help and errors go through `app`), and every
  // `-o, --output` also answers to the original's spelling `--out` (`function top --out yaml`).
  const inherit = (cmd: Command): void => {
    for (const c of cmd.commands) {
      c.configureOutput(program.configureOutput());
      c.showSuggestionAfterError();
      c.exitOverride();
      addOutAlias(c);
      inherit(c);
    }
  };
  inherit(program);
  return program;
}

/** `--out <format>`, the original CLI's name of `--output`, on a command that has `--output`. */
export function addOutAlias(cmd: Command): void {
  if (!cmd.options.some((o) => o.long === '--output')) return;
  cmd.addOption(new Option('--out <format>', 'the same as --output (the original kubeless spelling)'));
  cmd.hook('preAction', (self) => {
    const out = self.getOptionValue('out') as string | undefined;
    if (out !== undefined) self.setOptionValue('output', out);
  });
}

/** The command tree with every option spelling, `--help` included, and the values of options that list their choices. */
export function commandTree(cmd: Command): CommandTree {
  const spellings = (o: Option): string[] => [o.long, o.short].filter((x): x is string => typeof x === 'string');
  const values = Object.fromEntries(cmd.options.flatMap((o) => (o.argChoices ? spellings(o).map((s) => [s, o.argChoices ?? []] as const) : [])));
  return {
    name: cmd.name(),
    description: cmd.description(),
    options: [...cmd.options.flatMap(spellings), '--help'],
    ...(Object.keys(values).length > 0 ? { values } : {}),
    subcommands: cmd.commands.map(commandTree),
  };
}
