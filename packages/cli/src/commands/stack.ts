import { Command, Option } from '@commander-js/extra-typings';
import {
  Code,
  type ControlServiceClient,
  DeployStackResponse,
  FlotillaError,
  isValidObjectName,
  PlanStackResponse,
  ServiceChange_Action,
} from '@flotilla/api';
import {
  formatCompose,
  formatDiagnostics,
  type LoadedStack,
  loadStack,
  parseDuration,
  StackError,
  toStackSpec,
} from '@flotilla/stack';
import { withAdmission } from '../admission-output.js';
import { call, controlClient } from '../control-client.js';
import { versionsBefore, waitForDeploy, watchedServices } from '../deploy-watch.js';
import { usageError } from '../exit-codes.js';
import { formatPins, pinImages, RESOLVE_IMAGE_MODES, unpinnedNotice } from '../image-pins.js';
import { type Io, processIo } from '../io.js';
import { dockerStack } from '../output/docker-json.js';
import { dockerFormatOption, renderListing } from '../output/listing.js';
import { formatServiceListing } from '../service-listing.js';
import { formatPlan } from '../stack-plan-output.js';
import { table } from '../table.js';
import { parseTaskFilter, taskFilterOption } from '../task-filter.js';
import { psListing } from '../task-listing.js';

const collect = (value: string, previous: string[]) => [...previous, value];

function fileOption() {
  return new Option('-c, --compose-file <FILE>', 'stack file; repeat to merge overrides in order')
    .argParser(collect)
    .default([] as string[]);
}

function envFileOption() {
  return new Option('--env-file <FILE>', 'read variables from this file instead of .env beside the first stack file');
}

function profileOption() {
  return new Option(
    '--profile <NAME>',
    'enable the services of this profile (repeatable; default: COMPOSE_PROFILES, comma-separated); services ' +
      'with no profiles are always enabled',
  )
    .argParser(collect)
    .default([] as string[]);
}

interface LoadFlags {
  composeFile: string[];
  envFile?: string | undefined;
  profile: string[];
}

/** Loads the stack or prints every problem with its file:line:col and fails. Warnings always go to stderr. */
function load(io: Io, flags: LoadFlags, projectName?: string): LoadedStack {
  const files = flags.composeFile;
  if (files.length === 0) throw usageError('no stack file given: pass one with -c FILE');
  try {
    const loaded = loadStack({
      files,
      env: io.env,
      ...(flags.envFile ? { envFile: flags.envFile } : {}),
      ...(flags.profile.length > 0 ? { profiles: flags.profile } : {}),
      ...(projectName ? { projectName } : {}),
    });
    if (loaded.warnings.length > 0) io.err(`${formatDiagnostics(loaded.warnings)}\n`);
    return loaded;
  } catch (err) {
    if (!(err instanceof StackError)) throw err;
    const errors = err.diagnostics.filter((d) => d.severity === 'error').length;
    io.err(`${err.format()}\n`);
    throw new FlotillaError(
      Code.InvalidArgument,
      `the stack is invalid (${errors} error${errors === 1 ? '' : 's'}): fix the lines above and retry`,
    );
  }
}

const ACTION_WORDS: Record<number, string> = {
  [ServiceChange_Action.ACTION_CREATED]: 'Creating service',
  [ServiceChange_Action.ACTION_UPDATED]: 'Updating service',
  [ServiceChange_Action.ACTION_UNCHANGED]: 'Unchanged service',
  [ServiceChange_Action.ACTION_REMOVED]: 'Removing service',
};

function parseTimeout(text: string): number {
  let ns: bigint;
  try {
    ns = parseDuration(text);
  } catch {
    throw usageError(`--timeout: "${text}" is not a duration such as 5m or 90s`);
  }
  if (ns <= 0n) throw usageError('--timeout must be longer than 0s');
  return Number(ns / 1_000_000n);
}

export function stackCommand(io: Io, client: () => ControlServiceClient = () => controlClient()): Command {
  const stack = new Command('stack').description('work with stacks: groups of services declared in Compose files');

  stack
    .command('config')
    .description('print the stack as it will be deployed: interpolated, merged, normalized, with defaults')
    .addOption(fileOption())
    .addOption(envFileOption())
    .addOption(profileOption())
    .addOption(
      new Option('--format <FORMAT>', 'output format').choices(['yaml', 'json'] as const).default('yaml' as const),
    )
    .action((opts) => {
      const { stack: normalized } = load(io, opts);
      io.out(formatCompose(normalized, opts.format));
    });

  stack
    .command('validate')
    .description('check stack files and report every problem with its file:line:col')
    .addOption(fileOption())
    .addOption(envFileOption())
    .addOption(profileOption())
    .action((opts) => {
      const { stack: normalized, files } = load(io, opts);
      const count = Object.keys(normalized.services).length;
      io.out(`${files.join(', ')}: valid (${count} service${count === 1 ? '' : 's'})\n`);
    });

  stack
    .command('deploy')
    .description('create or update the services of a stack from its Compose files')
    .argument('<NAME>', 'the stack name: services are named NAME_service')
    .addOption(fileOption())
    .addOption(envFileOption())
    .addOption(profileOption())
    .option('--prune', "remove the stack's services that the files no longer declare")
    .option('--dry-run', 'print what the deploy would do and where new tasks would go; change nothing')
    .addOption(
      new Option('--format <FORMAT>', 'output format').choices(['text', 'json'] as const).default('text' as const),
    )
    .option('--wait', 'wait until every service converged and is healthy (the default when stdout is a terminal)')
    .option('--no-wait', 'return as soon as the deploy is written')
    .option('--timeout <DURATION>', 'with --wait: fail if the services have not converged after this long', '5m')
    .addOption(
      new Option(
        '--resolve-image <MODE>',
        'pin images to the digests their tags name now: always (re-resolve every tag), changed (only images whose ' +
          'reference changed since the last deploy), never (nodes pull the tags themselves); default always, or ' +
          'FLOTILLA_RESOLVE_IMAGE',
      ).choices(RESOLVE_IMAGE_MODES),
    )
    .option('--registry-auth <FILE>', "registry logins, Docker's config.json (default: ~/.docker/config.json)")
    .addOption(
      new Option(
        '--insecure-registry <HOST:PORT>',
        'a registry that may be reached over plain HTTP (repeatable; also FLOTILLA_INSECURE_REGISTRY, comma-separated)',
      )
        .argParser(collect)
        .default([] as string[]),
    )
    .action(async (name, opts) => {
      if (!isValidObjectName(name)) {
        throw usageError(`invalid stack name "${name}": use letters, digits, _ . - (63 at most)`);
      }
      const timeoutMs = parseTimeout(opts.timeout);
      // ${COMPOSE_PROJECT_NAME} in the files is the stack's name.
      const loaded = load(io, opts, name);
      const c = client();
      let pinned: Awaited<ReturnType<typeof pinImages>>;
      try {
        pinned = await pinImages(io, c, toStackSpec(loaded.stack, name, loaded.objectData), opts);
      } catch (err) {
        c.close();
        throw err;
      }
      const request = { stack: pinned.stack, prune: opts.prune ?? false };
      if (opts.dryRun) {
        const plan = await withAdmission(io, loaded, () => call(c, c.planStack, request)).finally(() => c.close());
        if (opts.format === 'json') {
          const json = { ...(PlanStackResponse.toJSON(plan) as object), images: pinned.pins };
          io.out(`${JSON.stringify(json, null, 2)}\n`);
        } else {
          io.out(formatPlan(name, plan, 'text') + formatPins(pinned.pins));
          io.err(unpinnedNotice(pinned.pins));
        }
        return;
      }
      // Said when asked for on the command line; FLOTILLA_RESOLVE_IMAGE=never is a setup that knows already.
      if (opts.resolveImage === 'never') io.err(unpinnedNotice(pinned.pins));
      if (opts.format !== 'json') io.out(formatPins(pinned.pins));
      const tty = io === processIo && process.stdout.isTTY === true;
      const wait = opts.wait ?? tty;
      try {
        // The versions before the deploy tell a new spec version (an update to follow) from a scale.
        const before = wait ? await versionsBefore(c, name) : new Map<string, bigint>();
        const response = await withAdmission(io, loaded, () => call(c, c.deployStack, request));
        if (opts.format === 'json') io.out(`${JSON.stringify(DeployStackResponse.toJSON(response), null, 2)}\n`);
        else {
          for (const change of response.changes) io.out(`${ACTION_WORDS[change.action] ?? 'Service'} ${change.name}\n`);
        }
        if (!wait) return;
        // Progress goes to stderr when stdout carries JSON.
        const write = opts.format === 'json' ? io.err : io.out;
        await waitForDeploy(c, name, watchedServices(response.changes, before), {
          timeoutMs,
          timeout: opts.timeout,
          tty: tty && opts.format !== 'json',
          write,
        });
      } finally {
        c.close();
      }
    });

  stack
    .command('ls')
    .description('list stacks')
    .addOption(dockerFormatOption('stack'))
    .action(async (opts) => {
      const c = client();
      const { stacks } = await call(c, c.listStacks, {}).finally(() => c.close());
      if (opts.format !== 'table') {
        const rows = () => stacks.map(dockerStack);
        io.out(renderListing({ format: opts.format, kind: 'stack', rows, raw: () => stacks }));
      } else
        io.out(
          table(
            ['NAME', 'SERVICES'],
            stacks.map((st) => [st.name, String(st.services)]),
          ),
        );
    });

  stack
    .command('ps')
    .description("list a stack's tasks")
    .argument('<NAME>', 'the stack')
    .addOption(taskFilterOption())
    .option('--no-trunc', 'do not truncate IDs, images or errors')
    .option('-q, --quiet', 'only print task IDs')
    .addOption(dockerFormatOption('task'))
    .action(async (name, opts) => {
      const filter = parseTaskFilter(opts.filter);
      const c = client();
      const response = await call(c, c.listTasks, { service: '', stack: name, node: '' }).finally(() => c.close());
      // The listing of `service ps` and `node ps`, as docker's `stack ps` shares theirs.
      io.out(psListing(response, filter, opts));
    });

  stack
    .command('services')
    .description("list a stack's services")
    .argument('<NAME>', 'the stack')
    .option('-q, --quiet', 'only print IDs')
    .addOption(dockerFormatOption('service'))
    .action(async (name, opts) => {
      const c = client();
      const { services } = await call(c, c.listServices, { stack: name }).finally(() => c.close());
      if (services.length === 0) {
        throw new FlotillaError(Code.NotFound, `nothing found in stack ${name}: see flotilla stack ls`);
      }
      io.out(formatServiceListing(services, opts.format, opts.quiet ?? false));
    });

  stack
    .command('rm')
    .description("remove a stack's services (their tasks are stopped)")
    .argument('<NAME...>', 'the stacks')
    .action(async (names) => {
      const c = client();
      try {
        for (const name of names) {
          const { removed } = await call(c, c.removeStack, { name });
          for (const service of removed) io.out(`Removing service ${service}\n`);
        }
      } finally {
        c.close();
      }
    });

  return stack;
}
