import { Command, Option } from '@commander-js/extra-typings';
import {
  type ControlServiceClient,
  type LogEntry,
  LogEntry_Stream,
  MAX_LOG_TAIL,
  type ServiceLogsRequest,
} from '@flotilla/api';
import { Metadata } from '@grpc/grpc-js';
import { usageError } from '../exit-codes.js';
import { followStream } from '../follow-stream.js';
import type { Io } from '../io.js';

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `--since` (and `events --until`): an RFC 3339 time (2024-05-01T10:00:00Z, or a date), Unix seconds, or a duration
 * before now (10m, 1h30m, 2d). Returns Unix ms.
 */
export function parseSince(text: string, now = Date.now(), flag = '--since'): number {
  const value = text.trim();
  if (/^\d+(\.\d+)?$/.test(value)) return Math.floor(Number(value) * 1000);
  if (/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(value)) {
    let ms = 0;
    for (const [, n, unit] of value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) {
      ms += Number(n) * (UNITS[unit as string] as number);
    }
    return Math.floor(now - ms);
  }
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i.test(value)) {
    const at = Date.parse(value.replace(' ', 'T'));
    if (Number.isFinite(at)) return at;
  }
  throw usageError(
    `${flag} takes a time (2024-05-01T10:00:00Z), Unix seconds, or a duration before now (10m, 1h), got "${text}"`,
  );
}

function parseTail(text: string): number | undefined {
  if (text === 'all') return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > MAX_LOG_TAIL) {
    throw usageError(`--tail takes 0 to ${MAX_LOG_TAIL} lines (per task), or all; got "${text}"`);
  }
  return n;
}

export interface LogFormat {
  timestamps: boolean;
  taskIds: boolean;
}

/** Where a line comes from, as docker prints it: `service.slot.task@node` (global services: the node ID for slot). */
export function logContext(entry: LogEntry, format: Pick<LogFormat, 'taskIds'>): string {
  const slot = entry.slot === 0n ? entry.nodeId : String(entry.slot);
  const task = format.taskIds ? `.${entry.taskId.slice(0, 12)}` : '';
  return `${entry.serviceName}.${slot}${task}@${entry.nodeName || entry.nodeId}`;
}

/** Prints entries with their context in a column that widens as longer ones come (so output stays aligned). */
export class LogPrinter {
  private width = 0;

  constructor(
    private readonly io: Io,
    private readonly format: LogFormat,
  ) {}

  print(entry: LogEntry): void {
    const context = logContext(entry, this.format);
    this.width = Math.max(this.width, context.length);
    const time = this.format.timestamps ? `${new Date(Number(entry.atMs)).toISOString()} ` : '';
    const text = `${context.padEnd(this.width)} | ${time}${entry.line}\n`;
    if (entry.stream === LogEntry_Stream.STREAM_STDERR) this.io.err(text);
    else this.io.out(text);
  }
}

/** `service logs`: what a service's tasks printed, as `docker service logs` shows it. */
export function serviceLogsCommand(io: Io, client: () => ControlServiceClient) {
  return new Command('logs')
    .description("print a service's or a task's logs (stderr lines go to stderr)")
    .argument('<SERVICE|TASK>', 'a service name, ID or ID prefix, or a task ID or ID prefix')
    .option('-f, --follow', 'keep printing new lines, of new tasks too, until Ctrl-C')
    .addOption(new Option('--tail <N>', 'only the last N lines of each task, or all').default('all'))
    .option('--since <TIME>', 'only lines since a time (2024-05-01T10:00:00Z) or a duration ago (10m, 1h)')
    .option('-t, --timestamps', 'show when each line was written')
    .option('--no-task-ids', 'leave task IDs out of the line prefixes')
    .action(async (target, opts) => {
      const tail = parseTail(opts.tail);
      const request: ServiceLogsRequest = {
        target,
        follow: opts.follow ?? false,
        ...(tail === undefined ? {} : { tail }),
        sinceMs: opts.since ? BigInt(Math.max(0, parseSince(opts.since))) : 0n,
      };
      const printer = new LogPrinter(io, { timestamps: opts.timestamps ?? false, taskIds: opts.taskIds });
      const c = client();
      try {
        await streamLogs(c, request, printer);
      } finally {
        c.close();
      }
    });
}

/** Prints the stream until it ends (or Ctrl-C). */
function streamLogs(c: ControlServiceClient, request: ServiceLogsRequest, printer: LogPrinter): Promise<void> {
  return followStream(c.serviceLogs(request, new Metadata()), (response: { entries: LogEntry[] }) => {
    for (const entry of response.entries) printer.print(entry);
  });
}
