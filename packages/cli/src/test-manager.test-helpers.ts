import { type AgentOptions, type RunningAgent, startAgent } from '@flotilla/agent';
import { type RunningManager, startManager } from '@flotilla/manager';
import { startEtcd, type TestServer, tempDir } from '@flotilla/test-servers';

/**
 * A real etcd and one manager on it, leading, with the CLI's configuration written to `cliConfigDir`: what the
 * CLI's integration tests run their commands against.
 */
export async function startLeadingManager(
  stateDir: string,
  cliConfigDir: string,
): Promise<{ etcd: TestServer; manager: RunningManager }> {
  const etcd = await startEtcd();
  const manager = await startManager({
    etcd: { endpoints: [etcd.url] },
    listen: '127.0.0.1:0',
    stateDir,
    cliConfigDir,
  });
  const deadline = Date.now() + 10_000;
  while (!manager.controlPlane.leading()) {
    if (Date.now() > deadline) throw new Error('the manager was not elected');
    await new Promise((r) => setTimeout(r, 50));
  }
  return { etcd, manager };
}

/** The temporary directories of one test file, `PREFIX-NAME-…` each, and `remove()` for all of them. */
export function testDirs<N extends string>(
  prefix: string,
  names: readonly N[],
): Record<N, string> & { remove(): void } {
  const made = names.map((name) => [name, tempDir(`${prefix}-${name}`)] as const);
  const paths = Object.fromEntries(made.map(([name, dir]) => [name, dir.path])) as Record<N, string>;
  return {
    ...paths,
    remove: () => {
      for (const [, dir] of made) dir.remove();
    },
  };
}

/** A leading manager on a real etcd and agents joined to it as workers (each task runs as a process). */
export interface TestCluster {
  etcd: TestServer;
  manager: RunningManager;
  agents: RunningAgent[];
  /** Agents first, then the manager, then etcd. */
  stop(): Promise<void>;
}

export async function startTestCluster(
  stateDir: string,
  cliConfigDir: string,
  agents: readonly Omit<AgentOptions, 'join'>[] = [],
): Promise<TestCluster> {
  const { etcd, manager } = await startLeadingManager(stateDir, cliConfigDir);
  const cluster: TestCluster = {
    etcd,
    manager,
    agents: [],
    stop: async () => {
      for (const agent of cluster.agents) await agent.stop();
      await manager.stop();
      await etcd.destroy();
    },
  };
  const join = { manager: manager.address, token: manager.identity.tokens.worker };
  try {
    for (const options of agents) cluster.agents.push(await startAgent({ ...options, join }));
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
