import { writeFileSync } from 'node:fs';
import type { ProcessSpec } from './server-process.js';

export interface RedisOptions {
  /** Where its configuration is written (mode 0600: it holds the password). */
  configFile: string;
  dataDir: string;
  port: number;
  /** The address it listens on; default 127.0.0.1. */
  bind?: string;
  password?: string;
  /**
   * Serve TLS only (no plaintext port) with this certificate, and accept only clients that present a certificate
   * of this CA: the cluster CA's, so that every connection is a node or manager of the cluster.
   */
  tls?: { certFile: string; keyFile: string; caFile: string };
  binary: string;
}

/**
 * A Redis server without persistence (logs and events are for looking at now): writes its configuration and
 * returns what to run and its URL. The password is in the file, not on a command line for every local user to
 * read.
 */
export function redisServer(options: RedisOptions): { spec: ProcessSpec; url: string } {
  const { port, password } = options;
  const bind = options.bind ?? '127.0.0.1';
  const { tls } = options;
  const ports = tls
    ? [
        'port 0',
        `tls-port ${port}`,
        `tls-cert-file ${quoted(tls.certFile)}`,
        `tls-key-file ${quoted(tls.keyFile)}`,
        `tls-ca-cert-file ${quoted(tls.caFile)}`,
        'tls-auth-clients yes',
      ]
    : [`port ${port}`];
  const lines = [`bind ${bind}`, ...ports, `dir ${options.dataDir}`, 'save ""', 'appendonly no'];
  if (password) lines.push(`requirepass ${quoted(password)}`);
  writeFileSync(options.configFile, `${lines.join('\n')}\n`, { mode: 0o600 });
  const auth = password ? `:${encodeURIComponent(password)}@` : '';
  return {
    spec: {
      name: 'redis',
      command: options.binary,
      args: [options.configFile],
      readyPort: port,
      ...(bind === '127.0.0.1' ? {} : { readyHost: bind }),
      readyTimeoutMs: 30_000,
    },
    url: `${tls ? 'rediss' : 'redis'}://${auth}${bind}:${port}`,
  };
}

/** A value as redis.conf reads it: in double quotes, with backslashes, quotes and control characters escaped. */
function quoted(value: string): string {
  let escaped = '';
  for (const c of value) {
    const code = c.charCodeAt(0);
    if (c === '\\' || c === '"') escaped += `\\${c}`;
    else if (code < 0x20 || code === 0x7f) escaped += `\\x${code.toString(16).padStart(2, '0')}`;
    else escaped += c;
  }
  return `"${escaped}"`;
}
