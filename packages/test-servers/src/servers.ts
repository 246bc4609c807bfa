import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  debianPackageOf,
  etcdServer,
  freePort,
  ManagedProcess,
  type ProcessSpec,
  redisServer,
  type ServerName,
  serverBinary,
} from '@flotilla/devhosts';
import type { TestPki } from './pki.js';
import { tempDir } from './temp-dir.js';

/** A real server started for tests: where to reach it, and how to stop it and remove its data. */
export interface TestServer {
  /** Client URL, e.g. http://127.0.0.1:23790 or redis://127.0.0.1:6390. */
  readonly url: string;
  readonly port: number;
  readonly process: ManagedProcess;
  /** Stops the process (SIGTERM, then SIGKILL) and keeps the data, so the same server can start again. */
  stop(): Promise<void>;
  /** Starts the process again on the same port with the same data. */
  restart(): Promise<void>;
  /** Stops the process and removes its data directory. */
  destroy(): Promise<void>;
}

/** A server's binary; throws saying what to install if it is missing. */
export function requireBinary(name: ServerName): string {
  const file = serverBinary(name);
  const debianPackage = debianPackageOf(name);
  if (!existsSync(file)) {
    throw new Error(
      `${file} is missing: install Debian's ${debianPackage} (npm test installs it when run as root: ` +
        `apt-get install ${debianPackage})`,
    );
  }
  return file;
}

/** A single-member etcd on loopback ports with a temporary data directory (Debian `etcd-server`). */
export async function startEtcd(options: { name?: string; tls?: TestPki } = {}): Promise<TestServer> {
  const binary = requireBinary('etcd');
  const data = tempDir('etcd');
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const { tls } = options;
  const { spec, url } = etcdServer({
    name: options.name ?? 'test',
    dataDir: data.path,
    clientPort,
    peerPort,
    binary,
    ...(tls ? { tls: { certFile: tls.serverCertFile, keyFile: tls.serverKeyFile, caFile: tls.caFile } } : {}),
  });
  return managed(spec, clientPort, url, data);
}

/**
 * A Redis server on a loopback port with a temporary directory, no persistence (Debian `redis-server`). With
 * `tls`, it serves TLS only and accepts only clients with a certificate of that CA (its URL is `rediss://`).
 */
export async function startRedis(
  options: { password?: string; tls?: { certFile: string; keyFile: string; caFile: string }; port?: number } = {},
): Promise<TestServer> {
  const binary = requireBinary('redis');
  const data = tempDir('redis');
  // A port chosen before: the managers are told where Redis will be before its certificate can be made.
  const port = options.port ?? (await freePort());
  const { spec, url } = redisServer({
    configFile: path.join(data.path, 'redis.conf'),
    dataDir: data.path,
    port,
    binary,
    ...(options.password ? { password: options.password } : {}),
    ...(options.tls ? { tls: options.tls } : {}),
  });
  return managed({ ...spec, name: 'redis-server' }, port, url, data);
}

async function managed(
  spec: ProcessSpec,
  port: number,
  url: string,
  data: { path: string; remove(): void },
): Promise<TestServer> {
  const start = () => ManagedProcess.start(spec);
  let proc = await start();
  return {
    url,
    port,
    get process() {
      return proc;
    },
    async stop() {
      await proc.stop();
    },
    async restart() {
      await proc.stop();
      proc = await start();
    },
    async destroy() {
      await proc.stop();
      data.remove();
    },
  };
}
