import type { Command } from '@commander-js/extra-typings';

/** The live names a command's argument (or a flag's value) takes, listed by `flotilla __complete KIND`. */
export const LIVE_KINDS = ['services', 'nodes', 'stacks', 'networks', 'secrets', 'configs'] as const;
export type LiveKind = (typeof LIVE_KINDS)[number];

export interface FlagSpec {
  /** -c and --compose-file, say. */
  names: string[];
  takesValue: boolean;
  /** The values a flag takes when commander knows them (`--format` of `stack deploy`: text, json). */
  choices: string[];
  description: string;
  /** Whose names the flag's value is, if the cluster has them (`--network-add` of `service update`: networks). */
  live?: LiveKind;
}

/** One command of the program, by its path (`service ps`; the program itself is ''). */
export interface CommandSpec {
  path: string;
  description: string;
  subcommands: string[];
  flags: FlagSpec[];
  /** Whose names its first argument takes, if the cluster has them. */
  live: LiveKind | undefined;
}

/** The commands whose <NAME|ID…> argument names an existing network, secret or config (not `create`'s new one). */
const OBJECT_COMMANDS: Record<string, LiveKind> = {
  'network inspect': 'networks',
  'network rm': 'networks',
  'secret inspect': 'secrets',
  'secret rm': 'secrets',
  'config inspect': 'configs',
  'config rm': 'configs',
};

/**
 * Which live names an argument takes, by its name as the commands declare it: <SERVICE>, <SERVICE...>,
 * <SERVICE=REPLICAS...>, <NODE>, <MANAGER>, <NAME> of the stack commands, and <NAME|ID...> of the commands on
 * networks, secrets and configs that take an existing one.
 */
function liveKind(path: string, argument: string | undefined): LiveKind | undefined {
  if (!argument) return undefined;
  const word = argument.replace(/[=.|].*$/, '').toUpperCase();
  if (word === 'SERVICE') return 'services';
  if (word === 'NODE' || word === 'MANAGER') return 'nodes';
  if (word === 'NAME' && path.startsWith('stack ')) return 'stacks';
  if (word === 'NAME') return OBJECT_COMMANDS[path];
  return undefined;
}

/** The service flags whose value is a network, secret or config by name: docker's, with their -add/-rm forms. */
function liveFlagKind(path: string, long: string | undefined): LiveKind | undefined {
  if (!path.startsWith('service ') || !long) return undefined;
  const base = long.replace(/-(add|rm)$/, '');
  if (base === '--network') return 'networks';
  if (base === '--secret') return 'secrets';
  if (base === '--config') return 'configs';
  return undefined;
}

// biome-ignore lint/suspicious/noExplicitAny: commands of every argument and option type are walked alike.
type AnyCommand = Command<any, any, any>;

/** Hidden commands (`__complete`) and commander's own `help` are left out of what a shell offers. */
const offered = (c: AnyCommand) => !c.name().startsWith('__') && c.name() !== 'help';

/**
 * Every command of the program with its subcommands, flags and live argument, read off commander so that a new
 * command or flag is completed without anyone touching the completion scripts.
 */
export function commandTree(program: AnyCommand): CommandSpec[] {
  const specs: CommandSpec[] = [];
  const walk = (command: AnyCommand, path: string) => {
    const flags: FlagSpec[] = command.options
      .filter((o) => !o.hidden)
      .map((o) => {
        const live = liveFlagKind(path, o.long);
        return {
          names: [o.short, o.long].filter((n): n is string => !!n),
          takesValue: o.required || o.optional,
          choices: [...(o.argChoices ?? [])],
          description: o.description,
          ...(live ? { live } : {}),
        };
      });
    flags.push({ names: ['-h', '--help'], takesValue: false, choices: [], description: 'display help for command' });
    const children = command.commands.filter(offered);
    specs.push({
      path,
      description: command.description(),
      subcommands: children.map((c) => c.name()),
      flags,
      live: liveKind(path, command.registeredArguments[0]?.name()),
    });
    for (const child of children) walk(child, path ? `${path} ${child.name()}` : child.name());
  };
  walk(program, '');
  return specs;
}
