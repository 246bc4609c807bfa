import { Command, Option } from '@commander-js/extra-typings';
import { formatCompose, formatDiagnostics, type LoadedStack, loadStack, StackError } from '@flotilla/stack';
import { CliError, EXIT } from '../exit-codes.js';
import type { Io } from '../io.js';

const collect = (value: string, previous: string[]) => [...previous, value];

function fileOption() {
  return new Option('-c, --compose-file <FILE>', 'stack file; repeat to merge overrides in order')
    .argParser(collect)
    .default([] as string[]);
}

function envFileOption() {
  return new Option('--env-file <FILE>', 'read variables from this file instead of .env beside the first stack file');
}

/** Loads the stack or prints every problem with its file:line:col and fails. Warnings always go to stderr. */
function load(io: Io, files: string[], envFile: string | undefined): LoadedStack {
  if (files.length === 0) throw new CliError('no stack file given: pass one with -c FILE', EXIT.usage);
  try {
    const loaded = loadStack({ files, env: io.env, ...(envFile ? { envFile } : {}) });
    if (loaded.warnings.length > 0) io.err(`${formatDiagnostics(loaded.warnings)}\n`);
    return loaded;
  } catch (err) {
    if (!(err instanceof StackError)) throw err;
    const errors = err.diagnostics.filter((d) => d.severity === 'error').length;
    io.err(`${err.format()}\n`);
    throw new CliError(
      `the stack is invalid (${errors} error${errors === 1 ? '' : 's'}): fix the lines above and retry`,
    );
  }
}

export function stackCommand(io: Io): Command {
  const stack = new Command('stack').description('work with stacks: groups of services declared in Compose files');

  stack
    .command('config')
    .description('print the stack as it will be deployed: interpolated, merged, normalized, with defaults')
    .addOption(fileOption())
    .addOption(envFileOption())
    .addOption(
      new Option('--format <FORMAT>', 'output format').choices(['yaml', 'json'] as const).default('yaml' as const),
    )
    .action((opts) => {
      const { stack: normalized } = load(io, opts.composeFile, opts.envFile);
      io.out(formatCompose(normalized, opts.format));
    });

  stack
    .command('validate')
    .description('check stack files and report every problem with its file:line:col')
    .addOption(fileOption())
    .addOption(envFileOption())
    .action((opts) => {
      const { stack: normalized, files } = load(io, opts.composeFile, opts.envFile);
      const count = Object.keys(normalized.services).length;
      io.out(`${files.join(', ')}: valid (${count} service${count === 1 ? '' : 's'})\n`);
    });

  return stack;
}
