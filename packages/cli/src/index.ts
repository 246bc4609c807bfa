import { readFileSync } from 'node:fs';
import { Command, CommanderError } from '@commander-js/extra-typings';
import { clusterCommand } from './commands/cluster.js';
import { agentCommand, joinTokenCommand, managerCommand } from './commands/daemons.js';
import { devCommand } from './commands/dev.js';
import { nodeCommand } from './commands/node.js';
import { serviceCommand } from './commands/service.js';
import { stackCommand } from './commands/stack.js';
import { CliError, EXIT, type ExitCode } from './exit-codes.js';
import { type Io, processIo } from './io.js';

export type { ExitCode } from './exit-codes.js';
export { CliError, EXIT } from './exit-codes.js';
export type { Io } from './io.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(io: Io = processIo): Command {
  const program = new Command('flotilla')
    .description('Flotilla: run Compose stacks across a cluster of Linux hosts')
    .version(pkg.version, '-v, --version', 'print the version')
    .showSuggestionAfterError(true)
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();
  program.addCommand(stackCommand(io));
  program.addCommand(managerCommand(io));
  program.addCommand(agentCommand(io));
  program.addCommand(joinTokenCommand(io));
  program.addCommand(nodeCommand(io));
  program.addCommand(serviceCommand(io));
  program.addCommand(clusterCommand(io));
  program.addCommand(devCommand(io));
  // Subcommands report through the same channel and never call process.exit themselves.
  for (const command of program.commands) {
    command.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
    for (const sub of command.commands) sub.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
  }
  return program;
}

/** Runs the CLI and returns the exit code: 0 ok, 1 failed, 2 bad usage. */
export async function main(argv: string[], io: Io = processIo): Promise<ExitCode> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here too, successfully.
      if (err.exitCode === 0) return EXIT.ok;
      return EXIT.usage;
    }
    if (err instanceof CliError) {
      io.err(`flotilla: ${err.message}\n`);
      return err.exitCode;
    }
    // Domain errors (PkiError, StoreError, …) carry a typed code and a message meant for the user.
    if (err instanceof Error && typeof (err as { code?: unknown }).code === 'string') {
      io.err(`flotilla: ${err.message}\n`);
      return EXIT.failed;
    }
    io.err(`flotilla: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return EXIT.failed;
  }
}
