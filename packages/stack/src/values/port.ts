import { isIP } from 'node:net';
import { quote, requireScalar } from './scalar.js';
import { ValueError } from './value-error.js';

export type PortProtocol = 'tcp' | 'udp' | 'sctp';

/** One published or exposed port, in the shape of the Compose long syntax. */
export interface PortMapping {
  target: number;
  published?: number;
  host_ip?: string;
  protocol: PortProtocol;
  mode: 'ingress' | 'host';
  name?: string;
  app_protocol?: string;
}

export interface PortRange {
  start: number;
  end: number;
}

const PROTOCOLS: readonly string[] = ['tcp', 'udp', 'sctp'];
const MAX_PORT = 65535;
const SHORT_SYNTAX =
  'write [HOST_IP:][HOST_PORTS:]CONTAINER_PORTS[/PROTOCOL], e.g. 8080:80, 127.0.0.1:8080:80 or 53:53/udp';

/**
 * Parses the Compose short port syntax `[[HOST_IP:]HOST_PORTS:]CONTAINER_PORTS[/PROTOCOL]`.
 * Ranges expand to one mapping per port, as `docker stack config` prints them.
 */
export function parsePortShort(spec: string | number): PortMapping[] {
  const value = requireScalar(spec, 'port');
  if (typeof value === 'number') return [{ target: parsePort(value), protocol: 'tcp', mode: 'ingress' }];

  const q = quote(value);
  if (value === '') throw new ValueError(`invalid port "": ${SHORT_SYNTAX}`);
  if (/\s/.test(value)) throw new ValueError(`invalid port ${q}: remove the spaces (${SHORT_SYNTAX})`);
  const [body, protocol] = splitProtocol(value, q);

  const { hostIp, host, container } = splitParts(body, q);
  if (container === '') throw new ValueError(`invalid port ${q}: the container port is missing (${SHORT_SYNTAX})`);
  if (hostIp !== undefined && isIP(hostIp) === 0) {
    throw new ValueError(
      `invalid port ${q}: ${quote(hostIp)} is not an IP address; ` +
        'write HOST_IP:HOST_PORT:CONTAINER_PORT, e.g. 127.0.0.1:8080:80, [::1]:8080:80 or 127.0.0.1::80',
    );
  }

  const target = parseRange(container, q);
  const size = target.end - target.start;
  // An empty host part (127.0.0.1::80, :80) leaves the published port to the cluster.
  const published = host === undefined || host === '' ? undefined : parseRange(host, q);
  if (published !== undefined && published.end - published.start !== size) {
    const hostText = formatRange(published);
    const containerText = formatRange(target);
    const why =
      size === 0
        ? `host port range ${hostText} cannot map onto the single container port ${containerText}`
        : published.start === published.end
          ? `the single host port ${hostText} cannot map onto the container port range ${containerText}`
          : `host port range ${hostText} (${published.end - published.start + 1} ports) and container port range ` +
            `${containerText} (${size + 1} ports) must be the same size`;
    throw new ValueError(`invalid port ${q}: ${why}; give ranges of the same size, e.g. 8000-8001:80-81`);
  }

  const mappings: PortMapping[] = [];
  for (let i = 0; i <= size; i++) {
    const mapping: PortMapping = { target: target.start + i, protocol, mode: 'ingress' };
    if (published !== undefined) mapping.published = published.start + i;
    if (hostIp !== undefined) mapping.host_ip = hostIp;
    mappings.push(mapping);
  }
  return mappings;
}

/** Parses an `expose` entry: a port or range with an optional protocol, e.g. 3000, 8000-8010 or 8080/udp. */
export function parsePortRange(spec: string | number): PortRange & { protocol: PortProtocol } {
  const value = requireScalar(spec, 'port');
  if (typeof value === 'number') {
    const port = parsePort(value);
    return { start: port, end: port, protocol: 'tcp' };
  }
  const q = quote(value);
  const [body, protocol] = splitProtocol(value, q);
  return { ...parseRange(body, q), protocol };
}

/** Parses the long syntax's `published`: a port number or a range such as "8080-8081". */
export function parsePublished(value: string | number): PortRange {
  const published = requireScalar(value, 'published port');
  if (typeof published === 'number') {
    const port = parsePort(published);
    return { start: port, end: port };
  }
  return parseRange(published, quote(published));
}

interface Parts {
  hostIp: string | undefined;
  host: string | undefined;
  container: string;
}

function splitParts(body: string, q: string): Parts {
  if (body.startsWith('[')) {
    // A bracketed IPv6 address must be followed by a host part, which may be empty: [::1]:8080:80 or [::1]::80.
    const close = body.indexOf(']');
    const rest = close === -1 || body[close + 1] !== ':' ? [] : body.slice(close + 2).split(':');
    if (rest.length !== 2) {
      throw new ValueError(`invalid port ${q}: write [IPV6]:HOST_PORT:CONTAINER_PORT, e.g. [::1]:8080:80 or [::1]::80`);
    }
    return { hostIp: body.slice(1, close), host: rest[0], container: rest[1] ?? '' };
  }
  // Like Docker: the last part is the container side, the one before it the host side, and anything
  // earlier the host IP, which lets an unbracketed IPv6 address such as ::1:6001:6001 through.
  const parts = body.split(':');
  const container = parts.pop() ?? '';
  const host = parts.pop();
  const hostIp = parts.join(':');
  return { hostIp: hostIp === '' ? undefined : hostIp, host, container };
}

function splitProtocol(value: string, q: string): [string, PortProtocol] {
  const slash = value.indexOf('/');
  if (slash === -1) return [value, 'tcp'];
  const protocol = value.slice(slash + 1).toLowerCase();
  if (!PROTOCOLS.includes(protocol)) {
    throw new ValueError(`invalid port ${q}: unknown protocol ${quote(value.slice(slash + 1))}; use tcp, udp or sctp`);
  }
  return [value.slice(0, slash), protocol as PortProtocol];
}

function parseRange(text: string, q: string): PortRange {
  const match = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (match === null) {
    throw new ValueError(`invalid port ${q}: ${quote(text)} is not a port or range; write e.g. 80 or 8000-8010`);
  }
  const start = parsePort(match[1] ?? '', q);
  const end = match[2] === undefined ? start : parsePort(match[2], q);
  if (start > end)
    throw new ValueError(`invalid port ${q}: range ${text} ends before it starts; write ${end}-${start}`);
  return { start, end };
}

/** q, when given, is the whole spec the port came from, for context. */
function parsePort(value: string | number, q?: string): number {
  const context = q === undefined ? '' : `invalid port ${q}: `;
  const port = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(port)) {
    throw new ValueError(`invalid port ${quote(value)}: a port is a whole number 1-${MAX_PORT}`);
  }
  if (port < 1 || port > MAX_PORT) {
    const shown = typeof value === 'string' && value.length > 12 ? `${value.slice(0, 12)}…` : String(value);
    throw new ValueError(`${context}port ${shown} is out of range 1-${MAX_PORT}`);
  }
  return port;
}

function formatRange(range: PortRange): string {
  return range.start === range.end ? `${range.start}` : `${range.start}-${range.end}`;
}
