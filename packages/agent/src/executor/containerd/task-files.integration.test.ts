import { existsSync, readFileSync, statfsSync } from 'node:fs';
import path from 'node:path';
import { Task, TaskState } from '@flotilla/api';
import { RegistryClient } from '@flotilla/registry';
import {
  pushTestImages,
  startContainerd,
  startRegistry,
  type TestContainerd,
  type TestRegistry,
  tempDir,
} from '@flotilla/test-servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskFileContent } from '../executor.js';
import { ContainerdExecutor } from './containerd-executor.js';
import { RegistrySource } from './registry-source.js';
import { nodeSeccomp } from './seccomp-profile.js';

const root = process.getuid?.() === 0;
const seccomp = nodeSeccomp();
/** statfs(2)'s f_type of a tmpfs. */
const TMPFS_MAGIC = 0x01021994;

let IMAGE = '';
let seq = 0;
const id = () => `f${Date.now().toString(36)}${(seq++).toString(36)}xxxxxxxxxxxxxxxxxx`.slice(0, 25);

function task(taskId: string, command: string[]): Task {
  return Task.fromPartial({
    id: taskId,
    serviceId: 'svc1',
    serviceName: 'app_web',
    slot: 1n,
    desiredState: TaskState.TASK_STATE_RUNNING,
    spec: { image: IMAGE, command, commandSet: true },
  });
}

const SECRET = 'hunter2-not-on-disk';
const CONFIG = 'listen 8080';
const files = (): TaskFileContent[] => [
  {
    kind: 'secret',
    ref: { source: 'db_pw', target: '', uid: '', gid: '', mode: 0, objectId: 'o1' },
    data: Buffer.from(SECRET),
  },
  {
    kind: 'config',
    ref: { source: 'app_conf', target: '/etc/app/app.conf', uid: '1000', gid: '1001', mode: 0o440, objectId: 'o2' },
    data: Buffer.from(CONFIG),
  },
];

/** Mount points of the node (the test's mount namespace, which is the agent's). */
const nodeMounts = () =>
  readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '));

describe.skipIf(!root)('secrets and configs in containers (real containerd + runc)', () => {
  let containerd: TestContainerd;
  let dir: ReturnType<typeof tempDir>;
  let registry: TestRegistry;
  let source: RegistrySource;
  let executor: ContainerdExecutor;
  const logs = new Map<string, string[]>();
  const stateDir = () => path.join(dir.path, 'agent');

  const make = () =>
    new ContainerdExecutor({
      socket: containerd.socket,
      namespace: containerd.namespace,
      stateDir: stateDir(),
      images: source,
      nodeId: 'node1',
      output: (taskId, _stream, lines) => logs.set(taskId, [...(logs.get(taskId) ?? []), ...lines]),
      imageGcIntervalMs: 0,
      seccomp,
    });

  beforeAll(async () => {
    containerd = await startContainerd({ label: 'files' });
    dir = tempDir('files');
    registry = await startRegistry();
    IMAGE = (await pushTestImages(registry.address)).busybox.tag;
    source = new RegistrySource(new RegistryClient());
    executor = make();
  });

  afterAll(async () => {
    executor?.close();
    await containerd?.destroy();
    await registry?.stop();
    // Nothing of the tests may stay mounted.
    if (dir) for (const taskId of executor?.files.tasks() ?? []) await executor.files.unmount(taskId);
    dir?.remove();
  });

  it('a container reads its secret at /run/secrets/NAME and its config at its target, read-only, with the mode and owner asked, from a tmpfs gone with the task', async () => {
    const t = task(id(), [
      'sh',
      '-c',
      [
        'echo "secret=$(cat /run/secrets/db_pw)"',
        'echo "config=$(cat /etc/app/app.conf)"',
        'stat -c "mode %a %u %g %n" /run/secrets/db_pw /etc/app/app.conf',
        'grep -E " (/run/secrets/db_pw|/etc/app/app.conf) " /proc/mounts | while read -r _ where type _; do echo "fs $where $type"; done',
        'echo x 2>/dev/null > /run/secrets/db_pw && echo writable || echo read-only',
        'hello-from-config',
      ].join('; '),
    ]);
    // A config may be a script the service runs (mode 0555).
    const script: TaskFileContent = {
      kind: 'config',
      ref: { source: 'hello', target: '/bin/hello-from-config', uid: '', gid: '', mode: 0o555, objectId: 'o3' },
      data: Buffer.from('#!/bin/sh\necho "config script ran"\n'),
    };
    await executor.prepare(t, undefined, [...files(), script]);
    // On the node: a tmpfs of the task's, under the agent's state directory, its files there and nowhere else.
    const where = path.join(stateDir(), 'files', t.id);
    expect(nodeMounts().some(([, at, type]) => at === where && type === 'tmpfs')).toBe(true);
    expect(executor.files.tasks()).toContain(t.id);
    expect(statfsSync(path.join(where, '0')).type).toBe(TMPFS_MAGIC);
    await executor.start(t);
    expect((await executor.wait(t.id)).exitCode).toBe(0);
    const out = logs.get(t.id) ?? [];
    expect(out).toContain(`secret=${SECRET}`);
    expect(out).toContain(`config=${CONFIG}`);
    expect(out).toContain('mode 444 0 0 /run/secrets/db_pw');
    expect(out).toContain('mode 440 1000 1001 /etc/app/app.conf');
    expect(out).toContain('fs /run/secrets/db_pw tmpfs');
    expect(out).toContain('fs /etc/app/app.conf tmpfs');
    expect(out).toContain('read-only');
    expect(out).not.toContain('writable');
    expect(out).toContain('config script ran');

    await executor.remove(t.id);
    expect(executor.files.tasks()).not.toContain(t.id);
    expect(nodeMounts().some(([, at]) => at === where)).toBe(false);
    expect(existsSync(where)).toBe(false);
  });

  it('a task without secrets or configs gets no tmpfs; a secret target leading out of /run/secrets is refused', async () => {
    const plain = task(id(), ['true']);
    await executor.prepare(plain);
    expect(executor.files.tasks()).not.toContain(plain.id);
    await executor.remove(plain.id);
    const escaping = task(id(), ['true']);
    const bad: TaskFileContent = {
      kind: 'secret',
      ref: { source: 'db_pw', target: '../../etc/passwd', uid: '', gid: '', mode: 0, objectId: 'o1' },
      data: Buffer.from(SECRET),
    };
    await expect(executor.prepare(escaping, undefined, [bad])).rejects.toMatchObject({ code: 'rejected' });
    await executor.remove(escaping.id);
    expect(executor.files.tasks()).not.toContain(escaping.id);
  });

  it("an agent restart clears the node's tmpfs left from before; an adopted container still reads its files", async () => {
    const t = task(id(), ['sh', '-c', 'while true; do sleep 0.2; done']);
    await executor.prepare(t, undefined, files());
    await executor.start(t);
    executor.close();
    // The agent again, as after a crash: what the last one left on the node goes at start.
    executor = make();
    await expect
      .poll(() => executor.files.tasks().includes(t.id) || existsSync(path.join(stateDir(), 'files', t.id)), {
        timeout: 10_000,
      })
      .toBe(false);
    expect(await executor.adopt(t)).toBe(true);
    const read = await executor.exec(t.id, ['cat', '/run/secrets/db_pw', '/etc/app/app.conf'], 5_000);
    expect(read).toMatchObject({ exitCode: 0, output: `${SECRET}${CONFIG}` });
    await executor.shutdown(t.id, 'SIGKILL', 1_000);
    await executor.remove(t.id);
  });
});
