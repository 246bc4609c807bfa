import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  type ClusterManager,
  type NetnsCluster,
  type NetnsClusterOptions,
  type RuntimeSample,
  slotsRunTwice,
  startNetnsCluster,
} from '@flotilla/testing';
import { expect } from 'vitest';
import { bin, root } from './flotilla-command.js';
import { clusterLeftovers } from './netns-leftovers.js';

/** A task as `service ps --format raw` shows it: the API's task (the fields the e2e tests read). */
export interface PsTask {
  id: string;
  nodeId: string;
  slot: string;
  desiredState: string;
  createdAtMs?: string;
  status: { state: string; health?: string; message?: string };
}

/** Running and meant to run: what fills a slot. */
export const live = (t: PsTask) => t.status.state === 'TASK_STATE_RUNNING' && t.desiredState === 'TASK_STATE_RUNNING';

/**
 * The tasks of one service through the built CLI (none when the control API does not answer), each ID kept in
 * `seen` for the leftover check at the end.
 */
export async function serviceTasks(
  cluster: NetnsCluster,
  service: string,
  seen: Set<string>,
  via?: ClusterManager,
): Promise<PsTask[]> {
  const ps = await cluster.cli(['service', 'ps', '--format', 'raw', service], via);
  const all = ps.code === 0 ? (JSON.parse(ps.stdout) as PsTask[]) : [];
  for (const t of all) seen.add(t.id);
  return all;
}

/** How many nodes (not managers) the managers say are ready (-1: no answer). */
export async function readyNodeCount(cluster: NetnsCluster, via?: ClusterManager): Promise<number> {
  const ls = await cluster.cli(['node', 'ls', '--format', 'raw'], via);
  if (ls.code !== 0) return -1;
  return (JSON.parse(ls.stdout) as { status?: { state: string }; managerStatus?: object }[]).filter(
    (n) => !n.managerStatus && n.status?.state === 'STATE_READY',
  ).length;
}

/**
 * No slot ran twice in the samples of the runtimes, given the service's tasks as the cluster tells them now; when
 * one did, the failure shows those tasks (slot, host, creation, state, message).
 */
export function expectNeverTwice(cluster: NetnsCluster, samples: readonly RuntimeSample[], tasks: PsTask[]): void {
  const twice = slotsRunTwice(samples, new Map(tasks.map((t) => [t.id, t.slot] as [string, string])));
  const hostOf = (id: string) => cluster.nodes.find((n) => n.nodeId === id)?.host.name ?? id;
  const table = tasks.map(
    (t) =>
      `${t.id} slot ${t.slot} on ${hostOf(t.nodeId)} created ${t.createdAtMs ?? '?'}: desired ${t.desiredState}, ${t.status.state} ${t.status.message ?? ''}`,
  );
  expect(twice, `first sample at ${samples[0]?.at}\n${table.join('\n')}`).toEqual([]);
}

/**
 * Deploys stack `app` with one service, `web`: busybox httpd answering "up" on port 80, under an init, with the
 * further lines given (ports, deploy, …, indented under the service); fails with the CLI's output.
 */
export async function deployWeb(cluster: NetnsCluster, more: string[]): Promise<void> {
  const stackFile = path.join(cluster.env.FLOTILLA_CONFIG_DIR as string, 'app.yml');
  const lines = [
    'services:',
    '  web:',
    `    image: ${cluster.images.busybox.tag}`,
    '    command: ["sh", "-c", "mkdir -p /www && echo up > /www/index.html && exec httpd -f -p 80 -h /www"]',
    '    init: true',
    ...more.map((l) => `    ${l}`),
    '',
  ];
  writeFileSync(stackFile, lines.join('\n'));
  const deployed = await cluster.cli(['stack', 'deploy', '--wait', '--timeout', '3m', '-c', stackFile, 'app']);
  if (deployed.code !== 0) throw new Error(`deploy failed:\n${deployed.output}`);
}

/**
 * A namespace cluster of the built CLI (agents without upstream DNS, so no test traffic leaves the hosts), made
 * ready by `prepare` if given, with the web service of deployWeb deployed on it with the lines given.
 */
export async function startWebCluster(
  options: Omit<NetnsClusterOptions, 'bin' | 'cwd'>,
  web: string[],
  prepare?: (cluster: NetnsCluster) => Promise<void>,
): Promise<NetnsCluster> {
  const cluster = await startNetnsCluster({ bin, cwd: root, agentArgs: ['--dns-upstream', 'none'], ...options });
  await prepare?.(cluster);
  await deployWeb(cluster, web);
  return cluster;
}

/** Closes a namespace cluster and checks that nothing of it is left: no namespace of its hosts or tasks, no bridge. */
export async function closeCluster(cluster: NetnsCluster | undefined, taskIds: Iterable<string>): Promise<void> {
  if (!cluster) return;
  await cluster.close();
  expect(clusterLeftovers(cluster, taskIds)).toEqual({ netns: [], bridge: false });
}
