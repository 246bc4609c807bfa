import { Mount_Type, Task } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { boundingCapabilities } from './capabilities.js';
import { buildRuntimeSpec, containerArgs, containerEnv, type SpecContext } from './runtime-spec.js';
import { resolveUser } from './user-lookup.js';

const ctx: SpecContext = {
  volumesDir: '/var/lib/flotilla/volumes',
  etcFiles: { hosts: '/s/hosts', hostname: '/s/hostname', resolvConf: '/s/resolv.conf' },
  initPath: '/usr/bin/tini-static',
  cgroupsPath: '/flotilla/ns/t1',
  seccomp: {
    profile: {
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 1,
      archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }],
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
        { names: ['chroot'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_CHROOT'] } },
      ],
    },
    arch: 'x64',
    kernel: '6.1.0',
  },
};

// Loosely typed on purpose: ts-proto's exact-type checks reject spreads of partial specs.
type SpecInput = Record<string, unknown>;

function task(spec: SpecInput, limits: { memoryBytes?: bigint; nanoCpus?: bigint; pids?: bigint } = {}) {
  return Task.fromPartial({
    id: 't1234567890abcdef',
    spec: { image: 'img', ...spec },
    resources: { limits },
  } as Parameters<typeof Task.fromPartial>[0]);
}

type Spec = {
  process: {
    args: string[];
    env: string[];
    cwd: string;
    user: { uid: number; gid: number };
    capabilities: { bounding: string[] };
    rlimits: unknown[];
    noNewPrivileges: boolean;
  };
  root: { readonly: boolean };
  hostname: string;
  mounts: { destination: string; type: string; source: string; options: string[] }[];
  linux: {
    namespaces: { type: string; path?: string }[];
    resources: Record<string, unknown>;
    sysctl: Record<string, string>;
    maskedPaths: string[];
    seccomp?: { defaultAction: string; architectures: string[]; syscalls: { names: string[]; action: string }[] };
  };
};
const build = (t: Task, image = {}, c: Partial<SpecContext> = {}) =>
  buildRuntimeSpec(t, image, { ...ctx, ...c }) as unknown as Spec;

describe('container command and environment', () => {
  it('uses the image entrypoint and cmd unless the service overrides them, as Docker does', () => {
    const image = { Entrypoint: ['/entry'], Cmd: ['serve'] };
    expect(containerArgs(task({}), image)).toEqual(['/entry', 'serve']);
    expect(containerArgs(task({ command: ['run'], commandSet: true }), image)).toEqual(['/entry', 'run']);
    // A new entrypoint drops the image's CMD.
    expect(containerArgs(task({ entrypoint: ['/other'], entrypointSet: true }), image)).toEqual(['/other']);
    expect(() => containerArgs(task({}), {})).toThrow(/no entrypoint or command/);
  });

  it('merges env with the service winning and a default PATH', () => {
    const env = containerEnv(task({ env: ['A=service', 'C=3'] }), { Env: ['A=image', 'B=2'] });
    expect(env).toEqual(['A=service', 'B=2', 'C=3', expect.stringMatching(/^PATH=/)]);
  });

  it('accepts numeric users and says what to write for names', () => {
    expect(resolveUser('1000')).toEqual({ uid: 1000, gid: 0 });
    expect(resolveUser('1000:50')).toEqual({ uid: 1000, gid: 50 });
    expect(resolveUser('')).toEqual({ uid: 0, gid: 0 });
    expect(() => resolveUser('www-data')).toThrow(/user name, or a numeric uid/);
  });
});

describe('runtime spec', () => {
  it('applies limits: memory (no swap past it), CPU as a CFS quota, pids', () => {
    const s = build(
      task({ command: ['x'], commandSet: true }, { memoryBytes: 64n << 20n, nanoCpus: 500_000_000n, pids: 100n }),
    );
    expect(s.linux.resources).toMatchObject({
      memory: { limit: 64 << 20, swap: 64 << 20 },
      cpu: { quota: 50_000, period: 100_000 },
      pids: { limit: 100 },
    });
  });

  it('runs tini first with init: true, mounted read-only from the node', () => {
    const s = build(task({ command: ['app'], commandSet: true, init: true }));
    expect(s.process.args).toEqual(['/sbin/flotilla-init', '--', 'app']);
    expect(s.mounts).toContainEqual(
      expect.objectContaining({ destination: '/sbin/flotilla-init', source: '/usr/bin/tini-static', type: 'bind' }),
    );
  });

  it('maps mounts: named volumes under the state dir, binds, tmpfs with size, read-only root', () => {
    const s = build(
      task({
        command: ['x'],
        commandSet: true,
        readOnly: true,
        mounts: [
          { type: Mount_Type.TYPE_VOLUME, source: 'web_data', target: '/data' },
          { type: Mount_Type.TYPE_BIND, source: '/srv/conf', target: '/conf', readOnly: true },
          { type: Mount_Type.TYPE_TMPFS, target: '/scratch', tmpfsSizeBytes: 1048576n },
        ],
      }),
    );
    expect(s.root.readonly).toBe(true);
    const by = (d: string) => s.mounts.find((m) => m.destination === d);
    expect(by('/data')).toMatchObject({
      source: '/var/lib/flotilla/volumes/web_data',
      options: expect.arrayContaining(['rw']),
    });
    expect(by('/conf')).toMatchObject({ source: '/srv/conf', options: expect.arrayContaining(['ro', 'rprivate']) });
    expect(by('/scratch')).toMatchObject({ type: 'tmpfs', options: expect.arrayContaining(['size=1048576']) });
  });

  it('refuses a volume name that could leave the volumes directory', () => {
    const t = task({
      command: ['x'],
      commandSet: true,
      mounts: [{ type: Mount_Type.TYPE_VOLUME, source: '../etc', target: '/x' }],
    });
    expect(() => build(t)).toThrow(/needs a name/);
  });

  it('adds and drops capabilities, ulimits and sysctls', () => {
    const s = build(
      task({
        command: ['x'],
        commandSet: true,
        capAdd: ['NET_ADMIN'],
        capDrop: ['CHOWN'],
        ulimits: [{ name: 'nofile', soft: 1024n, hard: 2048n }],
        sysctls: { 'net.core.somaxconn': '1024' },
      }),
    );
    expect(s.process.capabilities.bounding).toContain('CAP_NET_ADMIN');
    expect(s.process.capabilities.bounding).not.toContain('CAP_CHOWN');
    expect(s.process.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 }]);
    expect(s.linux.sysctl).toEqual({ 'net.core.somaxconn': '1024' });
    expect(() =>
      build(task({ command: ['x'], commandSet: true, ulimits: [{ name: 'bogus', soft: 1n, hard: 1n }] })),
    ).toThrow(/ulimit "bogus"/);
  });

  it('joins the network namespace it is given, or a private one, or none for host networking', () => {
    const net = (c: Partial<SpecContext>) =>
      build(task({ command: ['x'], commandSet: true }), {}, c).linux.namespaces.find((n) => n.type === 'network');
    expect(net({})).toEqual({ type: 'network' });
    expect(net({ netns: '/run/netns/x' })).toEqual({ type: 'network', path: '/run/netns/x' });
    expect(net({ netns: 'host' })).toBeUndefined();
  });

  it('uses the service user, directory and hostname, falling back to the image and task ID', () => {
    const s = build(task({ command: ['x'], commandSet: true, user: '33:33' }), { WorkingDir: '/app' });
    expect(s.process.user).toEqual({ uid: 33, gid: 33 });
    expect(s.process.cwd).toBe('/app');
    expect(s.hostname).toBe('t1234567890a');
  });
});

describe('seccomp and no-new-privileges', () => {
  const run = (spec: SpecInput) => task({ command: ['app'], commandSet: true, ...spec });

  it("filters with the node's default profile, for the container's capabilities", () => {
    const spec = build(run({}));
    expect(spec.linux.seccomp?.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(spec.linux.seccomp?.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']);
    // CAP_SYS_CHROOT is among Docker's defaults, so chroot is allowed; dropped, it is not.
    expect(spec.linux.seccomp?.syscalls.flatMap((r) => r.names)).toEqual(['read', 'write', 'chroot']);
    const dropped = build(run({ capDrop: ['SYS_CHROOT'] }));
    expect(dropped.linux.seccomp?.syscalls.flatMap((r) => r.names)).toEqual(['read', 'write']);
    expect(spec.process.noNewPrivileges).toBe(false);
    expect(spec.linux.maskedPaths).toContain('/sys/devices/virtual/powercap');
  });

  it('runs unconfined only when the service asks, and uses a profile the service sends', () => {
    expect(build(run({ seccompProfile: 'unconfined' })).linux.seccomp).toBeUndefined();
    const own = JSON.stringify({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['ptrace'], action: 'SCMP_ACT_ERRNO' }],
    });
    const spec = build(run({ seccompProfile: own }));
    expect(spec.linux.seccomp).toMatchObject({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['ptrace'], action: 'SCMP_ACT_ERRNO' }],
    });
  });

  it('refuses a task rather than run it unconfined when the node has no profile, and a profile that is not one', () => {
    expect(() => build(run({}), {}, { seccomp: undefined })).toThrow(/no default seccomp profile.*install/);
    expect(() => build(run({ seccompProfile: '{"syscalls":[]}' }))).toThrow(/defaultAction/);
  });

  it('sets no-new-privileges when the service asks for it', () => {
    expect(build(run({ noNewPrivileges: true })).process.noNewPrivileges).toBe(true);
  });
});

const run = { command: ['sleep', '1'], commandSet: true };

describe('privileged, pid: host, ipc: host (admitted only under the privileged security profile)', () => {
  it('privileged: every capability, no seccomp, nothing masked, /sys writable; host devices still out', () => {
    const spec = build(
      task({ ...run, privileged: true }),
      {},
      { privilegedCapabilities: ['CAP_CHOWN', 'CAP_SYS_ADMIN'] },
    );
    expect(spec.process.capabilities.bounding).toEqual(['CAP_CHOWN', 'CAP_SYS_ADMIN']);
    expect(spec.linux.seccomp).toBeUndefined();
    expect(spec.linux.maskedPaths).toEqual([]);
    expect(spec.mounts.find((m) => m.destination === '/sys')?.options).toContain('rw');
    expect(spec.linux.resources.devices).toEqual([{ allow: false, access: 'rwm' }]);
  });

  it("not privileged: Docker's sandbox stays", () => {
    const spec = build(task(run));
    expect(spec.process.capabilities.bounding).not.toContain('CAP_SYS_ADMIN');
    expect(spec.linux.seccomp).toBeDefined();
    expect(spec.linux.maskedPaths.length).toBeGreaterThan(0);
    expect(spec.mounts.find((m) => m.destination === '/sys')?.options).toContain('ro');
  });

  it('pid: host and ipc: host leave out their namespaces, and only theirs', () => {
    const types = (s: SpecInput) => build(task({ ...run, ...s })).linux.namespaces.map((n) => n.type);
    expect(types({})).toEqual(expect.arrayContaining(['pid', 'ipc', 'uts', 'mount']));
    expect(types({ pidHost: true })).not.toContain('pid');
    expect(types({ pidHost: true })).toContain('ipc');
    expect(types({ ipcHost: true })).not.toContain('ipc');
    expect(types({ ipcHost: true })).toContain('pid');
  });
});

describe('boundingCapabilities', () => {
  it("reads a process's bounding set by capability number, leaving out what the mask lacks", () => {
    // All of 0-40 but bit 24 (CAP_SYS_RESOURCE), as a node inside a container may have it.
    const caps = boundingCapabilities('Name:\tx\nCapBnd:\t000001fffeffffff\nCapAmb:\t0\n');
    expect(caps).toHaveLength(40);
    expect(caps).toContain('CAP_SYS_ADMIN');
    expect(caps).not.toContain('CAP_SYS_RESOURCE');
    expect(boundingCapabilities('CapBnd:\t00000000a80425fb\n')).toHaveLength(14);
  });
});
