import type { SyslogTarget } from '@flotilla/api';

/** What one syslog message says, besides the line: who sent it and from which stream. */
export interface SyslogLine {
  stream: 'stdout' | 'stderr';
  line: string;
  at: Date;
  hostname: string;
  tag: string;
}

// Severities (RFC 5424 §6.2.1): stdout is informational, stderr an error, as Docker's syslog driver sends them.
const SEVERITY = { stdout: 6, stderr: 3 } as const;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * One line as a syslog message, without framing: RFC 5424 (`<PRI>1 TIMESTAMP HOST APP-NAME - - - MSG`, seconds
 * or, for rfc5424micro, microseconds) or RFC 3164 (`<PRI>Mmm dd hh:mm:ss HOST TAG: MSG`). Header fields are
 * printable ASCII without spaces, cut to the RFC's lengths; the message is the line as the task wrote it.
 */
export function formatSyslog(target: Pick<SyslogTarget, 'facility' | 'format'>, l: SyslogLine): string {
  const pri = target.facility * 8 + SEVERITY[l.stream];
  if (target.format === 'rfc3164') {
    return `<${pri}>${stamp3164(l.at)} ${header(l.hostname, 255)} ${header(l.tag, 32)}: ${l.line}`;
  }
  const time = target.format === 'rfc5424micro' ? micro(l.at) : `${l.at.toISOString().slice(0, 19)}Z`;
  return `<${pri}>1 ${time} ${header(l.hostname, 255)} ${header(l.tag, 48)} - - - ${l.line}`;
}

/** Docker's {{.Name}}-style fields of a `tag`, filled for one task; other text is kept as written. */
export function syslogTag(template: string, task: { id: string; name: string; image: string }): string {
  const fields: Record<string, string> = {
    ID: task.id.slice(0, 12),
    FullID: task.id,
    Name: task.name,
    ImageName: task.image,
    DaemonName: 'flotilla',
  };
  return template.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (whole, field: string) => fields[field] ?? whole);
}

/** A header field: printable US-ASCII only (RFC 5424 §6), no spaces, NILVALUE when empty. */
function header(value: string, max: number): string {
  const clean = value.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return clean === '' ? '-' : clean;
}

function micro(at: Date): string {
  return `${at.toISOString().slice(0, 23)}000Z`;
}

function stamp3164(at: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const day = String(at.getUTCDate()).padStart(2, ' ');
  return `${MONTHS[at.getUTCMonth()]} ${day} ${two(at.getUTCHours())}:${two(at.getUTCMinutes())}:${two(at.getUTCSeconds())}`;
}
