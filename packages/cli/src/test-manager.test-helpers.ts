import { type RunningManager, startManager } from '@flotilla/manager';
import { startEtcd, type TestServer } from '@flotilla/test-servers';

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
