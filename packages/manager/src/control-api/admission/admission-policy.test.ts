import { type ContainerSpec, Mount, Mount_Type, ServiceSpec } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { type AdmissionSettings, admissionRefusals } from './admission-policy.js';
import { allowedBindPrefixes, normalizeHostPath, sensitiveExposure } from './host-paths.js';

const baseline: AdmissionSettings = { profile: 'baseline', allowedBindPrefixes: [] };
const restricted: AdmissionSettings = { profile: 'restricted', allowedBindPrefixes: [] };
const privileged: AdmissionSettings = { profile: 'privileged', allowedBindPrefixes: [] };

function service(container: Partial<ContainerSpec>): ServiceSpec {
  return ServiceSpec.fromPartial({
    annotations: { name: 'web_api' },
    stack: 'web',
    container: { image: 'nginx', ...container },
  });
}

const bind = (source: string, bindCreateHostPath = false) =>
  Mount.fromPartial({ type: Mount_Type.TYPE_BIND, source, target: '/mnt', bindCreateHostPath });

/** The refused key paths for one service. */
function refused(container: Partial<ContainerSpec>, settings = baseline): string[] {
  return admissionRefusals([service(container)], settings).map((r) => r.path);
}

/** What a restricted service needs, so a test changes only what it checks. */
const compliant: Partial<ContainerSpec> = { user: '1000', noNewPrivileges: true };

describe('admission policy: baseline (the default)', () => {
  it("admits Docker's default sandbox and ordinary binds", () => {
    expect(refused({ mounts: [bind('/srv/data'), bind('/var/log/app'), bind('/home/u/site')] })).toEqual([]);
    expect(refused({ capAdd: ['chown', 'CAP_NET_BIND_SERVICE', 'NET_RAW'], hostNetwork: true, user: '0' })).toEqual([]);
  });

  it('refuses privileged mode, host PID and IPC namespaces, each at its key', () => {
    expect(refused({ privileged: true, pidHost: true, ipcHost: true })).toEqual([
      'services.api.privileged',
      'services.api.pid',
      'services.api.ipc',
    ]);
  });

  it("refuses capabilities beyond Docker's default set, ALL included, at their list index", () => {
    const found = admissionRefusals([service({ capAdd: ['CHOWN', 'net_admin', 'ALL', 'CAP_SYS_ADMIN'] })], baseline);
    expect(found.map((r) => r.path)).toEqual([
      'services.api.cap_add[1]',
      'services.api.cap_add[2]',
      'services.api.cap_add[3]',
    ]);
    expect(found[0]?.message).toContain('CAP_NET_ADMIN');
    expect(found[0]?.message).toContain('--security-profile privileged');
  });

  it.each([
    '/',
    '/etc',
    '/etc/ssl',
    '/proc',
    '/sys/fs/cgroup',
    '/dev',
    '/boot',
    '/usr/lib',
    '/var/run/docker.sock',
    '/run/containerd/containerd.sock',
    '/var/lib/containerd',
    '/var/lib/flotilla/agent',
    '/tmp/dev/containerd.sock',
    // Directories above a sensitive path expose it too.
    '/var',
    '/run',
    '/var/lib',
  ])('refuses a bind of %s', (source) => {
    expect(refused({ mounts: [bind('/srv/ok'), bind(source)] })).toEqual(['services.api.volumes[1]']);
  });

  it.each(['/etc/../etc', '//etc', '/etc/', '/./etc//ssl/', '/srv/../../etc'])(
    'normalizes %s before judging it',
    (source) => {
      expect(refused({ mounts: [bind(source)] })).toEqual(['services.api.volumes[0]']);
    },
  );

  it('names the sensitive path and the --allow-bind that lifts it, and refuses create_host_path there too', () => {
    const [found] = admissionRefusals([service({ mounts: [bind('/var/lib/containerd/x', true)] })], baseline);
    expect(found?.message).toContain('creating host path /var/lib/containerd/x');
    expect(found?.message).toContain('under /var/lib/containerd');
    expect(found?.message).toContain('flotilla cluster update --allow-bind /var/lib/containerd/x');
    expect(refused({ mounts: [bind('/srv/new', true)] })).toEqual([]);
  });

  it('refuses a bind source that is not absolute', () => {
    expect(refused({ mounts: [bind('etc')] })).toEqual(['services.api.volumes[0]']);
  });

  it('admits binds under an allowed prefix, and only there', () => {
    const allowed = { profile: 'baseline' as const, allowedBindPrefixes: ['/etc/ssl'] };
    expect(refused({ mounts: [bind('/etc/ssl/certs')] }, allowed)).toEqual([]);
    expect(refused({ mounts: [bind('/etc/ssl/../passwd')] }, allowed)).toEqual(['services.api.volumes[0]']);
    expect(refused({ mounts: [bind('/etc/ssl-other')] }, allowed)).toEqual(['services.api.volumes[0]']);
  });

  it('leaves named volumes and tmpfs alone, and reports services by their name in the stack file', () => {
    const mounts = [
      Mount.fromPartial({ type: Mount_Type.TYPE_VOLUME, source: 'web_data', target: '/data' }),
      Mount.fromPartial({ type: Mount_Type.TYPE_TMPFS, target: '/tmp' }),
    ];
    expect(refused({ mounts })).toEqual([]);
    const bare = ServiceSpec.fromPartial({ annotations: { name: 'solo' }, container: { privileged: true } });
    expect(admissionRefusals([bare], baseline).map((r) => r.path)).toEqual(['services.solo.privileged']);
  });
});

describe('admission policy: restricted', () => {
  it('admits a non-root service with no-new-privileges and no host binds', () => {
    expect(
      refused(
        {
          ...compliant,
          user: 'app:0',
          mounts: [Mount.fromPartial({ type: Mount_Type.TYPE_VOLUME, source: 'v', target: '/v' })],
        },
        restricted,
      ),
    ).toEqual([]);
  });

  it('refuses any host bind, host networking and seccomp=unconfined', () => {
    expect(
      refused(
        { ...compliant, mounts: [bind('/srv/data')], hostNetwork: true, seccompProfile: 'unconfined' },
        restricted,
      ),
    ).toEqual(['services.api.volumes[0]', 'services.api.network_mode', 'services.api.security_opt']);
  });

  it('admits binds under an allowed prefix', () => {
    const allowed = { profile: 'restricted' as const, allowedBindPrefixes: ['/srv'] };
    expect(refused({ ...compliant, mounts: [bind('/srv/data')] }, allowed)).toEqual([]);
  });

  it.each(['root', '0', '0:0', '00', 'root:users'])('refuses user %s', (user) => {
    expect(refused({ ...compliant, user }, restricted)).toEqual(['services.api.user']);
  });

  it("requires a user (the image's default cannot be checked) and no-new-privileges", () => {
    const found = admissionRefusals([service({ user: '' })], restricted);
    expect(found.map((r) => r.path)).toEqual(['services.api', 'services.api']);
    expect(found[0]?.message).toContain('cannot be checked at deploy');
    expect(found[1]?.message).toContain('no-new-privileges:true');
  });

  it('keeps every baseline refusal', () => {
    expect(refused({ ...compliant, privileged: true, capAdd: ['SYS_ADMIN'] }, restricted)).toEqual([
      'services.api.privileged',
      'services.api.cap_add[0]',
    ]);
  });
});

describe('admission policy: privileged', () => {
  it('admits everything', () => {
    const all = { privileged: true, pidHost: true, ipcHost: true, capAdd: ['ALL'], mounts: [bind('/')] };
    expect(refused(all, privileged)).toEqual([]);
  });
});

describe('host paths', () => {
  it('normalizes lexically and refuses relative paths', () => {
    expect(normalizeHostPath('/a/./b//c/../d/')).toBe('/a/b/d');
    expect(normalizeHostPath('/..')).toBe('/');
    expect(normalizeHostPath('a/b')).toBeUndefined();
  });

  it('counts only the path, what is under it and what holds it', () => {
    expect(sensitiveExposure('/etcetera')).toBeUndefined();
    expect(sensitiveExposure('/srv')).toBeUndefined();
    expect(sensitiveExposure('/var/log')).toBeUndefined();
    expect(sensitiveExposure('/var')?.sensitive).toBeDefined();
  });

  it('normalizes --allow-bind prefixes, drops empty ones (clearing) and refuses relative ones', () => {
    expect(allowedBindPrefixes(['/srv/', '//data/x/..', '/srv'])).toEqual(['/data', '/srv']);
    expect(allowedBindPrefixes([''])).toEqual([]);
    expect(() => allowedBindPrefixes(['srv'])).toThrow(/absolute host path/);
  });
});

describe('admission policy: volumes the node mounts from driver_opts', () => {
  const volume = (opts: Record<string, string>, volumeDriver = 'local') =>
    Mount.fromPartial({
      type: Mount_Type.TYPE_VOLUME,
      source: 'web_data',
      target: '/data',
      volumeDriver,
      volumeDriverOpts: opts,
    });

  it('admits tmpfs and nfs volumes, and binds of ordinary host paths', () => {
    const mounts = [
      volume({ type: 'tmpfs', o: 'size=100m' }),
      volume({ type: 'nfs', o: 'addr=10.0.0.1,rw', device: ':/export' }),
      volume({ type: 'none', o: 'bind', device: '/srv/data' }),
    ];
    expect(refused({ mounts })).toEqual([]);
  });

  it('applies the bind rules to an o: bind device, naming the volume', () => {
    const [found] = admissionRefusals(
      [service({ mounts: [volume({ type: 'none', o: 'bind', device: '/etc' })] })],
      baseline,
    );
    expect(found?.path).toBe('services.api.volumes[0]');
    expect(found?.message).toMatch(/^volume web_data \(driver_opts o: bind\): .*\/etc.*--allow-bind/);
    expect(refused({ mounts: [volume({ type: 'none', o: 'bind', device: '/srv/x' })] }, restricted)).toContain(
      'services.api.volumes[0]',
    );
  });

  it("refuses a filesystem on the node's devices unless privileged; another driver mounts nothing", () => {
    const disk = volume({ type: 'ext4', device: '/dev/sdb1' });
    const [found] = admissionRefusals([service({ mounts: [disk] })], baseline);
    expect(found?.message).toMatch(/mounts ext4 from the node's \/dev\/sdb1.*--security-profile privileged/);
    expect(refused({ mounts: [disk] }, privileged)).toEqual([]);
    expect(refused({ mounts: [volume({ type: 'ext4', device: '/dev/sdb1' }, 'rexray')] })).toEqual([]);
  });
});
