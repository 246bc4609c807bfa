import { setTimeout as sleep } from 'node:timers/promises';
import {
  Code,
  type ControlServiceServer,
  FlotillaError,
  type GrpcStatus,
  type LogEntry,
  LogEntry_Stream,
  MAX_LOG_TAIL,
  type ServiceLogsRequest,
  type ServiceLogsResponse,
  type Task,
  TaskState,
  toGrpcStatus,
} from '@flotilla/api';
import { isEventsReason, type LogLine, type LogReader, type LogTailOptions } from '@flotilla/events';
import type { Logger } from '@flotilla/observability';
import type { CertificateAuthority } from '@flotilla/pki';
import type { Store } from '@flotilla/store';
import { type ServerWritableStream, status } from '@grpc/grpc-js';
import { mergeByTime } from './log-merge.js';
import { peerIdentity } from './peer-identity.js';
import { resolveService } from './service-control.js';

/** The most lines per task a caller may ask for with `tail`. */

export interface ServiceLogsOptions {
  /** How often a follow looks for new tasks of the service (default 1 s). */
  pollMs?: number;
  /** How long a task that ended is still followed, for lines still on their way from its node (default 30 s). */
  endedGraceMs?: number;
  /** Aborted when the manager stops: open calls end (a follow would otherwise keep the server from shutting down). */
  stopping?: AbortSignal;
  logger?: Logger;
}

type Call = ServerWritableStream<ServiceLogsRequest, ServiceLogsResponse>;
type Target = { serviceId: string } | { taskId: string };

// One message holds up to this many lines or bytes: lines are at most 16 KiB, so a message stays far below the
// 4 MiB clients accept by default.
const BATCH_LINES = 500;
const BATCH_BYTES = 256 * 1024;
// Followed lines wait this long for company before they are sent: one message per burst, not one per line.
const FOLLOW_FLUSH_MS = 20;

/**
 * `ServiceLogs`: what a service's tasks (or one task) printed, read from the per-task Redis streams the agents
 * write. Any manager serves it (it only reads etcd and Redis). Stored lines come first, merged across tasks by
 * time; with `follow`, new lines of every task then come as they arrive, tasks started meanwhile included, until
 * the caller goes away.
 */
export function serviceLogs(
  store: Store,
  ca: CertificateAuthority,
  reader: LogReader | undefined,
  options: ServiceLogsOptions = {},
): ControlServiceServer['serviceLogs'] {
  return (call) => {
    const cancelled = new AbortController();
    const stop = () => cancelled.abort();
    call.on('cancelled', stop);
    const abort = new AbortController();
    const end = () => abort.abort();
    cancelled.signal.addEventListener('abort', end, { once: true });
    options.stopping?.addEventListener('abort', end, { once: true });
    if (options.stopping?.aborted) end();
    Promise.resolve()
      .then(() => {
        if (peerIdentity(call, ca).role === 'worker') {
          throw new FlotillaError(Code.PermissionDenied, 'workers cannot use the control API');
        }
        if (!reader) {
          throw new FlotillaError(
            Code.FailedPrecondition,
            'container logs are off: start the managers with --redis HOST:PORT (the agents ship logs there)',
          );
        }
        return new LogSession(store, reader, call, abort.signal, options).run();
      })
      .then(
        () => {
          if (cancelled.signal.aborted) return;
          if (options.stopping?.aborted) throw stoppingError();
          call.end();
        },
        (err: unknown) => {
          if (cancelled.signal.aborted) return;
          const failure = logStatus(options.stopping?.aborted ? stoppingError() : err);
          if (failure.code === status.INTERNAL) options.logger?.error({ err }, 'service logs failed');
          call.emit('error', failure);
        },
      )
      .catch((err: unknown) => {
        if (!cancelled.signal.aborted) call.emit('error', logStatus(err));
      })
      .finally(() => {
        end();
        call.off('cancelled', stop);
        options.stopping?.removeEventListener('abort', end);
      });
  };
}

function stoppingError(): FlotillaError {
  return new FlotillaError(Code.Unavailable, 'the manager is stopping: run the command again to reach another one');
}

function logStatus(err: unknown): GrpcStatus {
  if (err instanceof FlotillaError && isEventsReason(err.reason)) {
    if (err.reason === 'invalid-argument') return toGrpcStatus(err);
    if (err.reason === 'auth' || err.reason === 'tls') {
      return toGrpcStatus(
        new FlotillaError(
          Code.FailedPrecondition,
          `the manager cannot read logs from Redis: ${err.message} (see the managers' --redis options)`,
        ),
      );
    }
    return toGrpcStatus(new FlotillaError(Code.Unavailable, `cannot read logs: ${err.message}`));
  }
  return toGrpcStatus(err);
}

interface Followed {
  abort: AbortController;
  /** When the task was first seen ended (its own status time if it had ended before the follow began). */
  endedAt?: number;
}

/** One call: the target's tasks, their stored lines, then (with follow) their new lines and new tasks. */
class LogSession {
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
    call: Call,
    private readonly signal: AbortSignal,
    options: ServiceLogsOptions,
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
    const last = new Map<string, string>();
    if (!(this.request.follow && this.tail === 0)) {
      const sources = initial.map((t) => this.reader.tail(t.id, this.window({ lines: this.tail })));
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
      const endedAt = ended(task) ? Number(task.status?.timestampMs ?? 0n) : undefined;
      if (endedAt !== undefined && now - endedAt > this.graceMs) continue;
      const after = last.get(task.id);
      // After the last line sent; a task that sent none had none to send (or none wanted, with tail 0).
      const from: LogTailOptions =
        after !== undefined ? { since: after } : this.tail === 0 ? this.window({ lines: 0 }) : this.window({});
      this.follow(task.id, from, endedAt);
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
        break;
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
        if (!this.followed.has(task.id) && !this.seen.has(task.id)) this.follow(task.id, this.window({}), undefined);
        const f = this.followed.get(task.id);
        if (f && f.endedAt === undefined && ended(task)) f.endedAt = now;
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

function ended(task: Task): boolean {
  return (task.status?.state ?? TaskState.TASK_STATE_UNSPECIFIED) > TaskState.TASK_STATE_RUNNING;
}

/** A service (name, ID, ID prefix), else a task (ID, ID prefix): what `docker service logs` accepts. */
async function resolveTarget(store: Store, ref: string): Promise<Target> {
  if (!ref) throw new FlotillaError(Code.InvalidArgument, 'name a service or a task');
  try {
    return { serviceId: (await resolveService(store, ref)).id };
  } catch (err) {
    if (!(err instanceof FlotillaError) || err.code !== Code.NotFound) throw err;
  }
  const exact = await store.get('tasks', ref).catch(() => undefined);
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

/** Sends entries in batches, waiting while the caller reads slower than the logs come (gRPC flow control). */
class EntryWriter {
  private batch: LogEntry[] = [];
  private bytes = 0;
  private sending: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly call: Call,
    private readonly signal: AbortSignal,
  ) {
    signal.addEventListener('abort', () => clearTimeout(this.timer), { once: true });
  }

  async add(entry: LogEntry): Promise<void> {
    this.batch.push(entry);
    this.bytes += entry.line.length + 64;
    if (this.batch.length >= BATCH_LINES || this.bytes >= BATCH_BYTES) await this.flush();
  }

  /** Sends what is waiting soon, with whatever else arrives meanwhile. */
  soon(): void {
    if (this.timer || this.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush().catch(() => undefined);
    }, FOLLOW_FLUSH_MS);
  }

  async flush(): Promise<void> {
    while (this.sending) await this.sending;
    if (this.batch.length === 0 || this.signal.aborted) return;
    const entries = this.batch;
    this.batch = [];
    this.bytes = 0;
    this.sending = this.send(entries).finally(() => {
      this.sending = undefined;
    });
    await this.sending;
  }

  private send(entries: LogEntry[]): Promise<void> {
    if (this.call.write({ entries })) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.call.off('drain', done);
        this.signal.removeEventListener('abort', done);
        resolve();
      };
      this.call.once('drain', done);
      this.signal.addEventListener('abort', done, { once: true });
    });
  }
}
