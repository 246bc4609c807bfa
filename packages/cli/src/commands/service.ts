import { Command } from '@commander-js/extra-typings';
import { type ControlServiceClient, isJobMode, Service, ServiceMode } from '@flotilla/api';
import { call, controlClient } from '../control-client.js';
import { usageError } from '../exit-codes.js';
import type { Io } from '../io.js';
import { dockerService } from '../output/docker-json.js';
import { dockerFormatOption, rawServiceSummary, renderListing } from '../output/listing.js';
import { table } from '../table.js';
import { formatTasks, shortImage } from '../task-table.js';
import { serviceLogsCommand } from './service-logs.js';

/** The MODE column of `service ls`, in docker's words. */
const MODE_WORDS: Partial<Record<ServiceMode, string>> = {
  [ServiceMode.SERVICE_MODE_REPLICATED]: 'replicated',
  [ServiceMode.SERVICE_MODE_GLOBAL]: 'global',
  [ServiceMode.SERVICE_MODE_REPLICATED_JOB]: 'replicated job',
  [ServiceMode.SERVICE_MODE_GLOBAL_JOB]: 'global job',
};

/** `service ls|ps|inspect|logs|scale|rm`, as the docker CLI has them. */
export function serviceCommand(io: Io, client: () => ControlServiceClient = () => controlClient()): Command {
  const service = new Command('service').description('manage the services of the cluster');

  service
    .command('ls')
    .description('list services')
    .option('--stack <NAME>', "only this stack's services")
    .addOption(dockerFormatOption('service'))
    .action(async (opts) => {
      const c = client();
      const { services } = await call(c, c.listServices, { stack: opts.stack ?? '' }).finally(() => c.close());
      if (opts.format !== 'table') {
        io.out(
          renderListing({
            format: opts.format,
            kind: 'service',
            rows: () => services.map(dockerService),
            raw: () => services.map(rawServiceSummary),
          }),
        );
        return;
      }
      const rows = services.map(({ service: s, running, desired, completed, completions }) => [
        s?.id.slice(0, 12) ?? '',
        s?.spec?.annotations?.name ?? '',
        MODE_WORDS[s?.spec?.mode ?? ServiceMode.SERVICE_MODE_REPLICATED] ?? 'replicated',
        // Docker's form for jobs: running/max concurrent (completed/completions completed).
        isJobMode(s?.spec?.mode)
          ? `${running}/${desired} (${completed}/${completions} completed)`
          : `${running}/${desired}`,
        shortImage(s?.spec?.container?.image ?? ''),
      ]);
      io.out(table(['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE'], rows));
    });

  service
    .command('ps')
    .description("list a service's tasks, with each slot's recent history")
    .argument('<SERVICE>', 'a service name, ID or ID prefix')
    .addOption(dockerFormatOption('task'))
    .action(async (ref, opts) => {
      const c = client();
      const response = await call(c, c.listTasks, { service: ref, stack: '', node: '' }).finally(() => c.close());
      io.out(formatTasks(response, opts.format));
    });

  service
    .command('inspect')
    .description('show a service as JSON')
    .argument('<SERVICE...>', 'service names, IDs or ID prefixes')
    .action(async (refs) => {
      const c = client();
      try {
        const out = [];
        for (const ref of refs) {
          const { service: s } = await call(c, c.getService, { service: ref });
          if (s) out.push(Service.toJSON(s));
        }
        io.out(`${JSON.stringify(out, null, 2)}\n`);
      } finally {
        c.close();
      }
    });

  service.addCommand(serviceLogsCommand(io, client));

  service
    .command('scale')
    .description('set the number of replicas of services')
    .argument('<SERVICE=REPLICAS...>', 'e.g. web=5 api=2')
    .action(async (pairs) => {
      const requests = pairs.map((pair) => {
        const m = /^(.+)=(\d+)$/.exec(pair);
        if (!m) throw usageError(`"${pair}" is not SERVICE=REPLICAS (for example web=3)`);
        return { service: m[1] as string, replicas: BigInt(m[2] as string) };
      });
      const c = client();
      try {
        for (const request of requests) {
          await call(c, c.scaleService, request);
          io.out(`${request.service} scaled to ${request.replicas}\n`);
        }
      } finally {
        c.close();
      }
    });

  const collect = (value: string, all: string[]) => [...all, value];
  service
    .command('update')
    .description("change a service; a change to what its tasks run rolls out by the service's update_config")
    .argument('<SERVICE>', 'a service name, ID or ID prefix')
    .option('--image <IMAGE>', 'run this image')
    .option('--env-add <KEY=VALUE>', 'set an environment variable (repeatable)', collect, [] as string[])
    .option('--env-rm <KEY>', 'remove an environment variable (repeatable)', collect, [] as string[])
    .option('--replicas <N>', 'number of replicas (scaling alone replaces no task)')
    .option('--force', 'replace every task even when nothing changes (a job: run it again)')
    .action(async (ref, opts) => {
      let replicas: bigint | undefined;
      if (opts.replicas !== undefined) {
        if (!/^\d+$/.test(opts.replicas)) throw usageError(`--replicas takes a number, got "${opts.replicas}"`);
        replicas = BigInt(opts.replicas);
      }
      const c = client();
      const res = await call(c, c.updateService, {
        service: ref,
        envAdd: opts.envAdd,
        envRm: opts.envRm,
        force: opts.force ?? false,
        ...(opts.image !== undefined ? { image: opts.image } : {}),
        ...(replicas !== undefined ? { replicas } : {}),
      }).finally(() => c.close());
      const name = res.service?.spec?.annotations?.name ?? ref;
      if (isJobMode(res.service?.spec?.mode)) {
        // A job is not rolled out: each new spec version is a new run, started at once.
        io.out(
          `${name}: run ${res.service?.specVersion} of the job started (follow it with: flotilla service ps ${name})\n`,
        );
        return;
      }
      io.out(
        res.tasksReplaced
          ? `${name}: spec version ${res.service?.specVersion} rolling out (follow it with: flotilla service inspect ${name})\n`
          : `${name} updated: no task is replaced\n`,
      );
    });

  service
    .command('rollback')
    .description('go back to the spec before the last update, rolled out by rollback_config')
    .argument('<SERVICE>', 'a service name, ID or ID prefix')
    .action(async (ref) => {
      const c = client();
      const res = await call(c, c.rollbackService, { service: ref }).finally(() => c.close());
      const name = res.service?.spec?.annotations?.name ?? ref;
      io.out(`${name}: rolling back to the previous spec (spec version ${res.service?.specVersion})\n`);
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
