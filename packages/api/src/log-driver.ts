import type { LogDriver } from './gen/flotilla/v1/service.js';

/** Where a task's output lines are shipped besides the node's own keeping: a syslog server. */
export interface SyslogTarget {
  /** udp and tcp reach host:port; unix is a stream socket on the node (`unix:///path`). */
  protocol: 'udp' | 'tcp' | 'unix';
  host: string;
  port: number;
  path: string;
  /** The facility's number (RFC 5424 §6.2.1): user (1) unless syslog-facility names another. */
  facility: number;
  format: 'rfc5424' | 'rfc5424micro' | 'rfc3164';
  /** The TAG / APP-NAME: the `tag` option, its {{.Name}}-style fields filled per task by the agent. */
  tag: string;
}

/**
 * What the node does with a task's output, as its service's `logging:` asks. Every driver keeps the lines in the
 * node's log streams (`flotilla service logs`), except `none`; json-file and local cap what is kept by their
 * max-size × max-file; syslog also ships each line to its server.
 */
export interface LogPolicy {
  keep: boolean;
  /** The most bytes of the task's lines kept (undefined: the node's own line cap only). */
  maxBytes?: number;
  syslog?: SyslogTarget;
}

export interface LogDriverProblem {
  /** The option at fault (`logging.options.<option>`), or undefined for the driver itself. */
  option?: string;
  severity: 'error' | 'warning';
  message: string;
}

/** Drivers whose options are honoured; any other keeps the output on the node only. */
export const HONOURED_LOG_DRIVERS = ['json-file', 'local', 'none', 'syslog'] as const;

const FACILITIES = [
  'kern',
  'user',
  'mail',
  'daemon',
  'auth',
  'syslog',
  'lpr',
  'news',
  'uucp',
  'cron',
  'authpriv',
  'ftp',
] as const;
const LOCAL_FACILITIES = ['local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'];
const FORMATS = ['rfc5424', 'rfc5424micro', 'rfc3164'] as const;

// Docker's json-file and local drivers read sizes with go-units' RAMInBytes: binary k, m, g.
const SIZE = /^(\d+)(?:\.(\d+))?\s*([kmg]?)(?:i?b)?$/i;
const UNIT: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** The most bytes a task's kept output may be capped to: far above what the node's line cap keeps anyway. */
const MAX_KEPT_BYTES = 2 ** 40;
/** The most an option value may be (the options travel in every task of the service). */
export const MAX_LOG_OPTION_LENGTH = 1024;
export const MAX_LOG_OPTIONS = 32;

/**
 * Reads a service's `logging:` into what the node does, and the problems of what it says (for the stack file's
 * diagnostics). A spec with problems still gets a policy: what could not be read falls back to keeping the lines.
 */
export function logPolicy(driver: LogDriver | undefined): { policy: LogPolicy; problems: LogDriverProblem[] } {
  const problems: LogDriverProblem[] = [];
  const name = driver?.name ?? '';
  const options = driver?.options ?? {};
  const problem = (severity: LogDriverProblem['severity'], message: string, option?: string) =>
    problems.push({ severity, message, ...(option !== undefined ? { option } : {}) });
  if (Object.keys(options).length > MAX_LOG_OPTIONS) {
    problem('error', `at most ${MAX_LOG_OPTIONS} logging options: remove some`);
  }
  for (const [key, value] of Object.entries(options)) {
    if (value.length > MAX_LOG_OPTION_LENGTH || key.length > MAX_LOG_OPTION_LENGTH) {
      problem('error', `longer than ${MAX_LOG_OPTION_LENGTH} characters: shorten it`, key);
    }
  }
  const ignored = (keys: readonly string[], why: string) => {
    for (const key of Object.keys(options)) if (!keys.includes(key)) problem('warning', `ignored: ${why}`, key);
  };
  if (name === '' || name === 'json-file' || name === 'local') {
    const policy: LogPolicy = { keep: true };
    const maxBytes = keptBytes(name === 'local', options, problem);
    if (maxBytes !== undefined) policy.maxBytes = maxBytes;
    if (options.compress !== undefined && options.compress !== 'false') {
      problem('warning', 'accepted, no effect: the node keeps the lines uncompressed in its log streams', 'compress');
    }
    ignored(['max-size', 'max-file', 'compress'], 'only max-size, max-file and compress apply on a cluster');
    return { policy, problems };
  }
  if (name === 'none') {
    ignored([], 'the driver none keeps nothing');
    return { policy: { keep: false }, problems };
  }
  if (name === 'syslog') {
    const syslog = syslogTarget(options, problem);
    ignored(
      ['syslog-address', 'syslog-facility', 'syslog-format', 'tag'],
      'only syslog-address, syslog-facility, syslog-format and tag apply on a cluster',
    );
    return { policy: { keep: true, ...(syslog ? { syslog } : {}) }, problems };
  }
  problem(
    'warning',
    `the ${name} logging driver is not available on a cluster: the task's output is kept by its node instead ` +
      '(read it with flotilla service logs); use json-file, local, none or syslog',
  );
  return { policy: { keep: true }, problems };
}

type Report = (severity: LogDriverProblem['severity'], message: string, option?: string) => void;

/** max-size × max-file, as the json-file and local drivers keep at most (local: 20m × 5 unless told). */
function keptBytes(local: boolean, options: Record<string, string>, problem: Report): number | undefined {
  let size = local ? 20 * 1024 ** 2 : undefined;
  let files = local ? 5 : 1;
  const maxSize = options['max-size'];
  if (maxSize !== undefined && maxSize !== '-1') {
    const m = SIZE.exec(maxSize.trim());
    const bytes = m ? Math.floor(Number(`${m[1]}.${m[2] ?? '0'}`) * (UNIT[(m[3] ?? '').toLowerCase()] ?? 1)) : NaN;
    if (!Number.isFinite(bytes) || bytes < 1) {
      problem('error', `invalid max-size "${maxSize}": use a size such as 10m, 512k or 1g`, 'max-size');
    } else size = bytes;
  }
  const maxFile = options['max-file'];
  if (maxFile !== undefined) {
    if (!/^\d+$/.test(maxFile) || Number(maxFile) < 1) {
      problem('error', `invalid max-file "${maxFile}": use a whole number of at least 1`, 'max-file');
    } else if (maxSize === undefined && !local) {
      problem('warning', 'no effect without max-size: nothing rotates', 'max-file');
    } else files = Number(maxFile);
  }
  return size === undefined ? undefined : Math.min(size * files, MAX_KEPT_BYTES);
}

function syslogTarget(options: Record<string, string>, problem: Report): SyslogTarget | undefined {
  const facilityName = options['syslog-facility'] ?? 'user';
  let facility = FACILITIES.indexOf(facilityName as (typeof FACILITIES)[number]);
  if (facility < 0 && LOCAL_FACILITIES.includes(facilityName)) facility = 16 + LOCAL_FACILITIES.indexOf(facilityName);
  if (facility < 0) {
    const names = [...FACILITIES, ...LOCAL_FACILITIES].join(', ');
    problem('error', `unknown syslog-facility "${facilityName}": use one of ${names}`, 'syslog-facility');
    facility = 1;
  }
  const format = (options['syslog-format'] ?? 'rfc5424') as SyslogTarget['format'];
  if (!FORMATS.includes(format)) {
    problem('error', `unknown syslog-format "${format}": use rfc5424, rfc5424micro or rfc3164`, 'syslog-format');
  }
  const address = options['syslog-address'];
  if (address === undefined) {
    problem(
      'warning',
      'no syslog-address: the lines are kept by the node only (flotilla service logs); set syslog-address: ' +
        'udp://HOST:PORT, tcp://HOST:PORT or unix:///PATH to ship them',
    );
    return undefined;
  }
  const where = syslogAddress(address);
  if (typeof where === 'string') {
    problem(where.startsWith('ignored') ? 'warning' : 'error', where, 'syslog-address');
    return undefined;
  }
  if (!FORMATS.includes(format) || tooLong(options)) return undefined;
  return { ...where, facility, format, tag: options.tag ?? '{{.ID}}' };
}

/** Whether an option is too long to use (already reported). */
function tooLong(options: Record<string, string>): boolean {
  return Object.values(options).some((v) => v.length > MAX_LOG_OPTION_LENGTH);
}

/** udp://host:port, tcp://host:port ([v6] in brackets, port 514 by default), unix:///path; or what is wrong. */
export function syslogAddress(address: string): Pick<SyslogTarget, 'protocol' | 'host' | 'port' | 'path'> | string {
  const m = /^([a-z+]+):\/\/(.*)$/.exec(address);
  const scheme = m?.[1];
  const rest = m?.[2] ?? '';
  if (scheme === 'unix') {
    if (!rest.startsWith('/')) return `invalid syslog-address "${address}": write unix:///absolute/path`;
    return { protocol: 'unix', host: '', port: 0, path: rest };
  }
  if (scheme === 'udp' || scheme === 'tcp') {
    const hp = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?$/.exec(rest);
    const port = hp?.[3] === undefined ? 514 : Number(hp[3]);
    if (!hp || port < 1 || port > 65535) {
      return `invalid syslog-address "${address}": write ${scheme}://HOST:PORT (port 1-65535)`;
    }
    return { protocol: scheme, host: hp[1] ?? hp[2] ?? '', port, path: '' };
  }
  if (scheme === 'tcp+tls' || scheme === 'unixgram') {
    return `ignored: ${scheme} is not supported by the node; the lines are kept by the node only (use udp, tcp or unix)`;
  }
  return `invalid syslog-address "${address}": use udp://HOST:PORT, tcp://HOST:PORT or unix:///PATH`;
}
