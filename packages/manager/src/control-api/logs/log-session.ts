import { setTimeout as sleep } from 'node:timers/promises';
import {
  Code,
  FlotillaError,
  type LogEntry,
  LogEntry_Stream,
  MAX_LOG_TAIL,
  type ServiceLogsRequest,
  type ServiceLogsResponse,
  type Task,
  taskEnded,
} from '@flotilla/api';
import type { LogLine, LogReader, LogTailOptions } from '@flotilla/events';
import type { Store } from '@flotilla/store';
import type { ServerWritableStream } from '@grpc/grpc-js';
import { byExactId } from '../lookup.js';
import { resolveService } from '../services.js';
import { EntryWriter } from './entry-writer.js';
import { mergeByTime } from './log-merge.js';

export interface LogSessionOptions {
  /** How often a follow looks for new tasks of the service (default 1 s). */
  pollMs?: number;
  /** How long a task that ended is still followed, for lines still on their way from its node (default 30 s). */
  endedGraceMs?: number;
}

type Target = { serviceId: string } | { taskId: string };

interface Followed {
  abort: AbortController;
  /** When the task was first seen ended (its own status time if it had ended before the follow began). */
  endedAt?: number;
}

/** One call: the target's tasks, their stored lines, then (with follow) their new lines and new tasks. */
export class LogSession {
  private readonly request: ServiceLogsRequest;
  /** Every task of the target seen so far, by ID: what labels its lines. */
  private readonly tasks = new Map<string, Task>();
  private nodeNames = new Map<string, string>();
  private readonly writer: EntryWriter;
  private readonly tail: number | undefined;
  private readonly since: number | undefined;
  private readonly pollMs: number;
  private readonly graceMs: number;
  private readonly followed = new Map<string, Followed>();
  /** Tasks followed now or before: one let go after it ended is not taken up again. */
  private readonly seen = new Set<string>();
  /** The first error of a follow: it ends the call. */
  private failure: { err: unknown } | undefined;
  private readonly failed = new AbortController();

  constructor(
    private readonly store: Store,
    private readonly reader: LogReader,
    call: ServerWritableStream<ServiceLogsRequest, ServiceLogsResponse>,
    private readonly signal: AbortSignal,
    options: LogSessionOptions,
  ) {
    const { tail, sinceMs } = call.request;
    if (tail !== undefined && (tail > MAX_LOG_TAIL || tail < 0)) {
      throw new FlotillaError(Code.InvalidArgument, `tail is at most ${MAX_LOG_TAIL} lines per task, got ${tail}`);
    }
    if (sinceMs < 0n) throw new FlotillaError(Code.InvalidArgument, 'since must be a time after 1970');
    this.tail = tail;
    this.since = sinceMs > 0n ? Number(sinceMs) : undefined;
    this.pollMs = options.pollMs ?? 1_000;
    this.graceMs = options.endedGraceMs ?? 30_000;
    this.writer = new EntryWriter(call, signal);
    this.request = call.request;
  }

  async run(): Promise<void> {
    const target = await resolveTarget(this.store, this.request.target);
    const initial = await this.refresh(target);
    refuseWhenNotKept(this.request.target, initial);
    const last = new Map<string, string>();
    if (!(this.request.follow && this.tail === 0)) {
      const sources = initial.map((t) =>
        this.reader.tail(t.id, { ...this.window({ lines: this.tail }), ...onNode(t) }),
      );
      for await (const line of mergeByTime(sources, (l) => l.at)) {
        last.set(line.taskId, line.id);
        await this.writer.add(this.entry(line));
        if (this.signal.aborted) return;
      }
      await this.writer.flush();
    }
    if (!this.request.follow) return;
    const now = Date.now();
    for (const task of initial) {
      const endedAt = taskEnded(task) ? Number(task.status?.timestampMs ?? 0n) : undefined;
      if (endedAt !== undefined && now - endedAt > this.graceMs) continue;
      const after = last.get(task.id);
      // After the last line sent; a task that sent none had none to send (or none wanted, with tail 0).
      const from: LogTailOptions =
        after !== undefined ? { since: after } : this.tail === 0 ? this.window({ lines: 0 }) : this.window({});
      this.follow(task.id, { ...from, ...onNode(task) }, endedAt);
    }
    await this.watch(target);
  }

  /** Every poll: new tasks are followed from their first line; tasks that ended are let go after the grace. */
  private async watch(target: Target): Promise<void> {
    const signal = AbortSignal.any([this.signal, this.failed.signal]);
    for (;;) {
      if ('taskId' in target && this.followed.size === 0) return;
      try {
        await sleep(this.pollMs, undefined, { signal });
      } catch {
        break; // Aborted: the call ended, or a follow failed (thrown below).
      }
      let current: Task[];
      try {
        current = await this.refresh(target);
      } catch (err) {
        if (err instanceof FlotillaError && err.code === Code.NotFound) return;
        // etcd away for a moment: the follows go on, the task list is looked at again next time.
        continue;
      }
      const now = Date.now();
      const present = new Set(current.map((t) => t.id));
      for (const task of current) {
        if (!this.followed.has(task.id) && !this.seen.has(task.id))
          this.follow(task.id, { ...this.window({}), ...onNode(task) }, undefined);
        const f = this.followed.get(task.id);
        if (f && f.endedAt === undefined && taskEnded(task)) f.endedAt = now;
      }
      for (const [id, f] of this.followed) {
        if (!present.has(id)) f.endedAt ??= now;
        if (f.endedAt !== undefined && now - f.endedAt > this.graceMs) {
          f.abort.abort();
          this.followed.delete(id);
        }
      }
    }
    if (this.failure) throw this.failure.err;
  }

  private follow(taskId: string, from: LogTailOptions, endedAt: number | undefined): void {
    this.seen.add(taskId);
    const abort = new AbortController();
    this.followed.set(taskId, { abort, ...(endedAt === undefined ? {} : { endedAt }) });
    const signal = AbortSignal.any([this.signal, abort.signal, this.failed.signal]);
    void (async () => {
      try {
        for await (const line of this.reader.tail(taskId, { ...from, follow: true, signal })) {
          await this.writer.add(this.entry(line));
          this.writer.soon();
        }
      } catch (err) {
        // Let go of (the task ended, or the call did): what the reading says then is no failure.
        if (signal.aborted) return;
        this.failure ??= { err };
        this.failed.abort();
      }
    })();
  }

  /** The caller's `since` on top of the given options. */
  private window(options: LogTailOptions): LogTailOptions {
    const out: LogTailOptions = {};
    if (options.lines !== undefined) out.lines = options.lines;
    if (this.since !== undefined) out.since = this.since;
    return out;
  }

  /** The target's tasks now (and the node names), remembered for the entries' labels. */
  private async refresh(target: Target): Promise<Task[]> {
    let tasks: Task[];
    if ('taskId' in target) {
      const task = await this.store.get('tasks', target.taskId);
      tasks = task ? [task.value] : [];
    } else {
      const [service, all] = await Promise.all([
        this.store.get('services', target.serviceId),
        this.store.list('tasks'),
      ]);
      if (!service) throw new FlotillaError(Code.NotFound, 'the service was removed');
      tasks = all.items.map((t) => t.value).filter((t) => t.serviceId === target.serviceId);
    }
    for (const t of tasks) this.tasks.set(t.id, t);
    if (tasks.some((t) => t.nodeId && !this.nodeNames.has(t.nodeId))) {
      const nodes = await this.store.list('nodes');
      this.nodeNames = new Map(nodes.items.map((n) => [n.id, n.value.description?.hostname ?? '']));
    }
    return tasks;
  }

  private entry(line: LogLine): LogEntry {
    const task = this.tasks.get(line.taskId);
    const nodeId = task?.nodeId ?? '';
    return {
      taskId: line.taskId,
      slot: task?.slot ?? 0n,
      nodeId,
      stream: line.stream === 'stderr' ? LogEntry_Stream.STREAM_STDERR : LogEntry_Stream.STREAM_STDOUT,
      line: line.line,
      atMs: BigInt(line.at),
      serviceName: task?.serviceName ?? '',
      nodeName: this.nodeNames.get(nodeId) ?? '',
    };
  }
}

/** A service (name, ID, ID prefix), else a task (ID, ID prefix): what `docker service logs` accepts. */
async function resolveTarget(store: Store, ref: string): Promise<Target> {
  if (!ref) throw new FlotillaError(Code.InvalidArgument, 'name a service or a task');
  try {
    return { serviceId: (await resolveService(store, ref)).id };
  } catch (err) {
    // No such service: the ref may name a task.
    if (!(err instanceof FlotillaError) || err.code !== Code.NotFound) throw err;
  }
  const exact = await byExactId(store, 'tasks', ref);
  if (exact) return { taskId: exact.id };
  const matches = (await store.list('tasks')).items.filter((t) => t.id.startsWith(ref));
  if (matches.length === 1) return { taskId: (matches[0] as { id: string }).id };
  if (matches.length === 0) {
    throw new FlotillaError(Code.NotFound, `no service or task ${JSON.stringify(ref)}: see flotilla service ls`);
  }
  throw new FlotillaError(
    Code.FailedPrecondition,
    `${JSON.stringify(ref)} matches ${matches.length} tasks: give more of the ID`,
  );
}

/**
 * Tasks whose service logs with driver none have no stored output: say so, as `docker service logs` does, rather
 * than print nothing. Tasks of an earlier spec that kept theirs are still read.
 */
function refuseWhenNotKept(ref: string, tasks: readonly Task[]): void {
  if (tasks.length === 0 || !tasks.every((t) => t.logDriver?.name === 'none')) return;
  throw new FlotillaError(
    Code.FailedPrecondition,
    `${JSON.stringify(ref)} logs with driver none: its tasks' output is not kept. Set logging.driver to json-file ` +
      '(or remove logging:) and redeploy to read it here',
  );
}

/** Where a task's stream is: under the node it was assigned to (none yet: nothing was written). */
function onNode(task: Task): LogTailOptions {
  return task.nodeId ? { nodeId: task.nodeId } : {};
}
