import { Command, Option } from '@commander-js/extra-typings';
import {
  Code,
  type ControlServiceClient,
  FlotillaError,
  isJobMode,
  Service,
  type ServiceSpec,
  type UpdateServiceResponse,
} from '@flotilla/api';
import { call, controlClient } from '../control-client.js';
import { usageError } from '../exit-codes.js';
import type { PinFlags } from '../image-pins.js';
import { type Io, processIo } from '../io.js';
import { checkPretty, dockerServiceInspect, inspectFormatOption, renderInspection } from '../output/docker-inspect.js';
import { dockerFormatOption } from '../output/listing.js';
import { prettyService } from '../pretty-inspect.js';
import { addCreateFlags, createSpec } from '../service-compose.js';
import { addFlags, type FlagValues } from '../service-flags.js';
import { type Followed, type FollowOptions, followServices, timeoutMs } from '../service-follow.js';
import { addPinFlags, pinServiceImage } from '../service-image-pin.js';
import { formatServiceListing } from '../service-listing.js';
import { hasUpdateFlags, UPDATE_LIST_FLAGS, UPDATE_SCALAR_FLAGS, updatedSpec } from '../service-update.js';
import { parseTaskFilter, taskFilterOption } from '../task-filter.js';
import { psListing, tasksOf } from '../task-listing.js';
import { serviceLogsCommand } from './service-logs.js';

/** `service create|ls|ps|inspect|logs|scale|update|rollback|rm`, as the docker CLI has them. */
export function serviceCommand(io: Io, client: () => ControlServiceClient = () => controlClient()): Command {
  // Positional options, so that `service create IMAGE COMMAND -flags` leaves the command's flags to it.
  const service = new Command('service').description('manage the services of the cluster').enablePositionalOptions();

  service
    .command('ls')
    .description('list services')
    .option('--stack <NAME>', "only this stack's services")
    .option('-q, --quiet', 'only print IDs')
    .addOption(dockerFormatOption('service'))
    .action(async (opts) => {
      const c = client();
      const { services } = await call(c, c.listServices, { stack: opts.stack ?? '' }).finally(() => c.close());
      // The columns of `docker service ls` (PORTS too), as `stack services` lists them.
      io.out(formatServiceListing(services, opts.format, opts.quiet ?? false));
    });

  service
    .command('ps')
    .description("list the tasks of services, with each slot's recent history")
    .argument('<SERVICE...>', 'service names, IDs or ID prefixes')
    .addOption(taskFilterOption())
    .option('--no-trunc', 'do not truncate IDs, images or errors')
    .option('-q, --quiet', 'only print task IDs')
    .addOption(dockerFormatOption('task'))
    .action(async (refs, opts) => {
      const filter = parseTaskFilter(opts.filter);
      const c = client();
      try {
        const response = await tasksOf(refs, (ref) => call(c, c.listTasks, { service: ref, stack: '', node: '' }));
        io.out(psListing(response, filter, opts));
      } finally {
        c.close();
      }
    });

  service
    .command('inspect')
    .description("show services as docker's JSON (--format raw: the API's), a template's lines, or laid out (--pretty)")
    .argument('<SERVICE...>', 'service names, IDs or ID prefixes')
    .option('--pretty', "print each service in the docker CLI's human-friendly layout")
    .addOption(inspectFormatOption('service'))
    .action(async (refs, opts) => {
      checkPretty(opts.format, opts.pretty);
      const c = client();
      try {
        const found: Service[] = [];
        for (const ref of refs) {
          const { service: s } = await call(c, c.getService, { service: ref });
          if (s) found.push(s);
        }
        // Docker separates services with an empty line.
        if (opts.pretty) io.out(found.map((s) => prettyService(s)).join('\n'));
        else
          io.out(
            renderInspection({
              format: opts.format,
              kind: 'service',
              docker: () => found.map(dockerServiceInspect),
              raw: () => found.map((s) => Service.toJSON(s)),
            }),
          );
      } finally {
        c.close();
      }
    });

  service.addCommand(serviceLogsCommand(io, client));

  service
    .command('scale')
    .description('set the number of replicas of services, and follow them until they converge')
    .argument('<SERVICE=REPLICAS...>', 'e.g. web=5 api=2')
    .addOption(detachOption())
    .addOption(timeoutOption())
    .action(async (pairs, opts) => {
      const requests = pairs.map((pair) => {
        const m = /^(.+)=(\d+)$/.exec(pair);
        if (!m) throw usageError(`"${pair}" is not SERVICE=REPLICAS (for example web=3)`);
        return { service: m[1] as string, replicas: BigInt(m[2] as string) };
      });
      if (!opts.detach) timeoutMs(opts.timeout);
      const c = client();
      try {
        const followed: Followed[] = [];
        for (const request of requests) {
          const { service: s } = await call(c, c.scaleService, request);
          io.out(`${request.service} scaled to ${request.replicas}\n`);
          if (s) followed.push({ service: s, versionBefore: s.specVersion });
        }
        if (!opts.detach) await followServices(c, followed, followOptions(io, opts.timeout));
      } finally {
        c.close();
      }
    });

  const create = service
    .command('create')
    .description('create a service outside any stack, as `docker service create` does, and follow it until it runs')
    .argument('<IMAGE>', 'the image to run')
    .argument('[COMMAND...]', 'the command and its arguments')
    // As docker's: what follows the image is the command, flags and all.
    .passThroughOptions()
    .addOption(detachOption())
    .addOption(timeoutOption());
  addCreateFlags(create);
  addPinFlags(create);
  create.action(async (image, args, opts) => {
    if (!opts.detach) timeoutMs(opts.timeout);
    const { spec, warnings } = createSpec(image, args, opts as unknown as FlagValues);
    for (const w of warnings) io.err(`warning: ${w}\n`);
    const name = spec.annotations?.name ?? '';
    const c = client();
    try {
      const pinned = await pinServiceImage(io, c, spec, opts as unknown as PinFlags);
      const { service: s } = await call(c, c.createService, { spec: pinned });
      io.out(`${s?.id ?? name}\n`);
      if (s && !opts.detach) await followServices(c, [{ service: s }], followOptions(io, opts.timeout));
    } finally {
      c.close();
    }
  });

  const update = service
    .command('update')
    .description("change a service; a change to what its tasks run rolls out by the service's update_config")
    .argument('<SERVICE>', 'a service name, ID or ID prefix')
    .option('--force', 'replace every task even when nothing changes (a job: run it again)')
    .option('--rollback', 'go back to the spec before the last update (as `service rollback`)')
    .addOption(detachOption())
    .addOption(timeoutOption());
  addFlags(update, UPDATE_SCALAR_FLAGS);
  addPinFlags(update);
  addFlags(update, UPDATE_LIST_FLAGS, true);
  update.action(async (ref, opts) => {
    const values = opts as unknown as FlagValues;
    if (!opts.detach) timeoutMs(opts.timeout);
    if (opts.rollback) {
      if (hasUpdateFlags(values) || opts.force) throw usageError('--rollback takes no other change');
      return rollbackService(ref, opts);
    }
    const c = client();
    try {
      // A new --image is pinned as a create's is; the image already there keeps its pin.
      const pin = (spec: ServiceSpec) =>
        values.image === undefined
          ? Promise.resolve(spec)
          : pinServiceImage(io, c, spec, values as unknown as PinFlags);
      // Said once, however many times the spec is computed again.
      const warnings = new Set<string>();
      const { res, before } = await writeUpdate(c, ref, values, opts.force ?? false, pin, (w) => warnings.add(w));
      for (const w of warnings) io.err(`warning: ${w}\n`);
      const s = res.service;
      const name = s?.spec?.annotations?.name ?? ref;
      if (isJobMode(s?.spec?.mode)) io.out(`${name}: run ${s?.specVersion} of the job started\n`);
      else io.out(res.tasksReplaced ? `${name}: spec version ${s?.specVersion} rolling out\n` : `${name} updated\n`);
      if (s && !opts.detach) {
        await followServices(c, [{ service: s, versionBefore: before }], followOptions(io, opts.timeout));
      }
    } finally {
      c.close();
    }
  });

  async function rollbackService(ref: string, opts: { detach?: boolean; timeout: string }): Promise<void> {
    const c = client();
    try {
      const { service: current } = await call(c, c.getService, { service: ref });
      const res = await call(c, c.rollbackService, { service: ref });
      const name = res.service?.spec?.annotations?.name ?? ref;
      io.out(`${name}: rolling back to the previous spec (spec version ${res.service?.specVersion})\n`);
      if (res.service && !opts.detach) {
        const followed = { service: res.service, versionBefore: current?.specVersion ?? 0n, rollback: true };
        await followServices(c, [followed], followOptions(io, opts.timeout));
      }
    } finally {
      c.close();
    }
  }

  service
    .command('rollback')
    .description('go back to the spec before the last update, rolled out by rollback_config')
    .argument('<SERVICE>', 'a service name, ID or ID prefix')
    .addOption(detachOption())
    .addOption(timeoutOption())
    .action(async (ref, opts) => {
      if (!opts.detach) timeoutMs(opts.timeout);
      await rollbackService(ref, opts);
    });

  service
    .command('rebalance')
    .description("even out a service's tasks across the nodes that can run them, one task at a time")
    .argument('<SERVICE>', 'a service name, ID or ID prefix')
    .action(async (ref) => {
      const c = client();
      await call(c, c.rebalanceService, { service: ref }).finally(() => c.close());
      io.out(`${ref}: rebalancing (each move starts the new task before stopping the old)\n`);
    });

  service
    .command('rm')
    .description('remove services (their tasks are stopped)')
    .argument('<SERVICE...>', 'service names, IDs or ID prefixes')
    .action(async (refs) => {
      const c = client();
      try {
        for (const ref of refs) {
          await call(c, c.removeService, { service: ref });
          io.out(`${ref}\n`);
        }
      } finally {
        c.close();
      }
    });

  return service;
}

/** `--detach`/`-d`: return once the change is written, as the docker CLI's. */
function detachOption() {
  return new Option('-d, --detach', 'return at once instead of following the change until it converges');
}

function timeoutOption() {
  return new Option('--timeout <DURATION>', 'fail (exit 1) if the change has not converged after this long').default(
    '5m',
  );
}

function followOptions(io: Io, timeout: string): FollowOptions {
  return { timeout, tty: io === processIo && process.stdout.isTTY === true, write: io.out };
}

/**
 * Writes `service update`: the whole new spec, computed here from the spec read and the flags, sent with that
 * spec; the manager writes it only if the service still has it (it stays the judge, and the write is atomic), so a
 * concurrent change is not undone: the spec is then read and computed again.
 */
async function writeUpdate(
  c: ControlServiceClient,
  ref: string,
  values: FlagValues,
  force: boolean,
  pin: (spec: ServiceSpec) => Promise<ServiceSpec>,
  warn: (message: string) => void,
): Promise<{ res: UpdateServiceResponse; before: bigint }> {
  for (let attempt = 1; ; attempt++) {
    const { service: current } = await call(c, c.getService, { service: ref });
    if (!current?.spec)
      throw new FlotillaError(Code.NotFound, `no service ${JSON.stringify(ref)}: see flotilla service ls`);
    const spec = await pin(updatedSpec(current.spec, values, warn));
    try {
      const res = await call(c, c.updateService, {
        service: current.id,
        envAdd: [],
        envRm: [],
        force,
        spec,
        baseSpec: current.spec,
      });
      return { res, before: current.specVersion };
    } catch (err) {
      if (FlotillaError.from(err).code !== Code.Aborted || attempt >= 3) throw err;
    }
  }
}
