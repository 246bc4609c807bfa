import { type ClusterEvent, type ControlServiceClient, type LogEntry, LogEntry_Stream, type Task } from '@flotilla/api';
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import type { LogLine, TaskDetail } from '../model.js';
import { taskStateWord, uiTask } from './convert.js';

/** Lines of a task's log the panel starts with. */
export const LOG_TAIL = 100;

/**
 * A task's detail: the states it went through, from the event log (task events of its service since it was made),
 * or only the current one when there is no event log.
 */
export async function taskDetail(client: ControlServiceClient, task: Task, events: boolean): Promise<TaskDetail> {
  const current = {
    state: taskStateWord(task.status?.state),
    at: Number(task.status?.timestampMs ?? 0n),
    message: task.status?.message ?? '',
  };
  let history = events ? await taskHistory(client, task).catch(() => undefined) : undefined;
  if (!history?.length) history = [current];
  return { task: uiTask(task), history, healthOutput: task.status?.healthOutput ?? '' };
}

async function taskHistory(client: ControlServiceClient, task: Task): Promise<TaskDetail['history']> {
  const call = client.events(
    {
      sinceMs: task.createdAtMs,
      untilMs: BigInt(Date.now()),
      types: ['task'],
      services: [task.serviceId],
      nodes: [],
    },
    new Metadata(),
    { deadline: Date.now() + 10_000 },
  );
  const history: TaskDetail['history'] = [];
  await new Promise<void>((resolve, reject) => {
    call.on('data', (response: { events: ClusterEvent[] }) => {
      for (const e of response.events) {
        if (e.actorId !== task.id) continue;
        history.push({
          state: e.action,
          at: Number(e.atMs),
          message: e.attributes.message ?? e.attributes.error ?? '',
        });
      }
    });
    call.on('end', resolve);
    call.on('error', (err: ServiceError) => reject(err));
  });
  return history;
}

export function logLine(entry: LogEntry): LogLine {
  return {
    at: Number(entry.atMs),
    stream: entry.stream === LogEntry_Stream.STREAM_STDERR ? 'stderr' : 'stdout',
    text: entry.line,
  };
}

/** Follows one task's log: the last LOG_TAIL lines, then new ones; returns the function that stops it. */
export function followTaskLogs(
  client: ControlServiceClient,
  taskId: string,
  onLine: (line: LogLine) => void,
  onEnd: (err?: ServiceError) => void,
): () => void {
  const call = client.serviceLogs({ target: taskId, follow: true, tail: LOG_TAIL, sinceMs: 0n }, new Metadata());
  call.on('data', (response: { entries: LogEntry[] }) => {
    for (const entry of response.entries) if (entry.taskId === taskId) onLine(logLine(entry));
  });
  call.on('error', (err: ServiceError) => onEnd(err));
  call.on('end', () => onEnd());
  return () => {
    call.removeAllListeners();
    // A cancelled call still reports its end: ignored, the caller stopped it.
    call.on('error', () => undefined);
    call.cancel();
  };
}
