import {
  type FileContent,
  type SessionResponse,
  type Task,
  TaskState,
  taskFileObjectIds,
  taskFiles,
} from '@flotilla/api';

/**
 * The most file content one assignments message carries: agents take messages of up to 4 MiB, and a secret is up
 * to 500 KiB, so a node with many of them gets them over several messages, each well inside the limit.
 */
export const MAX_FILE_BYTES_PER_MESSAGE = 2 * 1024 * 1024;

/** The opened content of a stored version, or undefined while the dispatcher does not know it (or cannot open it). */
export type FileSource = (objectId: string) => Buffer | undefined;

/** One assignments set as the dispatcher would send it, before the files go in. */
export interface AssignmentSet {
  full: boolean;
  tasks: Task[];
  removed: string[];
}

/** What one assignments set becomes: the messages to send, in order, and the tasks held back. */
export interface FileDelivery {
  messages: SessionResponse[];
  /** Tasks not sent because a version they need is not known yet (sent once it is: see heldBack()). */
  heldBack: { taskId: string; objectIds: string[] }[];
}

/**
 * Which secret and config contents one session has sent its agent and the agent still holds. Both sides work it
 * out the same way from the same messages (see the agent's HeldFiles): each task sent is recorded with the
 * versions it uses (a full set replaces the record, a removal drops the task), and after each message with tasks
 * or removals, a version no recorded task uses is dropped. A content is sent only where it is not held, with the
 * tasks that need it, to their node only. A full set starts from nothing, so a new session, or one whose agent
 * fell behind, is sent every content again.
 *
 * Contents go only with tasks their node will still start (to run, not running yet): a task to stop needs no
 * file, and a running one has its files already (an agent that restarted adopts it, never starts it again). A task
 * to start that needs a version the dispatcher does not know yet (its informer has not seen it, or it cannot be
 * opened) is held back rather than sent without it: it is sent once the version is known.
 */
export class SessionFiles {
  private readonly uses = new Map<string, readonly string[]>();
  private readonly held = new Set<string>();
  private readonly waiting = new Set<string>();

  /** The messages carrying one assignments set and the contents its tasks need that the agent does not hold. */
  deliver(set: AssignmentSet, source: FileSource): FileDelivery {
    if (set.full) {
      this.uses.clear();
      this.held.clear();
      this.waiting.clear();
    }
    for (const id of set.removed) {
      this.uses.delete(id);
      this.waiting.delete(id);
    }
    const tasks: Task[] = [];
    const files: FileContent[] = [];
    const heldBack: FileDelivery['heldBack'] = [];
    const adding = new Map<string, Buffer>();
    for (const task of set.tasks) {
      const ids = taskFileObjectIds(task);
      const known = (id: string) => this.held.has(id) || adding.has(id);
      const contents = new Map<string, Buffer | undefined>();
      // Only a task its node will still start needs the contents: one to stop, or running, has what it needs.
      if (needsFiles(task)) for (const id of ids) if (!known(id)) contents.set(id, source(id));
      const missing = [...contents].filter(([, c]) => c === undefined).map(([id]) => id);
      if (missing.length > 0) {
        heldBack.push({ taskId: task.id, objectIds: missing });
        this.waiting.add(task.id);
        continue;
      }
      this.waiting.delete(task.id);
      for (const [id, content] of contents) {
        if (content === undefined || adding.has(id)) continue;
        adding.set(id, content);
        files.push({ objectId: id, data: content });
      }
      if (ids.length > 0) this.uses.set(task.id, ids);
      else this.uses.delete(task.id);
      tasks.push(task);
    }
    if (!set.full && tasks.length === 0 && set.removed.length === 0) return { messages: [], heldBack };
    for (const id of adding.keys()) this.held.add(id);
    this.prune();
    const chunks = chunk(files);
    const last = chunks.pop() ?? [];
    const messages: SessionResponse[] = chunks.map((c) => ({
      assignments: { full: false, tasks: [], removedTaskIds: [], files: c },
    }));
    messages.push({ assignments: { full: set.full, tasks, removedTaskIds: set.removed, files: last } });
    return { messages, heldBack };
  }

  /** Tasks held back for a version not known yet (their IDs). */
  heldBack(): string[] {
    return [...this.waiting];
  }

  /** The versions the agent holds now (tests). */
  holding(): string[] {
    return [...this.held].sort();
  }

  private prune(): void {
    if (this.held.size === 0) return;
    const used = new Set<string>();
    for (const ids of this.uses.values()) for (const id of ids) used.add(id);
    for (const id of this.held) if (!used.has(id)) this.held.delete(id);
  }
}

/** Whether the task's node must have its files before it acts on it: it is to run and has not started yet. */
function needsFiles(task: Task): boolean {
  if (taskFiles(task).length === 0) return false;
  const state = task.status?.state ?? TaskState.TASK_STATE_UNSPECIFIED;
  return task.desiredState < TaskState.TASK_STATE_SHUTDOWN && state < TaskState.TASK_STATE_RUNNING;
}

/** Contents in groups of at most MAX_FILE_BYTES_PER_MESSAGE (one content alone may fill a group). */
function chunk(files: FileContent[]): FileContent[][] {
  const groups: FileContent[][] = [];
  let current: FileContent[] = [];
  let bytes = 0;
  for (const f of files) {
    if (current.length > 0 && bytes + f.data.length > MAX_FILE_BYTES_PER_MESSAGE) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(f);
    bytes += f.data.length;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}
