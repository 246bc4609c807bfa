import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Mount, Mount_Type, Task, TaskState } from '@flotilla/api';
import { containersApi } from '@flotilla/containerd';
import { RegistryClient } from '@flotilla/registry';
import {
  pushTestImages,
  startContainerd,
  startRegistry,
  type TestContainerd,
  type TestRegistry,
  tempDir,
} from '@flotilla/test-servers';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ContainerdExecutor } from './containerd-executor.js';
import { RegistrySource } from './registry-source.js';
import { nodeSeccomp } from './seccomp-profile.js';

const root = process.getuid?.() === 0;
let seq = 0;
const id = () => `k${Date.now().toString(36)}${(seq++).toString(36)}xxxxxxxxxxxxxxxxxx`.slice(0, 25);

/** The node's mounts: [source, mount point, type, options]. */
const nodeMounts = () =>
  readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' '));

describe.skipIf(!root)('labels, tmpfs options and driver_opts volumes (real containerd + runc)', () => {
  let containerd: TestContainerd;
  let dir: ReturnType<typeof tempDir>;
  let registry: TestRegistry;
  let executor: ContainerdExecutor;
  let image = '';
  const logs = new Map<string, string[]>();

  const task = (command: string, extra: Partial<NonNullable<Task['spec']>> = {}) =>
    Task.fromPartial({
      id: id(),
      serviceId: 'svc1',
      serviceName: 'st_web',
      slot: 1n,
      desiredState: TaskState.TASK_STATE_RUNNING,
      spec: { image, command: ['sh', '-c', command], commandSet: true, ...extra },
    });

  /** Runs a task to its end and returns what it printed. */
  async function run(t: Task, keep = false): Promise<string[]> {
    await executor.prepare(t);
    await executor.start(t);
    expect((await executor.wait(t.id)).exitCode).toBe(0);
    if (!keep) await executor.remove(t.id);
    // Removing the task drains its output; a task kept may still have its last lines on their way after its exit.
    else await vi.waitFor(() => expect(logs.get(t.id)?.length).toBeGreaterThan(0), { timeout: 5_000 });
    return logs.get(t.id) ?? [];
  }

  const volumesDir = () => path.join(dir.path, 'agent', 'volumes');

  beforeAll(async () => {
    containerd = await startContainerd({ label: 'keys' });
    dir = tempDir('keys');
    registry = await startRegistry();
    image = (await pushTestImages(registry.address)).busybox.tag;
    executor = new ContainerdExecutor({
      socket: containerd.socket,
      namespace: containerd.namespace,
      stateDir: path.join(dir.path, 'agent'),
      images: new RegistrySource(new RegistryClient()),
      nodeId: 'node1',
      output: (taskId, _stream, lines) => logs.set(taskId, [...(logs.get(taskId) ?? []), ...lines]),
      imageGcIntervalMs: 0,
      seccomp: nodeSeccomp(),
    });
  });

  afterAll(async () => {
    executor?.close();
    // Whatever a failed test left mounted under the temp dir goes before the dir does.
    for (const [, at] of nodeMounts().filter(([, at]) => at?.startsWith(dir?.path ?? '\0'))) {
      const { execFileSync } = await import('node:child_process');
      execFileSync('umount', ['-l', at as string]);
    }
    await containerd?.destroy();
    await registry?.stop();
    dir?.remove();
  });

  it("puts the service's labels on the container; the flotilla.* labels stay the agent's", async () => {
    const t = task('true', { labels: { team: 'web', 'com.example.tier': 'front', 'flotilla.task.id': 'forged' } });
    await executor.prepare(t);
    const { container } = await executor.c.call<containersApi.GetContainerResponse>((md, o, cb) =>
      executor.c.containers.get(containersApi.GetContainerRequest.fromPartial({ id: t.id }), md, o, cb),
    );
    await executor.remove(t.id);
    expect(container?.labels).toMatchObject({
      team: 'web',
      'com.example.tier': 'front',
      'flotilla.task.id': t.id,
      'flotilla.service.name': 'st_web',
      'flotilla.node.id': 'node1',
    });
    expect(container?.labels['flotilla.task.id']).not.toBe('forged');
  });

  it('mounts a tmpfs with the size and mode asked', async () => {
    const tmpfs = Mount.fromPartial({
      type: Mount_Type.TYPE_TMPFS,
      target: '/run/app',
      tmpfsSizeBytes: 64n * 1024n * 1024n,
      tmpfsMode: 0o1777,
    });
    const out = await run(task('grep " /run/app " /proc/mounts; stat -c "%a" /run/app', { mounts: [tmpfs] }));
    expect(out[0]).toMatch(/^tmpfs \/run\/app tmpfs \S*size=65536k/);
    expect(out[1]).toBe('1777');
  });

  it('a tmpfs driver_opts volume is mounted on the node while tasks use it, shared by them, and unmounted after', async () => {
    const volume = Mount.fromPartial({
      type: Mount_Type.TYPE_VOLUME,
      source: 'st_scratch',
      target: '/data',
      volumeDriver: 'local',
      volumeDriverOpts: { type: 'tmpfs', device: 'tmpfs', o: 'size=8m,uid=1000,mode=0750' },
    });
    const where = path.join(volumesDir(), 'st_scratch');
    const writer = task('echo shared > /data/file; grep " /data " /proc/mounts', { mounts: [volume] });
    const [inside] = await run(writer, true);
    // In the container: the volume's tmpfs, with its size.
    expect(inside).toMatch(/^tmpfs \/data tmpfs \S*size=8192k/);
    const onNode = nodeMounts().find(([, at]) => at === where);
    expect(onNode?.[2]).toBe('tmpfs');
    expect(onNode?.[3]).toMatch(/size=8192k.*mode=750.*uid=1000|size=8192k.*uid=1000/);
    // A second task sees what the first wrote: one mount, two users.
    const reader = task('cat /data/file', { mounts: [volume] });
    expect(await run(reader, true)).toEqual(['shared']);
    await executor.remove(writer.id);
    expect(nodeMounts().some(([, at]) => at === where)).toBe(true);
    await executor.remove(reader.id);
    expect(nodeMounts().some(([, at]) => at === where)).toBe(false);
  });

  it('a bind driver_opts volume shows the host directory, and is let go after', async () => {
    const host = path.join(dir.path, 'host-data');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(host);
    writeFileSync(path.join(host, 'from-host'), 'hello from the host\n');
    const volume = Mount.fromPartial({
      type: Mount_Type.TYPE_VOLUME,
      source: 'st_bound',
      target: '/srv',
      volumeDriver: 'local',
      volumeDriverOpts: { type: 'none', o: 'bind', device: host },
    });
    const out = await run(task('cat /srv/from-host; echo back > /srv/from-task', { mounts: [volume] }));
    expect(out).toEqual(['hello from the host']);
    expect(readFileSync(path.join(host, 'from-task'), 'utf8')).toBe('back\n');
    expect(nodeMounts().some(([, at]) => at === path.join(volumesDir(), 'st_bound'))).toBe(false);
  });

  it('a failed mount fails the task with the volume and server named; a volume without driver_opts is a directory', async () => {
    const nfs = Mount.fromPartial({
      type: Mount_Type.TYPE_VOLUME,
      source: 'st_exports',
      target: '/exports',
      volumeDriver: 'local',
      // No NFS server on loopback: the kernel's client is refused at once; what matters is the message.
      volumeDriverOpts: { type: 'nfs', o: 'addr=127.0.0.1,nfsvers=4,soft,timeo=10,retrans=1', device: ':/export' },
    });
    const t = task('true', { mounts: [nfs] });
    await expect(executor.prepare(t)).rejects.toThrow(
      /^volume st_exports: mounting nfs :\/export from server 127\.0\.0\.1 at \S+st_exports failed: /,
    );
    await executor.remove(t.id);
    expect(nodeMounts().some(([, at]) => at === path.join(volumesDir(), 'st_exports'))).toBe(false);
    const plain = Mount.fromPartial({
      type: Mount_Type.TYPE_VOLUME,
      source: 'st_plain',
      target: '/p',
      volumeDriver: 'local',
    });
    expect(await run(task('echo ok > /p/x && cat /p/x', { mounts: [plain] }))).toEqual(['ok']);
    expect(nodeMounts().some(([, at]) => at === path.join(volumesDir(), 'st_plain'))).toBe(false);
  });
});
