import { LogEntry, LogEntry_Stream } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import type { Io } from '../io.js';
import { LogPrinter, logContext, parseSince } from './service-logs.js';

const entry = (overrides: Partial<LogEntry>) =>
  LogEntry.fromPartial({
    taskId: 'abcdefghijklmnopqrstuvwxy',
    slot: 2n,
    nodeId: 'node0123456789',
    serviceName: 'web_app',
    nodeName: 'dev-node-1',
    stream: LogEntry_Stream.STREAM_STDOUT,
    line: 'hello',
    atMs: BigInt(Date.UTC(2024, 4, 1, 10, 0, 0)),
    ...overrides,
  });

describe('service logs output', () => {
  it('prefixes lines as docker does, stderr to stderr, in a column that widens', () => {
    let out = '';
    let err = '';
    const io: Io = { out: (t) => (out += t), err: (t) => (err += t), env: {} };
    const printer = new LogPrinter(io, { timestamps: false, taskIds: true });
    printer.print(entry({}));
    printer.print(entry({ stream: LogEntry_Stream.STREAM_STDERR, line: 'oops', slot: 10n }));
    printer.print(entry({ nodeName: '', line: 'no name' }));
    expect(out).toBe(
      'web_app.2.abcdefghijkl@dev-node-1 | hello\n' + 'web_app.2.abcdefghijkl@node0123456789 | no name\n',
    );
    expect(err).toBe('web_app.10.abcdefghijkl@dev-node-1 | oops\n');
  });

  it('leaves task IDs out on request, shows times, and names global tasks by node', () => {
    expect(logContext(entry({ slot: 0n }), { taskIds: false })).toBe('web_app.node0123456789@dev-node-1');
    let out = '';
    const printer = new LogPrinter(
      { out: (t) => (out += t), err: () => undefined, env: {} },
      {
        timestamps: true,
        taskIds: false,
      },
    );
    printer.print(entry({}));
    expect(out).toBe('web_app.2@dev-node-1 | 2024-05-01T10:00:00.000Z hello\n');
  });
});

describe('--since', () => {
  const now = Date.UTC(2024, 4, 1, 12, 0, 0);
  it('takes RFC 3339 times, dates, Unix seconds and durations before now', () => {
    expect(parseSince('2024-05-01T10:00:00Z', now)).toBe(Date.UTC(2024, 4, 1, 10));
    expect(parseSince('2024-05-01T12:00:00+02:00', now)).toBe(Date.UTC(2024, 4, 1, 10));
    expect(parseSince('2024-05-01', now)).toBe(Date.UTC(2024, 4, 1));
    expect(parseSince('1714557600', now)).toBe(Date.UTC(2024, 4, 1, 10));
    expect(parseSince('10m', now)).toBe(now - 600_000);
    expect(parseSince('1h30m', now)).toBe(now - 5_400_000);
    expect(parseSince('2d', now)).toBe(now - 2 * 86_400_000);
  });

  it('refuses anything else as bad usage, with examples', () => {
    for (const bad of ['yesterday', '10 minutes', '2024-13-45T99:00:00Z', '']) {
      expect(() => parseSince(bad, now)).toThrow(/--since takes a time .* or a duration before now \(10m, 1h\)/);
    }
  });
});
