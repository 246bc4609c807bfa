import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
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
  const state = path.join(dir.path, 'state');
  const config = path.join(dir.path, 'config.toml');
  writeFileSync(
    config,
    [
      'version = 2',
      `root = "${root}"`,
      `state = "${state}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${socket}"`,
      '[ttrpc]',
      `  address = "${socket}.ttrpc"`,
      '',
    ].join('\n'),
  );
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
      // Container processes outlive their shims: end those in this namespace's cgroups first.
      killCgroupProcesses(namespace);
      // Shims outlive containerd by design: end those this containerd started (their -address is our socket).
      for (const pid of shimPids(socket)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await proc.stop();
      unmountUnder(dir.path);
      // runc keeps its state per containerd namespace, outside containerd's own state directory.
      rmSync(`/run/containerd/runc/${namespace}`, { recursive: true, force: true });
      // A killed process leaves its cgroup a moment later.
      for (let i = 0; i < 20 && !removeCgroups(namespace); i++) await new Promise((r) => setTimeout(r, 100));
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

/** PIDs of containerd-shim processes started for the containerd on this socket. */
export function shimPids(socket: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.includes('containerd-shim') && argv.includes(socket)) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

function unmountUnder(dir: string): void {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((target) => target.startsWith(dir))
    .sort((a, b) => b.length - a.length);
  for (const target of mounts) {
    try {
      execFileSync('umount', ['-l', target], { stdio: 'ignore' });
    } catch {
      // already unmounted
    }
  }
}

/** The cgroup trees: each controller's under cgroup v1, the one unified tree under v2. */
function cgroupTrees(): string[] {
  const base = '/sys/fs/cgroup';
  if (!existsSync(base)) return [];
  return existsSync(`${base}/cgroup.controllers`) ? [base] : readdirSync(base).map((c) => `${base}/${c}`);
}

/**
 * The cgroup directories of this namespace's containers in one tree: the executor's (`/flotilla/<namespace>`)
 * and containerd's own default (`/<namespace>`, what `ctr run` uses).
 */
function namespaceCgroups(tree: string, namespace: string): string[] {
  return [`${tree}/flotilla/${namespace}`, `${tree}/${namespace}`];
}

/** SIGKILLs every process in the containers' cgroups of this namespace. */
function killCgroupProcesses(namespace: string): void {
  for (const dir of cgroupTrees().flatMap((tree) => namespaceCgroups(tree, namespace))) {
    if (!existsSync(dir)) continue;
    for (const child of readdirSync(dir, { withFileTypes: true })) {
      if (!child.isDirectory()) continue;
      let procs = '';
      try {
        procs = readFileSync(`${dir}/${child.name}/cgroup.procs`, 'utf8');
      } catch {
        continue;
      }
      for (const pid of procs.split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }
}

/** Removes this namespace's container cgroups (every tree under v1, the one under v2); false while some are in use. */
function removeCgroups(namespace: string): boolean {
  let done = true;
  for (const tree of cgroupTrees()) {
    for (const dir of namespaceCgroups(tree, namespace)) {
      if (!existsSync(dir)) continue;
      for (const child of readdirSync(dir, { withFileTypes: true })) {
        if (child.isDirectory()) rmdirQuiet(`${dir}/${child.name}`);
      }
      rmdirQuiet(dir);
      if (existsSync(dir)) done = false;
    }
    // The shared parent goes too once no other instance uses it.
    rmdirQuiet(`${tree}/flotilla`);
  }
  return done;
}

function rmdirQuiet(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // still in use, or already gone
  }
}
