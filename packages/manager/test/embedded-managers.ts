import { freePort, tempDir } from '@flotilla/testing';
import { type RunningManager, startManager } from '../src/manager.js';

/** Where a test manager with its own etcd member lives: its state, etcd's client and peer addresses, its CLI. */
export interface Spot {
  stateDir: string;
  client: string;
  peer: string;
  cli: string;
}

/**
 * For integration tests: managers in this process that each run their own etcd member on loopback (a 2 s
 * election lease), their temporary directories, and their end.
 */
export class EmbeddedManagers {
  readonly running: RunningManager[] = [];
  private readonly dirs: { path: string; remove(): void }[] = [];

  constructor(private readonly label: string) {}

  /** A temporary directory, removed by close(). */
  readonly dir = (name: string): string => {
    const d = tempDir(`${this.label}-${name}`);
    this.dirs.push(d);
    return d.path;
  };

  readonly spot = async (name: string): Promise<Spot> => {
    const [client, peer] = [await freePort(), await freePort()];
    return {
      stateDir: this.dir(name),
      client: `127.0.0.1:${client}`,
      peer: `127.0.0.1:${peer}`,
      cli: this.dir(`${name}-cli`),
    };
  };

  /** A manager at `at`: a new cluster, or joined to one with `join`. */
  readonly start = async (at: Spot, join?: { manager: string; token: string }): Promise<RunningManager> => {
    const manager = await startManager({
      listen: '127.0.0.1:0',
      stateDir: at.stateDir,
      cliConfigDir: at.cli,
      embeddedEtcd: { listenClient: at.client, listenPeer: at.peer },
      electionTtlSeconds: 2,
      ...(join ? { join } : {}),
    });
    this.running.push(manager);
    return manager;
  };

  readonly stop = async (manager: RunningManager): Promise<void> => {
    await manager.stop();
    this.running.splice(this.running.indexOf(manager), 1);
  };

  /**
   * Stops the managers left together, while their members still make a quorum (a manager's stop waits for etcd
   * to resign its candidacy), at most 20 s; kills members still alive after that; removes the directories.
   */
  async close(): Promise<void> {
    const pids = this.running.map((m) => m.embeddedEtcd?.process?.pid);
    const stops = this.running.map((m) => m.stop().catch(() => undefined));
    await Promise.race([Promise.all(stops), new Promise((r) => setTimeout(r, 20_000))]);
    for (const pid of pids) if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    for (const d of this.dirs) d.remove();
  }
}

/** Whether a process is alive. */
export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
