/** A network endpoint as users write it: `HOST:PORT`, with an IPv6 host in brackets (`[::1]:4242`). */
export interface HostPort {
  /** Without brackets. */
  host: string;
  port: number;
}

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[^\s:/@[\]]+):(\d{1,5})$/;

/**
 * Parses `HOST:PORT`. Port 0 (any free port) is accepted only for addresses to listen on. The error names what
 * the address is for and shows the form to write.
 */
export function parseHostPort(
  address: string,
  what = 'address',
  options: { allowPortZero?: boolean; example?: string } = {},
): HostPort {
  const m = HOST_PORT.exec(address.trim());
  const port = Number(m?.[2]);
  const lowest = options.allowPortZero ? 0 : 1;
  if (!m || !Number.isInteger(port) || port < lowest || port > 65_535) {
    throw new Error(
      `"${address}" is not a valid ${what}: give HOST:PORT, for example ${options.example ?? '127.0.0.1:4242'}`,
    );
  }
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port };
}

/** `HOST:PORT`, with an IPv6 host in brackets. */
export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
