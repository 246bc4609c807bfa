import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Task } from '@flotilla/api';
import { afterEach, describe, expect, it } from 'vitest';
import { limitsOf, requestedKinds } from '../task-limits.js';
import { decideCgroups, detectCgroups, planLimits } from './cgroup-layout.js';

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A directory laid out like a cgroup filesystem's root: files are created empty unless given content. */
function fakeRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'flotilla-cgroup-'));
  made.push(root);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

describe('which cgroups the machine has', () => {
  it('finds the unified hierarchy (v2) and the controllers its root offers', () => {
    const root = fakeRoot({ 'cgroup.controllers': 'cpuset cpu io pids\n' });
    const layout = detectCgroups(root);
    expect(layout).toMatchObject({ version: 2, root });
    expect(layout.version === 2 && [...layout.controllers]).toEqual(['cpuset', 'cpu', 'io', 'pids']);
  });

  it('finds separate v1 hierarchies, whichever are mounted', () => {
    const root = fakeRoot({ 'memory/cgroup.procs': '', 'cpu/cgroup.procs': '', 'unified/cgroup.procs': '' });
    const layout = detectCgroups(root);
    expect(layout.version).toBe(1);
    expect(layout.version === 1 && [...layout.hierarchies.keys()]).toEqual(['memory', 'cpu']);
  });

  it('finds nothing in a directory that is not a cgroup filesystem', () => {
    const root = fakeRoot({});
    expect(detectCgroups(root)).toEqual({ version: 0, root, why: `no cgroup filesystem at ${root}` });
    expect(detectCgroups(join(root, 'missing')).version).toBe(0);
  });
});

describe('whether an agent puts tasks in cgroups', () => {
  const v1 = () => detectCgroups(fakeRoot({ 'memory/cgroup.procs': '' }));

  it('does by default as root with a cgroup filesystem', () => {
    expect(decideCgroups(undefined, { isRoot: true, layout: v1 })).toMatchObject({ use: true });
    expect(decideCgroups(true, { isRoot: true, layout: v1 })).toMatchObject({ use: true });
  });

  it('does not without root, without a cgroup filesystem, or when turned off, and says why', () => {
    expect(decideCgroups(undefined, { isRoot: false, layout: v1 })).toEqual({
      use: false,
      why: 'the agent is not running as root, so it cannot create cgroups',
    });
    expect(decideCgroups(true, { isRoot: false, layout: v1 })).toMatchObject({ use: false });
    const none = fakeRoot({});
    expect(decideCgroups(undefined, { isRoot: true, layout: () => detectCgroups(none) })).toEqual({
      use: false,
      why: `no cgroup filesystem at ${none}`,
    });
    expect(decideCgroups(false, { isRoot: true, layout: v1 })).toMatchObject({ use: false, why: /turned off/ });
  });

  it('names each limit a missing controller leaves out', () => {
    const v2 = detectCgroups(fakeRoot({ 'cgroup.controllers': 'cpu pids' }));
    if (v2.version !== 2) throw new Error('expected v2');
    expect(planLimits(v2, ['memory', 'cpu', 'pids'])).toEqual([
      {
        kind: 'memory',
        why: expect.stringMatching(/^the memory controller is not available in .*cgroup.controllers$/),
      },
    ]);
    const layout = v1();
    if (layout.version !== 1) throw new Error('expected v1');
    expect(planLimits(layout, ['memory', 'pids'])).toEqual([
      { kind: 'pids', why: expect.stringMatching(/^no pids hierarchy is mounted at /) },
    ]);
  });
});

describe("a task's limits", () => {
  it('are read from the task, zero meaning none', () => {
    const task = Task.fromPartial({ resources: { limits: { memoryBytes: 2n ** 25n, nanoCpus: 0n, pids: 5n } } });
    expect(limitsOf(task)).toEqual({ memoryBytes: 2 ** 25, nanoCpus: 0, pids: 5 });
    expect(requestedKinds(limitsOf(task))).toEqual(['memory', 'pids']);
    expect(requestedKinds(limitsOf(Task.fromPartial({})))).toEqual([]);
  });
});
