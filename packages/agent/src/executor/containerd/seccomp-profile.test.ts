import { describe, expect, it } from 'vitest';
import { DEFAULT_CAPABILITIES } from './capabilities.js';
import { loadDefaultSeccompProfile, nodeSeccomp, ociSeccomp, parseSeccompProfile } from './seccomp-profile.js';

// The profile Debian ships (installed by the project's scripts), converted as Docker converts it.
const installed = loadDefaultSeccompProfile();

const names = (caps: readonly string[], arch = 'x64', kernel = '6.1.0') => {
  if (!installed) throw new Error('no seccomp profile installed: apt-get install golang-github-containers-common');
  const oci = ociSeccomp(installed.profile, { arch, capabilities: caps, kernel });
  return {
    oci,
    allowed: new Set(oci.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW').flatMap((r) => r.names)),
  };
};

describe("Debian's default seccomp profile, converted for a container", () => {
  it('denies by default, for the native architecture and its sub-architectures only', () => {
    const { oci, allowed } = names(DEFAULT_CAPABILITIES);
    expect(oci.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(oci.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    expect(allowed.has('read')).toBe(true);
    expect(allowed.has('arch_prctl')).toBe(true);
    // Rules for other architectures are left out.
    expect(allowed.has('arm_fadvise64_64')).toBe(false);
    expect(names(DEFAULT_CAPABILITIES, 'arm64').oci.architectures).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    expect(names(DEFAULT_CAPABILITIES, 'arm64').allowed.has('arm_fadvise64_64')).toBe(true);
  });

  it("allows what a capability is for only to a container that has it, as Docker's conversion does", () => {
    expect(names(DEFAULT_CAPABILITIES).allowed.has('bpf')).toBe(false);
    expect(names(DEFAULT_CAPABILITIES).allowed.has('chroot')).toBe(true);
    const admin = names([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN']).allowed;
    expect(admin.has('bpf')).toBe(true);
    expect(names(DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_SYS_CHROOT')).allowed.has('chroot')).toBe(false);
  });

  it('keeps a minimum-kernel rule only on a kernel that new', () => {
    const profile = parseSeccompProfile(
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ERRNO',
        syscalls: [{ names: ['newcall'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '5.8' } }],
      }),
      'test',
    );
    const on = (kernel: string) => ociSeccomp(profile, { arch: 'x64', capabilities: [], kernel }).syscalls.length;
    expect(on('5.4.0-150-generic')).toBe(0);
    expect(on('5.8')).toBe(1);
    expect(on('6.18.44-fc')).toBe(1);
  });

  it('refuses what is not a profile, and one too large, saying where', () => {
    expect(() => parseSeccompProfile('{', 'prof.json')).toThrow(/prof\.json: not JSON/);
    expect(() => parseSeccompProfile('[]', 'prof.json')).toThrow(/defaultAction/);
    expect(() =>
      parseSeccompProfile('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":[1]}]}', 'prof.json'),
    ).toThrow(/syscalls\[0\]/);
    expect(() => parseSeccompProfile(`{"defaultAction":"${'x'.repeat(300_000)}"}`, 'big.json')).toThrow(/256 KiB/);
  });

  it('says what to install when a node has no profile: its agent then does not run containers', () => {
    expect(() => nodeSeccomp('/nonexistent/seccomp.json')).toThrow(
      /no seccomp profile at \/nonexistent\/seccomp\.json: install golang-github-containers-common/,
    );
    expect(nodeSeccomp().profile.defaultAction).toBe('SCMP_ACT_ERRNO');
  });
});
