import type { Command } from '@commander-js/extra-typings';
import { EXIT, exitOnError } from './exit-codes.js';
import { main } from './index.js';
import type { Io } from './io.js';

/** What a command printed, and its exit code. */
export interface CapturedRun {
  code: number;
  out: string;
  err: string;
}

interface RunOptions {
  env?: Record<string, string>;
  stdin?: Buffer;
}

function captureIo(options: RunOptions): { io: Io; printed: { out: string; err: string } } {
  const printed = { out: '', err: '' };
  const io: Io = {
    out: (t) => {
      printed.out += t;
    },
    err: (t) => {
      printed.err += t;
    },
    env: options.env ?? {},
    ...(options.stdin ? { stdin: async () => options.stdin as Buffer } : {}),
  };
  return { io, printed };
}

/** Runs the whole CLI (`main`) with the arguments after `flotilla`. */
export async function runMain(args: string[], options: RunOptions = {}): Promise<CapturedRun> {
  const { io, printed } = captureIo(options);
  const code = await main(['node', 'flotilla', ...args], io);
  return { code, ...printed };
}

/**
 * Runs a program of some of the CLI's commands (built on the Io given, e.g. with a client of the test's manager)
 * with the arguments after `flotilla`, ending with the exit code main would give.
 */
export async function runProgram(
  build: (io: Io) => Command,
  args: string[],
  options: RunOptions = {},
): Promise<CapturedRun> {
  const { io, printed } = captureIo(options);
  let code: number = EXIT.ok;
  try {
    await build(io).parseAsync(['node', 'flotilla', ...args]);
  } catch (e) {
    code = exitOnError(e, io);
  }
  return { code, ...printed };
}
