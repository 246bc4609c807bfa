import { execFileSync } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { Task, TaskState } from '@flotilla/api';
import { loadRegistryCredentials, RegistryClient } from '@flotilla/registry';
import {
  freePort,
  pushTestImages,
  shimPids,
  startContainerd,
  startRegistry,
  type TestContainerd,
  type TestImageRefs,
  type TestRegistry,
  tempDir,
} from '@flotilla/test-servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerdExecutor } from './containerd-executor.js';
import { RegistrySource } from './registry-source.js';
import { nodeSeccomp } from './seccomp-profile.js';

const root = process.getuid?.() === 0;
// The profile Debian ships (installed by the project's scripts), as an agent reads it at start.
const seccomp = nodeSeccomp();

function task(id: string, command: string[], extra: Partial<NonNullable<Task['spec']>> = {}, memory = 0n): Task {
  return Task.fromPartial({
    id,
    serviceId: 'svc1',
    serviceName: 'test_svc',
    slot: 1n,
    desiredState: TaskState.TASK_STATE_RUNNING,
    spec: { image: IMAGE, command, commandSet: true, ...extra },
    resources: { limits: { memoryBytes: memory } },
  });
}

let IMAGE = '';
let resolves = 0;
let seq = 0;
const id = () => `t${Date.now().toString(36)}${(seq++).toString(36)}xxxxxxxxxxxxxxxxxx`.slice(0, 25);

describe.skipIf(!root)('containerd executor (real containerd + runc)', () => {
  let containerd: TestContainerd;
  let dir: ReturnType<typeof tempDir>;
  let registry: TestRegistry;
  let images: { busybox: TestImageRefs };
  let source: RegistrySource;
  let executor: ContainerdExecutor;
  const logs = new Map<string, string[]>();

  const make = () =>
    new ContainerdExecutor({
      socket: containerd.socket,
      namespace: containerd.namespace,
      stateDir: path.join(dir.path, 'agent'),
      images: source,
      nodeId: 'node1',
      output: (taskId, _stream, lines) => logs.set(taskId, [...(logs.get(taskId) ?? []), ...lines]),
      imageGcIntervalMs: 0,
      seccomp,
    });

  beforeAll(async () => {
    containerd = await startContainerd({ label: 'exec' });
    dir = tempDir('exec');
    registry = await startRegistry();
    images = await pushTestImages(registry.address);
    IMAGE = images.busybox.tag;
    source = new RegistrySource(new RegistryClient());
    const resolve = source.resolve.bind(source);
    source.resolve = (ref, platform) => {
      resolves++;
      return resolve(ref, platform);
    };
    executor = make();
  });

  afterAll(async () => {
    executor?.close();
    await containerd?.destroy();
    await registry?.stop();
    dir?.remove();
  });

  it('pulls once from the registry, runs a command, captures its output and reports the exit code', async () => {
    const a = task(id(), ['sh', '-c', 'echo hello; echo oops >&2; exit 3']);
    const b = task(id(), ['echo', 'second']);
    const progress: string[] = [];
    await Promise.all([executor.prepare(a, (m) => progress.push(m)), executor.prepare(b)]);
    expect(progress.some((m) => /^pulling .* of /.test(m))).toBe(true);
    // Two tasks of one image at once: one pull.
    expect(resolves).toBe(1);
    await executor.start(a);
    await executor.start(b);
    expect(await executor.wait(a.id)).toEqual({ exitCode: 3 });
    expect((await executor.wait(b.id)).exitCode).toBe(0);
    await executor.remove(a.id);
    await executor.remove(b.id);
    expect(logs.get(a.id)).toEqual(expect.arrayContaining(['hello', 'oops']));
    expect(logs.get(b.id)).toEqual(['second']);
  });

  it('pulls by digest too, and rejects a missing image with the reason', async () => {
    const byDigest = task(id(), ['echo', 'pinned'], { image: images.busybox.byDigest });
    await executor.prepare(byDigest);
    await executor.start(byDigest);
    expect((await executor.wait(byDigest.id)).exitCode).toBe(0);
    await executor.remove(byDigest.id);
    expect(logs.get(byDigest.id)).toEqual(['pinned']);
    const missing = task(id(), ['true'], { image: `${registry.address}/flotilla-test/nothing:1` });
    await expect(executor.prepare(missing)).rejects.toMatchObject({ code: 'rejected', message: /nothing:1/ });
    await executor.remove(missing.id);
  });

  it('runs a pinned tag@digest (as stack deploy stores it) by its digest: a digest the tag does not have is refused', async () => {
    const pinned = task(id(), ['echo', 'tag and digest'], { image: `${images.busybox.tag}@${images.busybox.digest}` });
    await executor.prepare(pinned);
    await executor.start(pinned);
    expect((await executor.wait(pinned.id)).exitCode).toBe(0);
    await executor.remove(pinned.id);
    expect(logs.get(pinned.id)).toEqual(['tag and digest']);
    // The tag exists, but the digest decides what runs: another digest is not pulled as the tag.
    const other = `sha256:${'0'.repeat(64)}`;
    const wrong = task(id(), ['true'], { image: `${images.busybox.tag}@${other}` });
    await expect(executor.prepare(wrong)).rejects.toMatchObject({ code: 'rejected', message: /0{64}/ });
    await executor.remove(wrong.id);
  });

  it('pulls from a registry that needs a login: without one the task is rejected and says what to do', async () => {
    const secured = await startRegistry({ auth: { username: 'ci', password: 's3cret-pw' } });
    try {
      const refs = await pushTestImages(secured.address, { username: 'ci', password: 's3cret-pw' });
      const withLogin = new ContainerdExecutor({
        socket: containerd.socket,
        namespace: containerd.namespace,
        stateDir: path.join(dir.path, 'agent-auth'),
        images: new RegistrySource(
          new RegistryClient({ credentials: await loadRegistryCredentials(secured.credentialsFile!) }),
        ),
        nodeId: 'node1',
        imageGcIntervalMs: 0,
        seccomp,
      });
      const anonymous = task(id(), ['true'], { image: refs.busybox.tag });
      const err = await executor.prepare(anonymous).catch((e: Error) => e);
      await executor.remove(anonymous.id);
      expect(err).toMatchObject({ code: 'rejected' });
      expect((err as Error).message).toMatch(/unauthorized|credentials|login/i);
      expect((err as Error).message).not.toContain('s3cret-pw');
      const t = task(id(), ['echo', 'logged in'], { image: refs.busybox.tag });
      try {
        await withLogin.prepare(t);
        await withLogin.start(t);
        expect((await withLogin.wait(t.id)).exitCode).toBe(0);
      } finally {
        await withLogin.remove(t.id);
        withLogin.close();
      }
    } finally {
      await secured.stop();
    }
  });

  it("runs as a user named in the image's /etc/passwd, and rejects one it does not have", async () => {
    const t = task(id(), ['id'], { user: 'nobody' });
    await executor.prepare(t);
    await executor.start(t);
    expect((await executor.wait(t.id)).exitCode).toBe(0);
    await executor.remove(t.id);
    expect(logs.get(t.id)?.[0]).toMatch(/^uid=65534\(nobody\) gid=65534/);
    const unknown = task(id(), ['id'], { user: 'www-data' });
    await expect(executor.prepare(unknown)).rejects.toMatchObject({ code: 'rejected', message: /www-data/ });
    await executor.remove(unknown.id);
  });

  it('stops with the stop signal, then kills after the grace period', async () => {
    const polite = task(id(), ['sh', '-c', 'trap "echo bye; exit 0" TERM; echo armed; while true; do sleep 0.1; done']);
    const stubborn = task(id(), ['sh', '-c', 'trap "" TERM; echo armed; while true; do sleep 0.1; done']);
    for (const t of [polite, stubborn]) {
      await executor.prepare(t);
      await executor.start(t);
    }
    // Their traps are set once they say so.
    await expect
      .poll(() => [polite, stubborn].every((t) => logs.get(t.id)?.includes('armed')), { timeout: 10_000 })
      .toBe(true);
    const t0 = Date.now();
    await executor.shutdown(polite.id, 'SIGTERM', 5_000);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect((await executor.wait(polite.id)).exitCode).toBe(0);
    const t1 = Date.now();
    await executor.shutdown(stubborn.id, 'SIGTERM', 700);
    expect(Date.now() - t1).toBeGreaterThanOrEqual(650);
    expect(await executor.wait(stubborn.id)).toMatchObject({ exitCode: 137, signal: 'SIGKILL' });
    await executor.remove(polite.id);
    await executor.remove(stubborn.id);
    expect(logs.get(polite.id)).toContain('bye');
  });

  it('shows a container its own limits under /sys/fs/cgroup', async () => {
    const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
    const file = v2 ? '/sys/fs/cgroup/memory.max' : '/sys/fs/cgroup/memory/memory.limit_in_bytes';
    const t = task(id(), ['cat', file], {}, 48n * 1024n * 1024n);
    await executor.prepare(t);
    await executor.start(t);
    expect((await executor.wait(t.id)).exitCode).toBe(0);
    await executor.remove(t.id);
    expect(logs.get(t.id)).toEqual([String(48 * 1024 * 1024)]);
  });

  it('filters system calls with the default profile, unless the service asks otherwise; no-new-privileges as asked', async () => {
    const status = ['sh', '-c', 'grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status | tr -s "\t " " "'];
    const run = async (extra: Partial<NonNullable<Task['spec']>>) => {
      const t = task(id(), status, extra);
      await executor.prepare(t);
      await executor.start(t);
      expect((await executor.wait(t.id)).exitCode).toBe(0);
      await executor.remove(t.id);
      return logs.get(t.id);
    };
    // 2: a filter is in force (seccomp mode "filter").
    expect(await run({})).toEqual(['NoNewPrivs: 0', 'Seccomp: 2']);
    expect(await run({ noNewPrivileges: true })).toEqual(['NoNewPrivs: 1', 'Seccomp: 2']);
    expect(await run({ seccompProfile: 'unconfined' })).toEqual(['NoNewPrivs: 0', 'Seccomp: 0']);
    // A call the service's own profile denies fails inside the container, which goes on.
    const denied = task(id(), ['sh', '-c', 'unshare -r true 2>&1; echo done'], {
      seccompProfile: JSON.stringify({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['unshare'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
      }),
    });
    await executor.prepare(denied);
    await executor.start(denied);
    expect((await executor.wait(denied.id)).exitCode).toBe(0);
    await executor.remove(denied.id);
    expect(logs.get(denied.id)?.join('\n')).toMatch(/Operation not permitted[\s\S]*done/);
  });

  it('reports an OOM kill', async () => {
    const t = task(id(), ['sh', '-c', 'x=a; while true; do x="$x$x"; done'], {}, 16n * 1024n * 1024n);
    await executor.prepare(t);
    await executor.start(t);
    expect(await executor.wait(t.id)).toMatchObject({ oomKilled: true });
    await executor.remove(t.id);
  });

  it('runs tini as PID 1 with init, which reaps zombies (without it they stay)', async () => {
    // The orphaned sleep is re-parented to PID 1: tini reaps it, a plain `sleep` as PID 1 never does.
    const script = '(sleep 0.1 &) ; exec sleep 60';
    const withInit = task(id(), ['sh', '-c', script], { init: true });
    const without = task(id(), ['sh', '-c', script]);
    for (const t of [withInit, without]) {
      await executor.prepare(t);
      await executor.start(t);
    }
    await new Promise((r) => setTimeout(r, 1_000));
    const look = async (t: Task) => (await executor.exec(t.id, ['ps', '-o', 'pid,stat,comm'], 5_000)).output;
    const zombies = (ps: string) => ps.split('\n').filter((l) => /^\s*\d+\s+Z/.test(l));
    expect((await executor.exec(withInit.id, ['cat', '/proc/1/cmdline'], 5_000)).output).toMatch(/flotilla-init/);
    expect(zombies(await look(withInit))).toEqual([]);
    expect(zombies(await look(without))).toHaveLength(1);
    for (const t of [withInit, without]) {
      await executor.shutdown(t.id, 'SIGKILL', 1_000);
      await executor.remove(t.id);
    }
  });

  it('runs a command inside a running container (health checks)', async () => {
    const t = task(id(), ['sh', '-c', 'echo ready > /tmp/state; sleep 30']);
    await executor.prepare(t);
    await executor.start(t);
    await expect
      .poll(() => executor.exec(t.id, ['/bin/sh', '-c', 'cat /tmp/state'], 5_000), { timeout: 10_000 })
      .toEqual({ exitCode: 0, output: 'ready' });
    expect((await executor.exec(t.id, ['/bin/sh', '-c', 'exit 4'], 5_000)).exitCode).toBe(4);
    expect(await executor.exec(t.id, ['/bin/sleep', '10'], 300)).toMatchObject({ timedOut: true });
    await executor.shutdown(t.id, 'SIGKILL', 1_000);
    await executor.remove(t.id);
  });

  it("probes HTTP and TCP inside the container's own network namespace (loopback is up there)", async () => {
    // A port free on the node, so that reaching it from the node could only be this container.
    const port = await freePort();
    const t = task(id(), ['sh', '-c', `echo hi > /tmp/index.html; exec httpd -f -p ${port} -h /tmp`]);
    await executor.prepare(t);
    await executor.start(t);
    await expect
      .poll(() => executor.networkProbe(t.id, { kind: 'http', port, path: '/index.html' }, 2_000), { timeout: 10_000 })
      .toEqual({ exitCode: 0, output: 'hi' });
    expect((await executor.networkProbe(t.id, { kind: 'http', port, path: '/missing' }, 2_000)).exitCode).not.toBe(0);
    expect((await executor.networkProbe(t.id, { kind: 'tcp', port }, 2_000)).exitCode).toBe(0);
    expect((await executor.networkProbe(t.id, { kind: 'tcp', port: 9 }, 2_000)).exitCode).not.toBe(0);
    // The container's port is not on the node's own loopback: its network namespace is its own.
    const fromNode = await fetch(`http://127.0.0.1:${port}/index.html`).then(
      () => 'reached',
      () => 'refused',
    );
    expect(fromNode).toBe('refused');
    await executor.shutdown(t.id, 'SIGKILL', 1_000);
    await executor.remove(t.id);
  });

  it('runs privileged, and in the node PID or IPC namespace, when the spec asks (the manager admits it only under the privileged profile)', async () => {
    const show = [
      'sh',
      '-c',
      'grep -E "^(Seccomp|CapEff):" /proc/self/status | tr -s "\t " " "; for n in pid ipc; do readlink /proc/self/ns/$n; done',
    ];
    const run = async (extra: Partial<NonNullable<Task['spec']>>) => {
      const t = task(id(), show, extra);
      await executor.prepare(t);
      await executor.start(t);
      expect((await executor.wait(t.id)).exitCode).toBe(0);
      await executor.remove(t.id);
      return logs.get(t.id) ?? [];
    };
    const hostPid = readlinkSync('/proc/self/ns/pid');
    const hostIpc = readlinkSync('/proc/self/ns/ipc');
    const sandboxed = await run({});
    expect(sandboxed).toContain('Seccomp: 2');
    expect(sandboxed).not.toContain(hostPid);
    expect(sandboxed).not.toContain(hostIpc);
    const privileged = await run({ privileged: true });
    expect(privileged).toContain('Seccomp: 0');
    // Every capability: more bits than Docker's default set (CapEff 00000000a80425fb).
    const capEff = BigInt(`0x${privileged.find((l) => l.startsWith('CapEff:'))?.split(' ')[1] ?? '0'}`);
    expect(capEff > 0xa80425fbn).toBe(true);
    expect(await run({ pidHost: true })).toEqual(expect.arrayContaining([hostPid]));
    const ipc = await run({ ipcHost: true });
    expect(ipc).toContain(hostIpc);
    expect(ipc).not.toContain(hostPid);
  });

  it('shares the node network with network_mode: host', async () => {
    const port = await freePort();
    const t = task(id(), ['sh', '-c', `echo host > /tmp/index.html; exec httpd -f -p 127.0.0.1:${port} -h /tmp`], {
      hostNetwork: true,
    });
    await executor.prepare(t);
    await executor.start(t);
    await expect
      .poll(
        () =>
          fetch(`http://127.0.0.1:${port}/index.html`).then(
            (r) => r.text(),
            () => '',
          ),
        { timeout: 5_000 },
      )
      .toBe('host\n');
    await executor.shutdown(t.id, 'SIGKILL', 1_000);
    await executor.remove(t.id);
  });

  it('adopts a running container after an agent restart, and sees a container killed behind its back', async () => {
    const t = task(id(), ['sh', '-c', 'while true; do echo tick; sleep 0.2; done']);
    await executor.prepare(t);
    await executor.start(t);
    executor.close();
    executor = make();
    expect(await executor.adopt(t)).toBe(true);
    const before = logs.get(t.id)?.length ?? 0;
    await new Promise((r) => setTimeout(r, 600));
    expect(logs.get(t.id)?.length ?? 0).toBeGreaterThan(before);
    // Killed by someone else: the wait ends with the signal.
    const pid = execFileSync('ctr', ['-a', containerd.socket, '-n', containerd.namespace, 'task', 'ls'])
      .toString()
      .split('\n')
      .find((l) => l.startsWith(t.id))
      ?.split(/\s+/)[1];
    expect(pid).toBeTruthy();
    process.kill(Number(pid), 'SIGKILL');
    expect(await executor.wait(t.id)).toMatchObject({ exitCode: 137 });
    await executor.remove(t.id);
    expect(await executor.adopt(t)).toBe(false);
    expect(await executor.containerIds()).not.toContain(t.id);
  });

  it('removes containers no task claims after a restart (orphans)', async () => {
    const t = task(id(), ['sleep', '30']);
    await executor.prepare(t);
    await executor.start(t);
    executor.close();
    executor = make();
    expect(await executor.removeOrphans()).toContain(t.id);
    expect(await executor.containerIds()).toEqual([]);
  });

  it('removes unused images after their TTL, never one in use', async () => {
    const gc = new ContainerdExecutor({
      socket: containerd.socket,
      namespace: containerd.namespace,
      stateDir: path.join(dir.path, 'agent'),
      images: source,
      nodeId: 'node1',
      imageGcIntervalMs: 0,
      seccomp,
      imageTtlMs: 0,
    });
    const t = task(id(), ['sleep', '30']);
    try {
      // A TTL of zero: only the running task keeps the image.
      await gc.prepare(t);
      await gc.start(t);
      // Other images (pulled by earlier tests) may go; the one in use stays.
      expect(await gc.gcImages()).not.toContain(IMAGE);
      await gc.shutdown(t.id, 'SIGKILL', 1_000);
      await gc.remove(t.id);
      expect(await gc.gcImages()).toContain(IMAGE);
    } finally {
      gc.close();
    }
    await expect.poll(() => shimPids(containerd.socket), { timeout: 10_000 }).toEqual([]);
  });
});
