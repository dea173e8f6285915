/**
 * Shell completion scripts (`kubeless completion bash|zsh|fish`) generated from the command tree,
 * so they never drift from the commands. Pure: the tree comes from the program.
 */

export interface CommandTree {
  name: string;
  description: string;
  /** Long and short option spellings, e.g. `--namespace`, `-n`. */
  options: string[];
  /** Values an option takes, by each of its spellings (e.g. `--metric`: cpu, qps, kafka-lag, sqs-depth); completed after the option. */
  values?: Record<string, readonly string[]>;
  subcommands: CommandTree[];
}

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

interface Node {
  path: string;
  tree: CommandTree;
}

function walk(tree: CommandTree, path = ''): Node[] {
  return [{ path, tree }, ...tree.subcommands.flatMap((s) => walk(s, path === '' ? s.name : `${path} ${s.name}`))];
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** A bash function `_kubeless` bound with `complete -F`; it completes subcommands and flags. */
export function bashCompletion(root: CommandTree): string {
  const name = root.name;
  const cases = walk(root)
    .map(({ path, tree }) => {
      const words = [...tree.subcommands.map((s) => s.name), ...tree.options].join(' ');
      return `    ${quote(path)}) words=${quote(words)} ;;`;
    })
    .join('\n');
  const values = walk(root)
    .flatMap(({ path, tree }) => Object.entries(tree.values ?? {}).map(([opt, vs]) => `    ${quote(`${path}|${opt}`)}) words=${quote(vs.join(' '))} ;;`))
    .join('\n');
  const children = walk(root)
    .map(({ path, tree }) => `    ${quote(path)}) subs=${quote(tree.subcommands.map((s) => s.name).join(' '))} ;;`)
    .join('\n');
  return `# bash completion for ${name}; load with: source <(${name} completion bash)
_${name}_subcommands() {
  local subs=''
  case "$1" in
${children}
  esac
  echo "$subs"
}

_${name}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  local path='' i w subs
  for (( i = 1; i < COMP_CWORD; i++ )); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    subs="$(_${name}_subcommands "$path")"
    if [[ " $subs " == *" $w "* ]]; then
      if [[ -z "$path" ]]; then path="$w"; else path="$path $w"; fi
    fi
  done
  local words=''
  case "$path|\${COMP_WORDS[COMP_CWORD-1]}" in
${values}
    *) case "$path" in
${cases}
       esac ;;
  esac
  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
}
complete -o default -F _${name} ${name}
`;
}

/** zsh: the bash function through zsh's bashcompinit. */
export function zshCompletion(root: CommandTree): string {
  return `#compdef ${root.name}
# zsh completion for ${root.name}; load with: source <(${root.name} completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(root).replace(/^# bash completion.*\n/, '')}`;
}

/**
 * The command path (`trigger http create`) of the words typed after the program name: a word
 * extends the path only when it names a subcommand of the path so far, so arguments and flag
 * values (`-n ns`, `create x`) never do. The bash and fish scripts walk the words the same way.
 */
export function commandPath(root: CommandTree, words: readonly string[]): string {
  let node = root;
  const path: string[] = [];
  for (const w of words) {
    const next = node.subcommands.find((s) => s.name === w);
    if (!next) continue;
    path.push(w);
    node = next;
  }
  return path.join(' ');
}

/**
 * fish: one `complete` line per subcommand and flag, conditioned on the command path typed so far
 * (`__<name>_path`, as `commandPath` computes it, from `__<name>_subcommands <path>`).
 */
export function fishCompletion(root: CommandTree): string {
  const name = root.name;
  const cases = walk(root).flatMap(({ path, tree }) => (tree.subcommands.length === 0 ? [] : [`    case ${quote(path)}`, `      printf '%s\\n' ${tree.subcommands.map((s) => quote(s.name)).join(' ')}`]));
  const lines = [
    `# fish completion for ${name}; load with: ${name} completion fish | source`,
    `function __${name}_subcommands`,
    `  switch "$argv[1]"`,
    ...cases,
    `  end`,
    `end`,
    `function __${name}_path`,
    `  set -l tokens (commandline -opc)`,
    `  set -l path`,
    `  for t in $tokens[2..-1]`,
    `    if contains -- $t (__${name}_subcommands "$path")`,
    `      set path $path $t`,
    `    end`,
    `  end`,
    `  echo (string join ' ' $path)`,
    `end`,
    `complete -c ${name} -f`,
  ];
  for (const { path, tree } of walk(root)) {
    const cond = `-n ${quote(`test (__${name}_path) = ${quote(path)}`)}`;
    for (const s of tree.subcommands) lines.push(`complete -c ${name} ${cond} -a ${quote(s.name)} -d ${quote(s.description)}`);
    for (const o of tree.options) {
      const vs = tree.values?.[o];
      const args = vs ? ` -x -a ${quote(vs.join(' '))}` : '';
      if (o.startsWith('--')) lines.push(`complete -c ${name} ${cond} -l ${quote(o.slice(2))}${args}`);
      else if (o.startsWith('-')) lines.push(`complete -c ${name} ${cond} -s ${quote(o.slice(1))}${args}`);
    }
  }
  return lines.join('\n') + '\n';
}

export function completionScript(shell: Shell, root: CommandTree): string {
  if (shell === 'bash') return bashCompletion(root);
  if (shell === 'zsh') return zshCompletion(root);
  return fishCompletion(root);
}
