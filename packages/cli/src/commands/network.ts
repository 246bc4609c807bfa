import { Command, Option } from '@commander-js/extra-typings';
import { type ControlServiceClient, type NetworkDetails, NetworkSpec } from '@flotilla/api';
import { clientScope, labelMap, removeEach } from '../command-helpers.js';
import { call, controlClient } from '../control-client.js';
import type { Io } from '../io.js';
import { listingFormatOption, table } from '../table.js';

const collect = (value: string, previous: string[]) => [...previous, value];

/** What `--attachable` means here, said where it is given (and in the README). */
export const ATTACHABLE_NOTE =
  'note: --attachable is recorded, but on Flotilla only services join networks (there are no standalone containers to attach): any service may join this network by naming it external in its stack';

/**
 * `flotilla network …`: overlay networks outside stacks, as `docker network create -d overlay` makes them on a
 * swarm. A stack's services join one by declaring it `external: true` (with `name:` when the key differs).
 */
export function networkCommand(io: Io, client: () => ControlServiceClient = () => controlClient()): Command {
  const command = new Command('network').description(
    'manage overlay networks outside stacks: stacks join them with external: true',
  );
  const withClient = clientScope(client);

  command
    .command('create')
    .description('create an overlay network; its subnet is given by the cluster unless --subnet names one')
    .argument('<NAME>', "the network's name, as stacks name it")
    .addOption(new Option('-d, --driver <DRIVER>', 'the network driver: overlay only').default('overlay'))
    .option('--subnet <CIDR>', 'the subnet, e.g. 10.60.0.0/24 (a /29 or larger, clear of every other network)')
    .option('--gateway <IP>', "the gateway address in the subnet (default: the subnet's first address)")
    .option('--attachable', 'accepted for docker habits: only services join networks on Flotilla')
    .option('--internal', 'no traffic out of the cluster from this network, nor names resolved outside it')
    .addOption(new Option('-l, --label <KEY=VALUE>', 'a label; repeatable').argParser(collect).default([] as string[]))
    .action(async (name, opts) => {
      // The driver and the addresses are judged by the managers, in one place for the CLI and any other client.
      const spec = NetworkSpec.fromPartial({
        annotations: { name, labels: labelMap('--label', opts.label) },
        driver: opts.driver,
        internal: opts.internal === true,
        attachable: opts.attachable === true,
        ipam:
          opts.subnet || opts.gateway ? [{ subnet: opts.subnet ?? '', gateway: opts.gateway ?? '', ipRange: '' }] : [],
      });
      const { network } = await withClient((c) => call(c, c.createNetwork, { spec }));
      io.out(`${network?.network?.id ?? ''}\n`);
      if (opts.attachable) io.err(`${ATTACHABLE_NOTE}\n`);
    });

  command
    .command('ls')
    .alias('list')
    .description('list networks: those made here, those of stacks, and the ingress network')
    .option('-q, --quiet', 'print IDs only')
    .addOption(listingFormatOption())
    .action(async (opts) => {
      const { networks } = await withClient((c) => call(c, c.listNetworks, {}));
      if (opts.quiet) {
        io.out(networks.map((n) => `${n.network?.id ?? ''}\n`).join(''));
        return;
      }
      if (opts.format === 'json') {
        io.out(`${JSON.stringify(networks.map(dockerShape), null, 2)}\n`);
        return;
      }
      const rows = networks.map((d) => {
        const n = d.network;
        return [
          n?.id ?? '',
          n?.spec?.annotations?.name ?? '',
          n?.spec?.driver || 'overlay',
          'swarm',
          n?.subnet || (n?.error ? `(${n.error})` : '(pending)'),
          d.stack || '-',
        ];
      });
      io.out(table(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE', 'SUBNET', 'STACK'], rows));
    });

  command
    .command('inspect')
    .description('show networks as JSON, in the docker CLI field names')
    .argument('<NAME|ID...>', 'network names or IDs')
    .action(async (refs) => {
      const found = await withClient(async (c) => {
        const out = [];
        for (const nameOrId of refs) out.push((await call(c, c.getNetwork, { nameOrId })).network);
        return out;
      });
      io.out(
        `${JSON.stringify(
          found.map((d) => (d ? dockerShape(d) : null)),
          null,
          2,
        )}\n`,
      );
    });

  command
    .command('rm')
    .alias('remove')
    .description('remove networks made by network create; refused while a service joins one')
    .argument('<NAME|ID...>', 'network names or IDs')
    .action(async (refs) => {
      await withClient((c) => removeEach(io, refs, (nameOrId) => call(c, c.removeNetwork, { nameOrId })));
    });

  return command;
}

/**
 * A network as `docker network inspect` shows a swarm one, where the fields match; what is Flotilla's own (the
 * stack, the services that join it, why it has no subnet yet) under `Flotilla`.
 */
export function dockerShape(details: NetworkDetails): Record<string, unknown> {
  const n = details.network;
  const spec = n?.spec;
  const asked = spec?.ipam.find((c) => c.subnet);
  // The allocator's values once given; until then what the spec asks for (if anything).
  const subnet = n?.subnet || asked?.subnet || '';
  const gateway = n?.gateway || asked?.gateway || '';
  return {
    Name: spec?.annotations?.name ?? '',
    Id: n?.id ?? '',
    Created: n?.createdAtMs ? new Date(Number(n.createdAtMs)).toISOString() : '',
    Scope: 'swarm',
    Driver: spec?.driver || 'overlay',
    EnableIPv6: false,
    IPAM: {
      Driver: 'default',
      Options: null,
      Config: subnet ? [{ Subnet: subnet, ...(gateway ? { Gateway: gateway } : {}) }] : [],
    },
    Internal: spec?.internal ?? false,
    Attachable: spec?.attachable ?? false,
    Ingress: n?.ingress ?? false,
    Options: n?.vni ? { 'com.docker.network.driver.overlay.vxlanid_list': String(n.vni) } : {},
    Labels: spec?.annotations?.labels ?? {},
    Flotilla: {
      Stack: details.stack,
      UsedBy: details.usedBy,
      ...(n?.error ? { Error: n.error } : {}),
    },
  };
}
