import path from 'node:path';
import { NodeSpec_Role } from '@flotilla/api';
import { freePort } from '@flotilla/devhosts';
import { type DevUp, self } from './dev-up.js';

/** A dev cluster on loopback: no isolation, and agents that run tasks' commands as plain processes. */
export async function upOnLoopback(up: DevUp, nodes: number): Promise<void> {
  const { io, dir, state } = up;
  state.mode = 'loopback';
  // The manager's address is fixed before it starts, so the CLI and agents know it at once.
  state.manager = `127.0.0.1:${await freePort()}`;
  const redisArgs = up.planLogs({ host: '127.0.0.1', port: await freePort() });
  io.err(
    `${state.redis ? `Redis on ${state.redis}, ` : ''}manager on ${state.manager} (with its own etcd member); ` +
      'waiting for the manager…\n',
  );
  await up.startManager('manager', state.manager, redisArgs);
  await up.startLogs('manager');
  const token = await up.joinToken(NodeSpec_Role.ROLE_WORKER);
  const launch = up.launcher();
  for (let i = 1; i <= nodes; i++) {
    const args = [self(), 'agent', 'start', '--join', state.manager, '--token', token];
    args.push('--state-dir', path.join(dir, `agent-${i}`), '--hostname', `dev-node-${i}`);
    // Without a host and a containerd of their own, the nodes share loopback and run tasks as processes.
    args.push('--executor', 'process');
    await launch({ name: `agent-${i}`, command: process.execPath, args });
  }
  await up.nodesReady(nodes);
  io.out(
    `the dev cluster is up: 1 manager, ${nodes} nodes (process executor: tasks run their command as processes,\n` +
      `without images or isolation, until each dev node gets its own containerd). Logs: ${dir}\n` +
      'A service runs on these nodes only if it allows it: x-flotilla: { allow_process_executor: true }, as\n' +
      'examples/hello/stack.yml does.\n' +
      'Try: flotilla node ls · flotilla stack deploy --resolve-image never -c examples/hello/stack.yml hello · ' +
      'flotilla service ps hello_hello' +
      ' · flotilla service logs -f hello_hello\n' +
      'Stop it: flotilla dev down\n',
  );
}
