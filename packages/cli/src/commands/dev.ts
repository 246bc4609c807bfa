import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { Command } from '@commander-js/extra-typings';
import { Code, FlotillaError } from '@flotilla/api';
import { pidAlive, serverBinary, stopPid } from '@flotilla/devhosts';
import { usageError } from '../exit-codes.js';
import type { Io } from '../io.js';
import { hostsModeMissing, killNode, removeNodes, restoreNode, upOnHosts } from './dev-hosts.js';
import { upOnLoopback } from './dev-loopback.js';
import { devDir, devNode, readDevState, writeDevState } from './dev-state.js';
import { DevUp } from './dev-up.js';

/** `dev up|down`: a whole cluster on this machine (etcd, Redis, a manager, agents), for trying Flotilla out. */
export function devCommand(io: Io): Command {
  const dev = new Command('dev').description('run a local cluster on this machine for trying things out');

  dev
    .command('up')
    .description(
      'start etcd, Redis, a registry, a manager and agents; as root, each agent in a network-namespace host with ' +
        'its own containerd (otherwise on loopback with the process executor)',
    )
    .option('--nodes <N>', 'how many agents', '3')
    .option('--managers <N>', 'how many managers: 1, or 3 (one leads; another takes over if it fails)', '1')
    .option('--loopback', 'agents on loopback with the process executor, even as root')
    .option(
      '--dns-upstream <IP[:PORT]>',
      "where containers' names outside the cluster are resolved (default: this machine's resolvers; none: nowhere)",
    )
    .action(async (opts) => {
      const nodes = Number(opts.nodes);
      if (!Number.isInteger(nodes) || nodes < 1 || nodes > 50) throw usageError('--nodes takes 1 to 50');
      const dir = devDir();
      const running = readDevState(dir);
      if (running) {
        if (running.pids.every((p) => pidAlive(p.pid))) {
          io.out(
            `the dev cluster is already up (manager ${running.manager}, ${running.nodes} nodes); flotilla dev down stops it\n`,
          );
          return;
        }
        throw new FlotillaError(
          Code.FailedPrecondition,
          `a dev cluster in ${dir} is partly down: run flotilla dev down first`,
        );
      }
      const etcdBin = serverBinary('etcd');
      if (!existsSync(etcdBin)) {
        throw new FlotillaError(
          Code.FailedPrecondition,
          `${etcdBin} is missing: install Debian's etcd-server (npm start does, as root)`,
        );
      }
      const managers = Number(opts.managers);
      if (managers !== 1 && managers !== 3) throw usageError('--managers takes 1 or 3');
      const missing = opts.loopback ? 'asked for with --loopback' : hostsModeMissing();
      if (missing && managers > 1) {
        throw usageError(`--managers 3 runs on namespace hosts, which cannot run here: ${missing}`);
      }
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const up = new DevUp(io, dir, { pids: [], etcd: '', manager: '', nodes });
      if (!missing) {
        await upOnHosts(up, nodes, managers, opts.dnsUpstream);
        return;
      }
      io.err(`nodes share this machine's network and run tasks as plain processes: ${missing}\n`);
      await upOnLoopback(up, nodes);
    });

  dev
    .command('down')
    .description('stop everything dev up started and remove its data (safe to run twice)')
    .action(async () => {
      const dir = devDir();
      const state = readDevState(dir);
      if (!state) {
        io.out('no dev cluster is up\n');
        return;
      }
      // Agents first (and, on hosts, their containerds with every container), then the managers (each stops its
      // etcd member), then the registry and Redis: each stops cleanly while what it talks to is still there.
      const nodes = state.hosts ?? [];
      const stopServers = async () => {
        for (const p of [...state.pids].reverse()) await stopPid(p.pid);
      };
      if (state.mode === 'hosts' || nodes.length > 0) await removeNodes(nodes, stopServers);
      else await stopServers();
      rmSync(dir, { recursive: true, force: true });
      io.out(
        `the dev cluster is down (${state.pids.length + nodes.length * 2} processes stopped${nodes.length > 0 ? `, ${nodes.length} hosts removed` : ''}, ${dir} removed)\n`,
      );
    });

  dev
    .command('kill-node')
    .description("simulate a host failure: kill the node's agent, containerd and containers, and cut its link")
    .argument('<NODE>', 'dev-node-N, or N')
    .action(async (ref) => {
      const { dir, state, node } = devNode(ref);
      if (node.killed) {
        io.out(`${node.host.name} is down already\n`);
        return;
      }
      await killNode(node);
      node.killed = true;
      writeDevState(dir, state);
      io.out(`${node.host.name} is down: its agent, containerd and containers were killed and its link cut\n`);
    });

  dev
    .command('restore-node')
    .description('bring back a node killed with kill-node: its link, containerd and agent')
    .argument('<NODE>', 'dev-node-N, or N')
    .action(async (ref) => {
      const { dir, state, node } = devNode(ref);
      if (!node.killed) {
        io.out(`${node.host.name} is up\n`);
        return;
      }
      await restoreNode(new DevUp(io, dir, state), node);
      node.killed = false;
      writeDevState(dir, state);
      io.out(`${node.host.name} is back: its agent rejoins with the same identity\n`);
    });

  return dev;
}
