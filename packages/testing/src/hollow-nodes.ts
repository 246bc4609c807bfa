import { AgentSession, joinCluster, type NodeCredentials } from '@flotilla/agent';
import { type Assignments, type Task, TaskState, type TaskStatus } from '@flotilla/api';
import { tempDir } from '@flotilla/test-servers';

export interface HollowOptions {
  /** A manager's HOST:PORT and a join token. */
  manager: string;
  token: string;
  count: number;
  /** Time from an assignment to its task reported running (the fake runtime's start delay). */
  startDelayMs?: number;
  /** Share of tasks that fail to start instead (0..1), decided by a seeded generator. */
  failureRate?: number;
  /** Images whose tasks always fail to start (a broken release, for rolling-update tests). */
  failImages?: readonly string[];
  seed?: number;
  /** Joins run this many at once. */
  joinConcurrency?: number;
  /** What each node reports it has (default 4 CPUs, 8 GiB). */
  resources?: { nanoCpus: bigint; memoryBytes: bigint };
  /** Labels for node i (engine labels, reported by the node itself). */
  engineLabels?: (i: number) => Record<string, string>;
  /** Hostname of node i (default hollow-i). */
  hostname?: (i: number) => string;
}

/**
 * Simulated nodes, as Kubernetes' kubemark has them: each joins with its own key and certificate and holds a
 * real session (mutual TLS, heartbeats, assignments, status batches) with the manager; only the container
 * runtime is fake, starting or failing tasks after a delay. Many run in one process for scale tests and
 * benchmarks.
 */
export interface HollowNode {
  credentials: NodeCredentials;
  session: AgentSession;
  /** What this node's fake runtime runs now, by task ID. */
  running: Map<string, Task>;
  /** Tasks stopped by a self-fence, reported failed once the node hears from a manager again. */
  fencedAway: Set<string>;
}

export class HollowNodes {
  readonly nodes: HollowNode[] = [];
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

  /** Every task some node's fake runtime runs now. */
  runningTasks(): { node: number; task: Task }[] {
    return this.nodes.flatMap((n, node) => [...n.running.values()].map((task) => ({ node, task })));
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
          description: {
            hostname: this.options.hostname?.(i) ?? `hollow-${i}`,
            os: 'linux',
            architecture: 'x86_64',
            runtime: 'hollow',
            nanoCpus: this.options.resources?.nanoCpus ?? 4_000_000_000n,
            memoryBytes: this.options.resources?.memoryBytes ?? 8n * 1024n ** 3n,
            engineLabels: this.options.engineLabels?.(i) ?? {},
          },
        });
        const node: HollowNode = {
          credentials,
          session: undefined as unknown as AgentSession,
          running: new Map(),
          fencedAway: new Set(),
        };
        node.session = new AgentSession(credentials, {
          backoffMs: { first: 100, max: 2_000 },
          onAssignments: (a) => this.run(node, a),
          onFence: () => {
            for (const id of node.running.keys()) node.fencedAway.add(id);
            node.running.clear();
          },
        });
        node.session.start();
        // Node i keeps index i, whatever order the joins finish in.
        this.nodes[i] = node;
      }
    };
    await Promise.all(Array.from({ length: this.options.joinConcurrency ?? 16 }, worker));
  }

  /**
   * The fake runtime: tasks meant to run are started (or fail) after the start delay, tasks told to stop are
   * stopped, and tasks a self-fence stopped are reported failed; each kind of report goes in one batch.
   */
  private run(node: HollowNode, assignments: Assignments): void {
    const state = (t: Task) => t.status?.state ?? TaskState.TASK_STATE_UNSPECIFIED;
    const now = () => BigInt(Date.now());
    const report = (updates: { taskId: string; status: Partial<TaskStatus> }[]) => {
      if (updates.length > 0 && node.session.reportStatus(updates)) this.reported += updates.length;
    };
    if (assignments.full) {
      const assigned = new Set(assignments.tasks.map((t) => t.id));
      for (const id of node.running.keys()) if (!assigned.has(id)) node.running.delete(id);
    }
    for (const id of assignments.removedTaskIds) node.running.delete(id);
    // Reports that need no start delay: stops, fenced tasks, and states to repeat.
    const stopped: { taskId: string; status: Partial<TaskStatus> }[] = [];
    const toStart: Task[] = [];
    for (const t of assignments.tasks) {
      if (t.desiredState >= TaskState.TASK_STATE_SHUTDOWN) {
        node.running.delete(t.id);
        node.fencedAway.delete(t.id);
        if (state(t) < TaskState.TASK_STATE_COMPLETE) {
          stopped.push({
            taskId: t.id,
            status: { state: TaskState.TASK_STATE_SHUTDOWN, timestampMs: now(), message: 'stopped' },
          });
        }
      } else if (node.fencedAway.delete(t.id)) {
        stopped.push({
          taskId: t.id,
          status: {
            state: TaskState.TASK_STATE_FAILED,
            timestampMs: now(),
            message: 'stopped while the node was cut off from the managers',
            error: 'node fenced itself',
          },
        });
      } else if (!node.running.has(t.id) && state(t) < TaskState.TASK_STATE_RUNNING) {
        toStart.push(t);
      } else if (assignments.full && node.running.has(t.id) && state(t) < TaskState.TASK_STATE_RUNNING) {
        // A report the last manager never wrote (it died first): a new session hears the truth again.
        stopped.push({
          taskId: t.id,
          status: { state: TaskState.TASK_STATE_RUNNING, timestampMs: now(), message: 'started' },
        });
      }
    }
    report(stopped);
    if (toStart.length === 0) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      const updates = toStart.map((t) => {
        const failed =
          (this.options.failImages ?? []).includes(t.spec?.image ?? '') ||
          this.random() < (this.options.failureRate ?? 0);
        if (!failed) node.running.set(t.id, t);
        return {
          taskId: t.id,
          status: failed
            ? {
                state: TaskState.TASK_STATE_FAILED,
                timestampMs: now(),
                message: 'hollow runtime: start failed',
                error: 'simulated failure',
                exitCode: 1,
              }
            : { state: TaskState.TASK_STATE_RUNNING, timestampMs: now(), message: 'started' },
        };
      });
      report(updates);
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
