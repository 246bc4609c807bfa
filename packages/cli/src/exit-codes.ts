import { CommanderError } from '@commander-js/extra-typings';
import { Code, FlotillaError } from '@flotilla/api';
import type { Io } from './io.js';

/** Exit codes every command keeps to, as the docker CLI does. */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The reason on a FlotillaError for a command line that cannot run as given: it ends with EXIT.usage. */
const USAGE = 'usage';

/** A command line that cannot run as given (a flag value, a missing argument): the command ends with exit code 2. */
export function usageError(message: string): FlotillaError {
  return new FlotillaError(Code.InvalidArgument, message, { reason: USAGE });
}

/**
 * How a command that threw ends, in one place. A FlotillaError (or what FlotillaError.from can classify: a gRPC
 * error, a system error) prints its message, which says what to do, and exits 1, or 2 for a usage error.
 * Commander has printed its own. Anything else is a bug: printed with its stack.
 */
export function exitOnError(err: unknown, io: Io): ExitCode {
  if (err instanceof CommanderError) {
    // --help and --version end through here too, successfully.
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  const failure = FlotillaError.from(err);
  if (failure !== err && failure.code === Code.Unknown) {
    io.err(`flotilla: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return EXIT.failed;
  }
  io.err(`flotilla: ${failure.message}\n`);
  return failure.reason === USAGE ? EXIT.usage : EXIT.failed;
}
