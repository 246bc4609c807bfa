import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { destroyContainerd, privateContainerdConfig, shimPids } from '@flotilla/containerd';
import { ManagedProcess } from './managed-process.js';
import { runPrefix } from './run-prefix.js';
import { tempDir } from './temp-dir.js';

/** A containerd started for tests, with its own root, state and socket. */
export interface TestContainerd {
  /** The gRPC socket. */
  readonly socket: string;
  /** A containerd namespace unique to this instance (runc's state is shared per namespace across instances). */
  readonly namespace: string;
  readonly root: string;
  readonly process: ManagedProcess;
  /** Stops containerd and the shims it started, unmounts what it mounted, removes its directories. */
  destroy(): Promise<void>;
}

let instances = 0;

/**
 * A private containerd (Debian `containerd` + `runc`, as root) for tests: config, root, state and socket in a
 * temporary directory, the CRI plugin off. Several can run side by side; each test gets its own namespace.
 */
export async function startContainerd(
  options: {
    label?: string;
    /** A command prefix to run containerd under, e.g. a namespace host's `nsenter --net=…` prefix. */
    wrap?: readonly string[];
  } = {},
): Promise<TestContainerd> {
  const binary = process.env.FLOTILLA_CONTAINERD_BIN ?? '/usr/bin/containerd';
  if (!existsSync(binary)) {
    throw new Error(`${binary} is missing: install Debian's containerd and runc (npm test does, as root)`);
  }
  if (process.getuid?.() !== 0) throw new Error('containerd tests need root');
  const dir = tempDir(`ctrd-${options.label ?? 'test'}`);
  const socket = path.join(dir.path, 'containerd.sock');
  const root = path.join(dir.path, 'root');
  const config = path.join(dir.path, 'config.toml');
  writeFileSync(config, privateContainerdConfig(dir.path, socket));

  const proc = await ManagedProcess.start({
    name: 'containerd',
    command: options.wrap?.[0] ?? binary,
    args: [...(options.wrap ? [...options.wrap.slice(1), binary] : []), '--config', config, '--log-level', 'warn'],
  });
  await waitForSocket(socket, 20_000, proc);
  const namespace = `${runPrefix()}-${options.label ?? 'test'}-${++instances}`;
  return {
    socket,
    namespace,
    root,
    process: proc,
    async destroy() {
      await proc.stop();
      await destroyContainerd({ socket, namespace, dir: dir.path });
      dir.remove();
    },
  };
}

async function waitForSocket(socket: string, timeoutMs: number, proc: ManagedProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(socket);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  await proc.stop();
  throw new Error(`containerd did not open ${socket} within ${timeoutMs} ms`);
}

export { shimPids };
