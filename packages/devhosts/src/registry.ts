import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { ProcessSpec } from './server-process.js';

export interface RegistryServerOptions {
  /** HOST:PORT to listen on: loopback, or the namespace hosts' gateway for a registry they pull from. */
  address: string;
  /** Where its configuration is written. */
  configFile: string;
  /** Its filesystem storage (made if missing). */
  storage: string;
  /** distribution's `auth` section (htpasswd or token), if logins are required. */
  auth?: Record<string, unknown>;
  /** Serve HTTPS with this certificate and key. */
  tls?: { certificate: string; key: string };
  binary: string;
}

/**
 * An OCI registry (Debian's `docker-registry`, distribution 2.8): writes its configuration and returns what to
 * run. Deleting content is allowed (tests damage it on purpose; a dev registry is rebuilt on every start).
 */
export function registryServer(options: RegistryServerOptions): ProcessSpec {
  mkdirSync(options.storage, { recursive: true });
  const http: Record<string, unknown> = {
    addr: options.address,
    // A fixed secret keeps the registry from warning, and from generating one per start.
    secret: randomBytes(16).toString('hex'),
  };
  if (options.tls) http.tls = options.tls;
  const config: Record<string, unknown> = {
    version: 0.1,
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: options.storage }, delete: { enabled: true } },
    http,
    ...(options.auth ? { auth: options.auth } : {}),
  };
  // JSON is YAML, and needs no quoting rules of its own.
  writeFileSync(options.configFile, JSON.stringify(config, null, 2));
  const colon = options.address.lastIndexOf(':');
  const host = options.address.slice(0, colon);
  return {
    name: 'registry',
    command: options.binary,
    args: ['serve', options.configFile],
    readyPort: Number(options.address.slice(colon + 1)),
    ...(host === '127.0.0.1' ? {} : { readyHost: host }),
    readyTimeoutMs: 30_000,
  };
}
