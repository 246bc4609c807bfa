import { Code, FlotillaError, type SessionRequest, type Task } from '@flotilla/api';
import type { ChangeSet } from '@flotilla/store';
import { CutOffs } from './cut-offs.js';
import { HandedTasks } from './handed-tasks.js';
import { floodReason, SESSION_LIMITS, SessionBudget, type SessionLimits } from './session-budget.js';

export interface FloodGuardOptions {
  heartbeatPeriodMs: number;
  limits?: Partial<SessionLimits>;
  /** How long a node cut off for the first time is refused a new session (default: one heartbeat period). */
  firstBackoffMs?: number;
  /** The longest refusal after repeated cut-offs (default: a minute). */
  maxBackoffMs?: number;
  now: () => number;
}

/** A node cut off is forgotten (its next cut-off waits the first backoff again) after this long without one. */
const CUT_OFF_MEMORY_MS = 10 * 60_000;

/**
 * The dispatcher's guard against a node that floods its session: a budget per session (see SessionBudget), sized
 * by the node's tasks, and the refusal of a new session from a node cut off lately. The first refusal is one
 * heartbeat period, inside the grace, so a node cut off once is not marked down; each cut-off that follows
 * doubles it, and past the grace the node is marked down as any silent node is.
 */
export class FloodGuard {
  private readonly limits: SessionLimits;
  private readonly cutOffs: CutOffs;
  private readonly handed = new HandedTasks();

  constructor(private readonly options: FloodGuardOptions) {
    this.limits = { ...SESSION_LIMITS, ...options.limits };
    this.cutOffs = new CutOffs({
      firstMs: options.firstBackoffMs ?? options.heartbeatPeriodMs,
      maxMs: options.maxBackoffMs ?? 60_000,
      memoryMs: CUT_OFF_MEMORY_MS,
      now: options.now,
    });
  }

  /** A new session's budget. */
  budget(): SessionBudget {
    return new SessionBudget(this.limits, this.options.heartbeatPeriodMs, this.options.now());
  }

  /** Task changes: a node's budget follows its tasks. */
  tasksChanged(set: ChangeSet<Task>): void {
    this.handed.apply(set);
  }

  /** The IDs of the tasks handed to a node now (its whole assignment set). */
  handedTo(nodeId: string): string[] {
    return this.handed.ids(nodeId);
  }

  /** Takes a message from a node's budget: why the node is to be cut off, if it is. */
  check(budget: SessionBudget, nodeId: string, message: SessionRequest): string | undefined {
    const flood = budget.check(message, this.handed.count(nodeId), this.options.now());
    return flood && floodReason(flood);
  }

  /** Records a node cut off: how long its new sessions are refused (ms). */
  cut(nodeId: string, reason: string): number {
    return this.cutOffs.cut(nodeId, reason);
  }

  /** Throws the refusal of a node's new session while it is cut off. */
  admit(nodeId: string): void {
    const refused = this.cutOffs.refused(nodeId);
    if (!refused) return;
    throw new FlotillaError(
      Code.ResourceExhausted,
      `node ${nodeId} was cut off (it ${refused.reason}): it may open a session again in ${Math.ceil(refused.waitMs)} ms`,
    );
  }

  /** A node removed: nothing is kept about it. */
  forget(nodeId: string): void {
    this.cutOffs.forget(nodeId);
  }

  /** Drops cut-offs long past. */
  prune(): void {
    this.cutOffs.prune();
  }

  stats(): { cutOffNodes: number; nodesWithTasks: number } {
    return { cutOffNodes: this.cutOffs.size, nodesWithTasks: this.handed.nodes };
  }
}
