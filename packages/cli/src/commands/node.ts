import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import {
  Code,
  type ControlServiceClient,
  FlotillaError,
  type ManagerView,
  Node,
  NodeSpec_Availability,
  NodeSpec_Role,
  NodeStatus_State,
} from '@flotilla/api';
import { cliConfigDir } from '@flotilla/pki';
import { labelMap } from '../command-helpers.js';
import { call, controlClient } from '../control-client.js';
import { usageError } from '../exit-codes.js';
import type { Io } from '../io.js';
import { checkPretty, dockerNodeInspect, inspectFormatOption, renderInspection } from '../output/docker-inspect.js';
import { dockerNodes } from '../output/docker-json.js';
import { dockerFormatOption, rawNodes, renderListing } from '../output/listing.js';
import { prettyNode } from '../pretty-inspect.js';
import { table } from '../table.js';
import { parseTaskFilter, taskFilterOption } from '../task-filter.js';
import { psListing, tasksOf } from '../task-listing.js';

const collect = (value: string, previous: string[]) => [...previous, value];

const word = (name: string, prefix: string) => name.replace(prefix, '').toLowerCase();
const status = (n: Node) => word(NodeStatus_State[n.status?.state ?? 0] ?? 'UNKNOWN', 'STATE_');
const availability = (n: Node) => word(NodeSpec_Availability[n.spec?.availability ?? 0] ?? '', 'AVAILABILITY_');
const role = (n: Node) => word(NodeSpec_Role[n.spec?.role ?? 0] ?? '', 'ROLE_');

export function nodeCommand(
  io: Io,
  client: () => ControlServiceClient = () => controlClient(),
  configDir: () => string = cliConfigDir,
): Command {
  const node = new Command('node').description('manage the nodes of the cluster');

  node
    .command('ls')
    .description('list nodes')
    .option('-q, --quiet', 'only print IDs')
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
      if (opts.quiet) {
        // The IDs of the rows the table has, in its order: the managers of their own, then the nodes.
        io.out(
          [...standalone.map((m) => m.manager?.id ?? ''), ...nodes.map((n) => n.id)].map((id) => `${id}\n`).join(''),
        );
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
    .description("show a node as docker's JSON (--format raw: the API's), a template's line, or laid out (--pretty)")
    .argument('<NODE>', "node ID, ID prefix or hostname, or self (the node that runs this CLI's manager)")
    .option('--pretty', "print the node in the docker CLI's human-friendly layout")
    .addOption(inspectFormatOption('node'))
    .action(async (ref, opts) => {
      checkPretty(opts.format, opts.pretty);
      const c = client();
      try {
        const { node: found } = await call(c, c.getNode, {
          node: ref === SELF ? await ownNode(c, configDir(), 'inspect') : ref,
        });
        if (opts.format === 'raw') {
          io.out(`${JSON.stringify(found ? Node.toJSON(found) : null, null, 2)}\n`);
          return;
        }
        if (!found) throw new FlotillaError(Code.NotFound, `no node ${JSON.stringify(ref)}: see flotilla node ls`);
        // A promoted node's manager gives it docker's ManagerStatus (and --pretty its Manager Status section).
        const { managers } = await call(c, c.listNodes, {});
        const manager = managers.find((m) => m.manager?.nodeId === found.id && !m.manager.demoted);
        if (opts.pretty) io.out(prettyNode(found, manager));
        else
          io.out(
            renderInspection({
              format: opts.format,
              kind: 'node',
              // An array of one, as `docker node inspect` prints.
              docker: () => [dockerNodeInspect(found, manager)],
              raw: () => Node.toJSON(found),
            }),
          );
      } finally {
        c.close();
      }
    });

  node
    .command('ps')
    .description("list the tasks on nodes (a slot's recent history under its current task)")
    .argument(
      '[NODE...]',
      "node IDs, ID prefixes or hostnames, or self (the default: the node that runs this CLI's manager)",
    )
    .addOption(taskFilterOption())
    .option('--no-trunc', 'do not truncate IDs, images or errors')
    .option('-q, --quiet', 'only print task IDs')
    .addOption(dockerFormatOption('task'))
    .action(async (refs, opts) => {
      const filter = parseTaskFilter(opts.filter);
      const c = client();
      try {
        const response = await tasksOf(refs.length > 0 ? refs : [SELF], async (given) => {
          const ref = given === SELF ? await ownNode(c, configDir(), 'ps') : given;
          // The node resolved as every node command resolves it (ID prefix too), then its tasks by exact ID.
          const { node: found } = await call(c, c.getNode, { node: ref });
          return call(c, c.listTasks, { service: '', stack: '', node: found?.id ?? ref });
        });
        io.out(psListing(response, filter, opts));
      } finally {
        c.close();
      }
    });

  node
    .command('update')
    .description("change a node's availability, labels or role")
    .argument('<NODE>', 'node ID, ID prefix or hostname')
    .addOption(
      new Option('--role <ROLE>', 'manager (as node promote) or worker (as node demote)').choices([
        'worker',
        'manager',
      ] as const),
    )
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
      const labelAdd = labelMap('--label-add', opts.labelAdd);
      const wanted = {
        active: NodeSpec_Availability.AVAILABILITY_ACTIVE,
        pause: NodeSpec_Availability.AVAILABILITY_PAUSE,
        drain: NodeSpec_Availability.AVAILABILITY_DRAIN,
      };
      const availability = opts.availability
        ? wanted[opts.availability]
        : NodeSpec_Availability.AVAILABILITY_UNSPECIFIED;
      const c = client();
      try {
        // The role first, the way `node promote` and `node demote` go, with their checks and refusals (a worker has
        // nothing to demote, a manager is one already, the last manager stays): a refused role changes nothing.
        if (opts.role === 'manager') await call(c, c.promoteNode, { node: ref });
        if (opts.role === 'worker') await call(c, c.demoteNode, { node: ref });
        let id = ref;
        // A role alone changes nothing else (a manager of its own is not a node that updateNode knows).
        if (!opts.role || opts.availability || opts.labelRm.length > 0 || Object.keys(labelAdd).length > 0) {
          const { node: updated } = await call(c, c.updateNode, {
            node: ref,
            availability,
            labelAdd,
            labelRm: opts.labelRm,
          });
          id = updated?.id ?? ref;
        }
        io.out(`${id}\n`);
      } finally {
        c.close();
      }
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

/** Docker's name for the node its daemon runs on, in `node inspect` and `node ps`. */
const SELF = 'self';

/**
 * The node `self` names, and the one `node ps` lists when given none, as docker's name the node its daemon runs
 * on: the node whose agent runs the manager this CLI is configured with (`node promote`). A manager started with
 * `manager start` runs on no node of the cluster: then the node must be named.
 */
async function ownNode(c: ControlServiceClient, configDir: string, command: 'inspect' | 'ps'): Promise<string> {
  const file = path.join(configDir, 'manager');
  const configured = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
  const { managers } = await call(c, c.listNodes, {});
  const own = managers.find((m) => configured && m.manager?.address === configured && !m.manager.demoted);
  if (own?.manager?.nodeId) return own.manager.nodeId;
  throw usageError(
    `name the node: flotilla node ${command} NODE (the manager this CLI uses, ${configured || 'none'}, runs on no node ` +
      'of the cluster; see flotilla node ls)',
  );
}

/** Docker's words: Leader, Reachable, Unreachable. */
function managerStatus(m: ManagerView): string {
  return m.leader ? 'Leader' : m.reachable ? 'Reachable' : 'Unreachable';
}
