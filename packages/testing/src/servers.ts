import { existsSync } from 'node:fs';
import { freePort, ManagedProcess } from './managed-process.js';
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

function requireBinary(path: string, debianPackage: string): void {
  if (!existsSync(path)) {
    throw new Error(
      `${path} is missing: install Debian's ${debianPackage} (npm test installs it when run as root: ` +
        `apt-get install ${debianPackage})`,
    );
  }
}

/** A single-member etcd on loopback ports with a temporary data directory (Debian `etcd-server`). */
export async function startEtcd(options: { name?: string; tls?: TestPki } = {}): Promise<TestServer> {
  const binary = process.env.FLOTILLA_ETCD_BIN ?? '/usr/bin/etcd';
  requireBinary(binary, 'etcd-server');
  const data = tempDir('etcd');
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const name = options.name ?? 'test';
  const scheme = options.tls ? 'https' : 'http';
  const args = [
    '--name',
    name,
    '--data-dir',
    data.path,
    '--listen-client-urls',
    `${scheme}://127.0.0.1:${clientPort}`,
    '--advertise-client-urls',
    `${scheme}://127.0.0.1:${clientPort}`,
    '--listen-peer-urls',
    `http://127.0.0.1:${peerPort}`,
    '--initial-advertise-peer-urls',
    `http://127.0.0.1:${peerPort}`,
    '--initial-cluster',
    `${name}=http://127.0.0.1:${peerPort}`,
    '--log-level',
    'error',
    '--logger',
    'zap',
  ];
  if (options.tls) {
    // Mutual TLS: clients must present a certificate from the same CA.
    args.push('--cert-file', options.tls.serverCertFile, '--key-file', options.tls.serverKeyFile);
    args.push('--client-cert-auth', '--trusted-ca-file', options.tls.caFile);
  }
  return managed('etcd', binary, args, clientPort, `${scheme}://127.0.0.1:${clientPort}`, data);
}

/** A Redis server on a loopback port with a temporary directory, no persistence by default (Debian `redis-server`). */
export async function startRedis(options: { password?: string } = {}): Promise<TestServer> {
  const binary = process.env.FLOTILLA_REDIS_BIN ?? '/usr/bin/redis-server';
  requireBinary(binary, 'redis-server');
  const data = tempDir('redis');
  const port = await freePort();
  const args = ['--bind', '127.0.0.1', '--port', String(port), '--dir', data.path, '--save', '', '--appendonly', 'no'];
  if (options.password) args.push('--requirepass', options.password);
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : '';
  return managed('redis-server', binary, args, port, `redis://${auth}127.0.0.1:${port}`, data);
}

async function managed(
  name: string,
  command: string,
  args: string[],
  port: number,
  url: string,
  data: { path: string; remove(): void },
): Promise<TestServer> {
  const start = () => ManagedProcess.start({ name, command, args, readyPort: port, readyTimeoutMs: 30_000 });
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
