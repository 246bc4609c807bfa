// Small helpers the benches share: progress on stderr (stdout is for the JSON lines), timing, percentiles,
// tearing down what a bench started when it is interrupted, and a namespace-host cluster with a stack deployed.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { type NetnsCluster, startNetnsCluster } from '@flotilla/testing';

/** The repository, and the built `flotilla` the benches run. */
export const root = path.resolve(import.meta.dirname, '..');
export const bin = path.join(root, 'node_modules', '.bin', 'flotilla');

export const log = (message: string) => process.stderr.write(`${message}\n`);

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Milliseconds as seconds with two decimals. */
export const seconds = (ms: number) => Math.round(ms / 10) / 100;

/** Nearest-rank percentile: with 10 values, p50 is the 5th smallest and p99 the largest. */
export const percentile = (xs: readonly number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil((p / 100) * xs.length) - 1)] ?? Number.NaN;

/** An interrupted run (Ctrl-C, SIGTERM) still runs `cleanup`, then exits 130. */
export function cleanUpOnInterrupt(cleanup: () => Promise<void>): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: tearing down`);
      void cleanup().finally(() => process.exit(130));
    });
  }
}

/** Namespace hosts, each with its own containerd and the built agent (see startNetnsCluster). */
export function startBenchCluster(hosts: number): Promise<NetnsCluster> {
  log(`starting ${hosts} namespace hosts (etcd, registry, manager; containerd and an agent per host)`);
  return startNetnsCluster({ bin, cwd: root, hosts, agentArgs: ['--dns-upstream', 'none'] });
}

/** Deploys the stack file made of `lines` as `name` and waits until it converged; fails with the agents' output. */
export async function deployBenchStack(cluster: NetnsCluster, name: string, lines: string[]): Promise<void> {
  const stackFile = path.join(cluster.env.FLOTILLA_CONFIG_DIR as string, `${name}.yml`);
  writeFileSync(stackFile, [...lines, ''].join('\n'));
  const deployed = await cluster.cli(['stack', 'deploy', '--wait', '--timeout', '3m', '-c', stackFile, name]);
  if (deployed.code !== 0) {
    throw new Error(`deploy failed:\n${deployed.output}\n${cluster.nodes.map((n) => n.agent.output()).join('\n')}`);
  }
}
