import { AgentSession, joinCluster, type NodeCredentials } from '@flotilla/agent';
import { type Task, TaskState } from '@flotilla/api';
import { tempDir } from './temp-dir.js';

export interface HollowOptions {
  /** A manager's HOST:PORT and a join token. */
  manager: string;
  token: string;
  count: number;
  /** Time from an assignment to its task reported running (the fake runtime's start delay). */
  startDelayMs?: number;
  /** Share of tasks that fail to start instead (0..1), decided by a seeded generator. */
  failureRate?: number;
  seed?: number;
  /** Joins run this many at once. */
  joinConcurrency?: number;
}

/**
 * Simulated nodes, as Kubernetes' kubemark has them: each joins with its own key and certificate and holds a
 * real session (mutual TLS, heartbeats, assignments, status batches) with the manager; only the container
 * runtime is fake, starting or failing tasks after a delay. Many run in one process for scale tests and
 * benchmarks.
 */
export class HollowNodes {
  readonly nodes: { credentials: NodeCredentials; session: AgentSession }[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly dir = tempDir('hollow');
  private random: () => number;
  reported = 0;

  private constructor(private readonly options: HollowOptions) {
    this.random = mulberry32(options.seed ?? 1);
  }

  static async start(options: HollowOptions): Promise<HollowNodes> {
    const hollow = new HollowNodes(options);
    await hollow.joinAll();
    return hollow;
  }

  /** Nodes whose session is up. */
  connected(): number {
    return this.nodes.filter((n) => n.session.state === 'connected').length;
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    for (const n of this.nodes) n.session.stop();
    this.dir.remove();
  }

  private async joinAll(): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < this.options.count) {
        const i = next++;
        const credentials = await joinCluster({
          manager: this.options.manager,
          token: this.options.token,
          stateDir: `${this.dir.path}/node-${i}`,
          description: { hostname: `hollow-${i}`, os: 'linux', architecture: 'x86_64', runtime: 'hollow' },
        });
        const node = { credentials, session: undefined as unknown as AgentSession };
        node.session = new AgentSession(credentials, {
          backoffMs: { first: 100, max: 2_000 },
          onAssignments: (a) => this.run(node.session, a.tasks),
        });
        node.session.start();
        this.nodes.push(node);
      }
    };
    await Promise.all(Array.from({ length: this.options.joinConcurrency ?? 16 }, worker));
  }

  /** The fake runtime: tasks meant to run are reported running (or failed) after the start delay, in one batch. */
  private run(session: AgentSession, tasks: Task[]): void {
    const toStart = tasks.filter(
      (t) => t.desiredState === TaskState.TASK_STATE_RUNNING && (t.status?.state ?? 0) < TaskState.TASK_STATE_RUNNING,
    );
    if (toStart.length === 0) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      const now = BigInt(Date.now());
      const updates = toStart.map((t) => {
        const failed = this.random() < (this.options.failureRate ?? 0);
        return {
          taskId: t.id,
          status: failed
            ? {
                state: TaskState.TASK_STATE_FAILED,
                timestampMs: now,
                message: 'hollow runtime: start failed',
                error: 'simulated failure',
                exitCode: 1,
              }
            : { state: TaskState.TASK_STATE_RUNNING, timestampMs: now, message: 'started' },
        };
      });
      if (session.reportStatus(updates)) this.reported += updates.length;
    }, this.options.startDelayMs ?? 0);
    this.timers.add(timer);
  }
}

/** A small seeded generator, so a run with the same seed fails the same tasks. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
