import { existsSync, readFileSync, statSync } from 'node:fs';
import { release } from 'node:os';

/**
 * Where Debian ships Docker's default seccomp profile (golang-github-docker-docker-dev) and the containers-common
 * one (golang-github-containers-common), in the order they are looked for. Both have the same format and rules.
 */
export const DEFAULT_SECCOMP_PROFILE_PATHS = [
  '/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json',
  '/usr/share/containers/seccomp.json',
];

/** A profile larger than this is refused: Docker's is about 16 KiB. */
export const MAX_SECCOMP_PROFILE_BYTES = 256 * 1024;

/** The conditions a rule of a Docker-format profile applies under. */
interface Conditions {
  arches?: string[] | null;
  caps?: string[] | null;
  minKernel?: string | null;
}

interface ProfileArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

interface ProfileRule {
  name?: string;
  names?: string[] | null;
  action: string;
  args?: ProfileArg[] | null;
  errnoRet?: number;
  includes?: Conditions | null;
  excludes?: Conditions | null;
}

/** A seccomp profile in Docker's format (what `docker run --security-opt seccomp=FILE` reads). */
export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[] | null;
  archMap?: { architecture: string; subArchitectures?: string[] | null }[] | null;
  flags?: string[] | null;
  syscalls?: ProfileRule[] | null;
}

/** The seccomp section of an OCI runtime spec (`linux.seccomp`). */
export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  flags?: string[];
  syscalls: { names: string[]; action: string; errnoRet?: number; args?: ProfileArg[] }[];
}

/** What the rules depend on: the node's architecture and kernel, and the container's capabilities. */
export interface SeccompTarget {
  /** Node's `process.arch` (x64, arm64, …). */
  arch: string;
  /** The container's capabilities, `CAP_` names. */
  capabilities: readonly string[];
  /** The kernel release (`uname -r`). */
  kernel: string;
}

/** Node's architecture names as Go (and so the profiles' `arches`) and libseccomp name them. */
const ARCHES: Record<string, { go: string; scmp: string }> = {
  x64: { go: 'amd64', scmp: 'SCMP_ARCH_X86_64' },
  arm64: { go: 'arm64', scmp: 'SCMP_ARCH_AARCH64' },
  arm: { go: 'arm', scmp: 'SCMP_ARCH_ARM' },
  ia32: { go: '386', scmp: 'SCMP_ARCH_X86' },
  ppc64: { go: 'ppc64le', scmp: 'SCMP_ARCH_PPC64LE' },
  s390x: { go: 's390x', scmp: 'SCMP_ARCH_S390X' },
  riscv64: { go: 'riscv64', scmp: 'SCMP_ARCH_RISCV64' },
  mips64el: { go: 'mips64le', scmp: 'SCMP_ARCH_MIPSEL64' },
};

/**
 * Parses a profile's text, checking what the conversion relies on; the error says what is wrong, for `where` (a
 * file name, or "the service's seccomp profile").
 */
export function parseSeccompProfile(text: string, where: string): SeccompProfile {
  if (Buffer.byteLength(text) > MAX_SECCOMP_PROFILE_BYTES) {
    throw new Error(`${where}: a seccomp profile may be at most ${MAX_SECCOMP_PROFILE_BYTES / 1024} KiB`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`${where}: not JSON (${(err as Error).message})`);
  }
  const profile = value as SeccompProfile;
  if (typeof value !== 'object' || value === null || typeof profile.defaultAction !== 'string') {
    throw new Error(`${where}: a seccomp profile is a JSON object with a defaultAction (Docker's format)`);
  }
  for (const [i, rule] of (profile.syscalls ?? []).entries()) {
    const names = rule?.names ?? (rule?.name ? [rule.name] : []);
    if (typeof rule?.action !== 'string' || !Array.isArray(names) || names.some((n) => typeof n !== 'string')) {
      throw new Error(`${where}: syscalls[${i}] needs names (strings) and an action`);
    }
  }
  return profile;
}

/** Reads the default profile from the first of `paths` that exists; undefined when none does. */
export function loadDefaultSeccompProfile(
  paths: readonly string[] = DEFAULT_SECCOMP_PROFILE_PATHS,
): { path: string; profile: SeccompProfile } | undefined {
  const found = paths.find((p) => existsSync(p) && statSync(p).isFile());
  if (!found) return undefined;
  return { path: found, profile: parseSeccompProfile(readFileSync(found, 'utf8'), found) };
}

/**
 * The node's default profile (from `file`, or the first of the default paths) with this node's architecture and
 * kernel; throws, saying what to install, when there is none.
 */
export function nodeSeccomp(file?: string): { profile: SeccompProfile; arch: string; kernel: string } {
  const loaded = loadDefaultSeccompProfile(file ? [file] : DEFAULT_SECCOMP_PROFILE_PATHS);
  if (!loaded) {
    const where = file ?? DEFAULT_SECCOMP_PROFILE_PATHS.join(' or ');
    throw new Error(
      `no seccomp profile at ${where}: install golang-github-containers-common (or give --seccomp-profile FILE); containers do not run without one`,
    );
  }
  return { profile: loaded.profile, arch: process.arch, kernel: release() };
}

/**
 * Converts a Docker-format profile to the OCI spec's seccomp section for one container, as Docker does: the
 * native architecture and its sub-architectures only, and each rule only when its conditions hold (the node's
 * architecture, a minimum kernel, capabilities the container has or lacks). A container with CAP_SYS_ADMIN, say,
 * is allowed the calls that capability is for.
 */
export function ociSeccomp(profile: SeccompProfile, target: SeccompTarget): OciSeccomp {
  const arch = ARCHES[target.arch];
  const native = arch ? (profile.archMap ?? []).find((a) => a.architecture === arch.scmp) : undefined;
  const architectures = native
    ? [native.architecture, ...(native.subArchitectures ?? [])]
    : [...(profile.architectures ?? [])];
  const caps = new Set(target.capabilities);
  const applies = (rule: ProfileRule) => {
    const inc = rule.includes ?? {};
    const exc = rule.excludes ?? {};
    if ((inc.arches ?? []).length > 0 && !(arch && inc.arches?.includes(arch.go))) return false;
    if (arch && exc.arches?.includes(arch.go)) return false;
    if ((inc.caps ?? []).some((c) => !caps.has(c))) return false;
    if ((exc.caps ?? []).some((c) => caps.has(c))) return false;
    if (inc.minKernel && compareKernels(target.kernel, inc.minKernel) < 0) return false;
    if (exc.minKernel && compareKernels(target.kernel, exc.minKernel) >= 0) return false;
    return true;
  };
  const syscalls = (profile.syscalls ?? []).filter(applies).map((rule) => ({
    names: rule.names ?? (rule.name ? [rule.name] : []),
    action: rule.action,
    ...(rule.errnoRet !== undefined ? { errnoRet: rule.errnoRet } : {}),
    ...(rule.args && rule.args.length > 0
      ? { args: rule.args.map((a) => ({ index: a.index, value: a.value, valueTwo: a.valueTwo ?? 0, op: a.op })) }
      : {}),
  }));
  return {
    defaultAction: profile.defaultAction,
    ...(profile.defaultErrnoRet !== undefined ? { defaultErrnoRet: profile.defaultErrnoRet } : {}),
    architectures,
    ...(profile.flags && profile.flags.length > 0 ? { flags: profile.flags } : {}),
    syscalls,
  };
}

/** Compares kernel releases by their leading numbers ("6.1.0-18-amd64" against "5.8"). */
function compareKernels(a: string, b: string): number {
  const parts = (v: string) => (v.match(/^\d+(\.\d+)*/)?.[0] ?? '0').split('.').map(Number);
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
