import { describe, expect, it } from 'vitest';
import { ByteWindow } from './log-retention.js';
import { formatSyslog, syslogTag } from './syslog-format.js';

const at = new Date(Date.UTC(2026, 0, 5, 7, 8, 9, 123));
const line = { stream: 'stdout' as const, line: 'GET / 200', at, hostname: 'node-1', tag: 'web' };

describe('syslog messages', () => {
  it('RFC 5424: version 1, UTC timestamp, host, app-name, nil procid, msgid and structured data', () => {
    expect(formatSyslog({ facility: 1, format: 'rfc5424' }, line)).toBe(
      '<14>1 2026-01-05T07:08:09Z node-1 web - - - GET / 200',
    );
    expect(formatSyslog({ facility: 23, format: 'rfc5424micro' }, { ...line, stream: 'stderr' })).toBe(
      '<187>1 2026-01-05T07:08:09.123000Z node-1 web - - - GET / 200',
    );
  });

  it('RFC 3164: BSD timestamp with a space-padded day, then host and tag', () => {
    expect(formatSyslog({ facility: 3, format: 'rfc3164' }, line)).toBe('<30>Jan  5 07:08:09 node-1 web: GET / 200');
  });

  it('header fields hold printable ASCII without spaces, cut to their lengths; an empty one is the nil value', () => {
    const odd = formatSyslog(
      { facility: 1, format: 'rfc5424' },
      { ...line, tag: `my app\u00e9${'x'.repeat(60)}`, hostname: '' },
    );
    expect(odd).toBe(`<14>1 2026-01-05T07:08:09Z - my_app_${'x'.repeat(41)} - - - GET / 200`);
  });

  it("fills Docker's tag fields for a task and leaves other text as written", () => {
    const task = { id: 'abcdefghijklmnopqrstuvwxy', name: 'st_web.1.abcdefghijklmnopqrstuvwxy', image: 'nginx:1' };
    expect(syslogTag('{{.ID}}', task)).toBe('abcdefghijkl');
    expect(syslogTag('{{ .Name }}/{{.ImageName}}/{{.DaemonName}}/{{.Unknown}}', task)).toBe(
      'st_web.1.abcdefghijklmnopqrstuvwxy/nginx:1/flotilla/{{.Unknown}}',
    );
  });
});

describe('ByteWindow', () => {
  it('says nothing under the cap, then how many newest lines fit', () => {
    const w = new ByteWindow(10);
    expect(w.add(['abc'])).toBeUndefined(); // 4 bytes
    expect(w.add(['def'])).toBeUndefined(); // 8
    expect(w.add(['gh'])).toBe(2); // 11 > 10: the oldest goes, 7 bytes in 2 lines
    expect(w.bytes).toBe(7);
    expect(w.add(['é'])).toBe(3); // 3 bytes (2 for é and a newline): 10
  });

  it('keeps the newest line even when it alone is over the cap', () => {
    const w = new ByteWindow(4);
    expect(w.add(['a', 'longer than four'])).toBe(1);
  });
});
