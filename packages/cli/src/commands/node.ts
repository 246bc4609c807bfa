import { Command, Option } from '@commander-js/extra-typings';
import {
  type ControlServiceClient,
  type ManagerView,
  Node,
  NodeSpec_Availability,
  NodeSpec_Role,
  NodeStatus_State,
} from '@flotilla/api';
import { call, controlClient } from '../control-client.js';
import { usageError } from '../exit-codes.js';
import type { Io } from '../io.js';
import { dockerNodes } from '../output/docker-json.js';
import { dockerFormatOption, rawNodes, renderListing } from '../output/listing.js';
import { table } from '../table.js';

const collect = (value: string, previous: string[]) => [...previous, value];

const word = (name: string, prefix: string) => name.replace(prefix, '').toLowerCase();
const status = (n: Node) => word(NodeStatus_State[n.status?.state ?? 0] ?? 'UNKNOWN', 'STATE_');
const availability = (n: Node) => word(NodeSpec_Availability[n.spec?.availability ?? 0] ?? '', 'AVAILABILITY_');
const role = (n: Node) => word(NodeSpec_Role[n.spec?.role ?? 0] ?? '', 'ROLE_');

export function nodeCommand(io: Io, client: () => ControlServiceClient = () => controlClient()): Command {
  const node = new Command('node').description('manage the nodes of the cluster');

  node
    .command('ls')
    .description('list nodes')
    .addOption(dockerFormatOption('node'))
    .action(async (opts) => {
      const c = client();
      const { nodes, managers, warnings } = await call(c, c.listNodes, {}).finally(() => c.close());
      for (const warning of warnings) io.err(`warning: ${warning}\n`);
      // A promoted node's manager is shown on the node's own row, as `docker node ls` shows a manager.
      const nodeIds = new Set(nodes.map((n) => n.id));
      const onNode = new Map(
        managers.filter((m) => nodeIds.has(m.manager?.nodeId ?? '')).map((m) => [m.manager?.nodeId, m]),
      );
      const standalone = managers.filter((m) => !nodeIds.has(m.manager?.nodeId ?? ''));
      if (opts.format !== 'table') {
        const raw = () => rawNodes(nodes, onNode, standalone);
        io.out(renderListing({ format: opts.format, kind: 'node', rows: () => dockerNodes({ nodes, managers }), raw }));
        return;
      }
      const rows = nodes.map((n) => [
        n.id,
        n.description?.hostname ?? '',
        status(n),
        availability(n),
        onNode.has(n.id) ? 'manager' : role(n),
        onNode.has(n.id) ? managerStatus(onNode.get(n.id) as ManagerView) : '',
        n.description?.addresses[0] ?? n.status?.address ?? '',
        n.description?.runtime ? `${n.description.runtime} ${n.description.runtimeVersion}` : '',
      ]);
      // Managers run no tasks: they have no availability or engine.
      const managerRows = standalone.map((m) => [
        m.manager?.id ?? '',
        m.manager?.hostname ?? '',
        m.reachable ? 'ready' : 'down',
        '-',
        'manager',
        managerStatus(m),
        m.manager?.address ?? '',
        '-',
      ]);
      io.out(
        table(
          ['ID', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'ROLE', 'MANAGER STATUS', 'ADDRESS', 'ENGINE'],
          [...managerRows, ...rows],
        ),
      );
    });

  node
    .command('inspect')
    .description('show a node in full (JSON)')
    .argument('<NODE>', 'node ID, ID prefix or hostname')
    .action(async (ref) => {
      const c = client();
      const { node: found } = await call(c, c.getNode, { node: ref }).finally(() => c.close());
      io.out(`${JSON.stringify(found ? Node.toJSON(found) : null, null, 2)}\n`);
    });

  node
    .command('update')
    .description("change a node's availability or labels")
    .argument('<NODE>', 'node ID, ID prefix or hostname')
    .addOption(
      new Option('--availability <STATE>', 'active, pause or drain').choices(['active', 'pause', 'drain'] as const),
    )
    .addOption(
      new Option('--label-add <KEY=VALUE>', 'add or change a label; repeatable')
        .argParser(collect)
        .default([] as string[]),
    )
    .addOption(new Option('--label-rm <KEY>', 'remove a label; repeatable').argParser(collect).default([] as string[]))
    .action(async (ref, opts) => {
      const labelAdd: Record<string, string> = {};
      for (const pair of opts.labelAdd) {
        const eq = pair.indexOf('=');
        if (eq <= 0) throw usageError(`--label-add takes KEY=VALUE, got ${JSON.stringify(pair)}`);
        labelAdd[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
      const wanted = {
        active: NodeSpec_Availability.AVAILABILITY_ACTIVE,
        pause: NodeSpec_Availability.AVAILABILITY_PAUSE,
        drain: NodeSpec_Availability.AVAILABILITY_DRAIN,
      };
      const c = client();
      const { node: updated } = await call(c, c.updateNode, {
        node: ref,
        availability: opts.availability ? wanted[opts.availability] : NodeSpec_Availability.AVAILABILITY_UNSPECIFIED,
        labelAdd,
        labelRm: opts.labelRm,
      }).finally(() => c.close());
      io.out(`${updated?.id ?? ref}\n`);
    });

  node
    .command('rm')
    .description('remove a node from the cluster; its certificate is refused from then on')
    .argument('<NODE>', 'node ID, ID prefix or hostname')
    .option('-f, --force', 'remove a node that is still ready')
    .action(async (ref, opts) => {
      const c = client();
      await call(c, c.removeNode, { node: ref, force: opts.force ?? false }).finally(() => c.close());
      io.out(`${ref}\n`);
    });

  node
    .command('demote')
    .description('make a manager leave the control plane: it resigns if it leads, and stops')
    .argument('<MANAGER>', 'manager ID, ID prefix or hostname')
    .action(async (ref) => {
      const c = client();
      const { manager } = await call(c, c.demoteNode, { node: ref }).finally(() => c.close());
      io.out(`${manager?.id ?? ref}\n`);
    });

  node
    .command('promote')
    .description('make a node a manager too: its agent starts one (agent start --manager-listen); tasks run on')
    .argument('<NODE>', 'node ID, ID prefix or hostname')
    .action(async (ref) => {
      const c = client();
      const { manager } = await call(c, c.promoteNode, { node: ref }).finally(() => c.close());
      io.out(`${manager?.id ?? ref}\n`);
    });

  return node;
}

/** Docker's words: Leader, Reachable, Unreachable. */
function managerStatus(m: ManagerView): string {
  return m.leader ? 'Leader' : m.reachable ? 'Reachable' : 'Unreachable';
}
