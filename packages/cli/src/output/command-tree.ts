import type { Command } from '@commander-js/extra-typings';

/** The live names a command's argument takes, listed by `flotilla __complete KIND`. */
export const LIVE_KINDS = ['services', 'nodes', 'stacks'] as const;
export type LiveKind = (typeof LIVE_KINDS)[number];

export interface FlagSpec {
  /** -c and --compose-file, say. */
  names: string[];
  takesValue: boolean;
  /** The values a flag takes when commander knows them (`--format` of `stack deploy`: text, json). */
  choices: string[];
  description: string;
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

/**
 * Which live names an argument takes, by its name as the commands declare it: <SERVICE>, <SERVICE...>,
 * <SERVICE=REPLICAS...>, <NODE>, <MANAGER>, and <NAME> of the stack commands.
 */
function liveKind(path: string, argument: string | undefined): LiveKind | undefined {
  if (!argument) return undefined;
  const word = argument.replace(/[=.].*$/, '').toUpperCase();
  if (word === 'SERVICE') return 'services';
  if (word === 'NODE' || word === 'MANAGER') return 'nodes';
  if (word === 'NAME' && path.startsWith('stack ')) return 'stacks';
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
      .map((o) => ({
        names: [o.short, o.long].filter((n): n is string => !!n),
        takesValue: o.required || o.optional,
        choices: [...(o.argChoices ?? [])],
        description: o.description,
      }));
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
