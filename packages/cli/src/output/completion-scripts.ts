import type { CommandSpec } from './command-tree.js';

/*
 * Shell completion scripts made from the command tree: every command, subcommand and flag the program has, the
 * values of flags with fixed choices, and live names (services, nodes, stacks, networks, secrets, configs) that
 * the script asks of `flotilla __complete KIND` when the cursor is on such an argument or flag value. That command prints nothing when no cluster
 * answers, so completing never prints an error into the prompt.
 */

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** A word in single quotes for sh, bash, zsh and fish alike (names and choices are plain, but be safe). */
function quote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A fish string in single quotes: fish escapes \ and ' inside them with a backslash. */
function fishQuote(word: string): string {
  return `'${word.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

/** A bash `case` over the command path, with one word list per path that has one. */
function bashCase(name: string, specs: CommandSpec[], words: (s: CommandSpec) => string[]): string {
  const arms = specs
    .map((s) => [s.path, words(s).join(' ')] as const)
    .filter(([, list]) => list !== '')
    .map(([path, list]) => `    ${quote(path)}) echo ${quote(list)} ;;`);
  return [`${name}() {`, '  case "$1" in', ...arms, '  esac', '}'].join('\n');
}

function bashChoices(specs: CommandSpec[]): string {
  const arms = specs.flatMap((s) =>
    s.flags
      .filter((f) => f.choices.length > 0)
      .flatMap((f) => f.names.map((n) => `    ${quote(`${s.path}|${n}`)}) echo ${quote(f.choices.join(' '))} ;;`)),
  );
  return ['_flotilla_choices() {', '  case "$1|$2" in', ...arms, '  esac', '}'].join('\n');
}

/** The flags whose value is a live name (`service update --network-add`): the kind to ask `__complete` for. */
function bashLiveFlags(specs: CommandSpec[]): string {
  const arms = specs.flatMap((s) =>
    s.flags
      .filter((f) => f.live)
      .flatMap((f) => f.names.map((n) => `    ${quote(`${s.path}|${n}`)}) echo ${quote(f.live as string)} ;;`)),
  );
  return ['_flotilla_live_flag() {', '  case "$1|$2" in', ...arms, '  esac', '}'].join('\n');
}

/** The bash functions both bash and zsh (through bashcompinit) run. */
function bashBody(specs: CommandSpec[], program: string): string {
  return [
    bashCase('_flotilla_subcommands', specs, (s) => s.subcommands),
    bashCase('_flotilla_flags', specs, (s) => s.flags.flatMap((f) => f.names)),
    bashCase('_flotilla_value_flags', specs, (s) => s.flags.filter((f) => f.takesValue).flatMap((f) => f.names)),
    bashChoices(specs),
    bashLiveFlags(specs),
    bashCase('_flotilla_live', specs, (s) => (s.live ? [s.live] : [])),
    `_flotilla() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} path='' word i skip=0
  COMPREPLY=()
  # The command path so far: the words that name a subcommand of the path before them; a flag that takes a
  # value takes the next word with it.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=\${COMP_WORDS[i]}
    if ((skip)); then skip=0; continue; fi
    case "$word" in
      -*=*) continue ;;
      -*) [[ " $(_flotilla_value_flags "$path") " == *" $word "* ]] && skip=1; continue ;;
    esac
    [[ " $(_flotilla_subcommands "$path") " == *" $word "* ]] && path=\${path:+$path }$word
  done
  if ((skip)); then
    local choices live_flag
    choices=$(_flotilla_choices "$path" "$prev")
    live_flag=$(_flotilla_live_flag "$path" "$prev")
    if [[ -n $choices ]]; then
      mapfile -t COMPREPLY < <(compgen -W "$choices" -- "$cur")
    elif [[ -n $live_flag ]]; then
      mapfile -t COMPREPLY < <(compgen -W "$(${program} __complete "$live_flag" 2>/dev/null)" -- "$cur")
    else
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
    return 0
  fi
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_flotilla_flags "$path")" -- "$cur")
    return 0
  fi
  local subcommands live
  subcommands=$(_flotilla_subcommands "$path")
  if [[ -n $subcommands ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$subcommands" -- "$cur")
    return 0
  fi
  live=$(_flotilla_live "$path")
  if [[ -n $live ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(${program} __complete "$live" 2>/dev/null)" -- "$cur")
    return 0
  fi
  mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}`,
  ].join('\n\n');
}

function bashScript(specs: CommandSpec[], program: string): string {
  return `# bash completion for ${program}: made by \`${program} completion bash\`; make it anew after an upgrade.
# Install: ${program} completion bash > ~/.local/share/bash-completion/completions/${program}

${bashBody(specs, program)}

complete -F _flotilla ${program}
`;
}

function zshScript(specs: CommandSpec[], program: string): string {
  return `#compdef ${program}
# zsh completion for ${program}: made by \`${program} completion zsh\`; make it anew after an upgrade.
# Install: ${program} completion zsh > "\${fpath[1]}/_${program}"   (or: source <(${program} completion zsh))
# It runs the bash completion through zsh's bashcompinit, so both shells complete alike.

autoload -U +X bashcompinit && bashcompinit

${bashBody(specs, program)}

complete -F _flotilla ${program}
`;
}

function fishScript(specs: CommandSpec[], program: string): string {
  const subcommandArms = specs
    .filter((s) => s.subcommands.length > 0)
    .map((s) => `    case ${fishQuote(s.path)}\n      printf '%s\\n' ${s.subcommands.map(fishQuote).join(' ')}`);
  const valueFlagArms = specs
    .map((s) => [s.path, s.flags.filter((f) => f.takesValue).flatMap((f) => f.names)] as const)
    .filter(([, names]) => names.length > 0)
    .map(([path, names]) => `    case ${fishQuote(path)}\n      printf '%s\\n' ${names.map(fishQuote).join(' ')}`);
  const lines: string[] = [];
  for (const s of specs) {
    const at = `-n ${fishQuote(`__flotilla_at ${fishQuote(s.path)}`)}`;
    for (const word of s.subcommands) {
      const sub = specs.find((c) => c.path === (s.path ? `${s.path} ${word}` : word));
      lines.push(`complete -c ${program} ${at} -a ${fishQuote(word)} -d ${fishQuote(sub?.description ?? '')}`);
    }
    for (const f of s.flags) {
      const names = f.names.map((n) => (n.startsWith('--') ? `-l ${n.slice(2)}` : `-s ${n.slice(1)}`)).join(' ');
      const values = f.live ? `(${program} __complete ${f.live} 2>/dev/null)` : f.choices.join(' ');
      const value = f.takesValue ? (values ? ` -x -a ${fishQuote(values)}` : ' -r') : '';
      lines.push(`complete -c ${program} ${at} ${names}${value} -d ${fishQuote(f.description)}`);
    }
    if (s.live) {
      lines.push(`complete -c ${program} ${at} -a ${fishQuote(`(${program} __complete ${s.live} 2>/dev/null)`)}`);
    }
  }
  return `# fish completion for ${program}: made by \`${program} completion fish\`; make it anew after an upgrade.
# Install: ${program} completion fish > ~/.config/fish/completions/${program}.fish

function __flotilla_subcommands
  switch $argv[1]
${subcommandArms.join('\n')}
  end
end

function __flotilla_value_flags
  switch $argv[1]
${valueFlagArms.join('\n')}
  end
end

# The command path so far: the words that name a subcommand of the path before them; a flag that takes a value
# takes the next word with it.
function __flotilla_path
  set -l path ''
  set -l skip 0
  for word in (commandline -opc)[2..-1]
    if test $skip = 1
      set skip 0
      continue
    end
    if string match -q -- '-*' $word
      if not string match -q -- '*=*' $word; and contains -- $word (__flotilla_value_flags $path)
        set skip 1
      end
      continue
    end
    if contains -- $word (__flotilla_subcommands $path)
      set path (string trim -- "$path $word")
    end
  end
  echo $path
end

function __flotilla_at
  set -l path (__flotilla_path)
  test "$path" = "$argv[1]"
end

complete -c ${program} -f
${lines.join('\n')}
`;
}

export function completionScript(shell: Shell, specs: CommandSpec[], program = 'flotilla'): string {
  switch (shell) {
    case 'bash':
      return bashScript(specs, program);
    case 'zsh':
      return zshScript(specs, program);
    case 'fish':
      return fishScript(specs, program);
  }
}
