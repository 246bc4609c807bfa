import { readFileSync } from 'node:fs';
import { Command } from '@commander-js/extra-typings';
import { EXIT, type ExitCode, exitOnError } from './exit-codes.js';
import { type Io, processIo } from './io.js';

export { call, controlClient } from './control-client.js';
export type { ExitCode } from './exit-codes.js';
export { EXIT, exitOnError, usageError } from './exit-codes.js';
export type { Io } from './io.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

// biome-ignore lint/suspicious/noExplicitAny: each command has its own typed arguments and options.
type CommandFactory = (io: Io) => Command<any, any, any>;

/**
 * The commands `argv` may run. `flotilla agent` gets only its own: the agent runs on every node for as long as
 * the node lives, and should not carry the stack parser and every other command in its memory.
 */
async function commandsFor(argv: string[]): Promise<CommandFactory[]> {
  const daemons = await import('./commands/daemons.js');
  if (argv[2] === 'agent') return [daemons.agentCommand];
  const [
    { stackCommand },
    { nodeCommand },
    { serviceCommand },
    { clusterCommand },
    { devCommand },
    { eventsCommand },
    { secretCommand, configCommand },
    { networkCommand },
    { completionCommand, completeCommand },
    { uiCommand },
  ] = await Promise.all([
    import('./commands/stack.js'),
    import('./commands/node.js'),
    import('./commands/service.js'),
    import('./commands/cluster.js'),
    import('./commands/dev.js'),
    import('./commands/events.js'),
    import('./commands/file-objects.js'),
    import('./commands/network.js'),
    import('./commands/completion.js'),
    import('./commands/ui.js'),
  ]);
  return [
    stackCommand,
    daemons.managerCommand,
    daemons.agentCommand,
    daemons.joinTokenCommand,
    nodeCommand,
    serviceCommand,
    secretCommand,
    configCommand,
    networkCommand,
    clusterCommand,
    eventsCommand,
    uiCommand,
    devCommand,
    completionCommand,
    completeCommand,
  ];
}

export function buildProgram(commands: CommandFactory[], io: Io = processIo): Command {
  const program = new Command('flotilla')
    .description('Flotilla: run Compose stacks across a cluster of Linux hosts')
    .version(pkg.version, '-v, --version', 'print the version')
    .showSuggestionAfterError(true)
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();
  for (const make of commands) {
    const command = make(io);
    // `__complete` is for the completion scripts, not for people: it stays out of the help.
    program.addCommand(command, { hidden: command.name().startsWith('__') });
  }
  // Subcommands report through the same channel and never call process.exit themselves.
  for (const command of program.commands) {
    command.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
    for (const sub of command.commands) sub.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
  }
  return program;
}

/** Runs the CLI and returns the exit code: 0 ok, 1 failed, 2 bad usage. */
export async function main(argv: string[], io: Io = processIo): Promise<ExitCode> {
  const program = buildProgram(await commandsFor(argv), io);
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    return exitOnError(err, io);
  }
}
