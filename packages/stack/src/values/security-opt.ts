import { ValueError } from './value-error.js';

/**
 * One `security_opt` entry as Docker reads it: `seccomp=unconfined|FILE`, `no-new-privileges[:true|false]`, or an
 * option Flotilla does not apply (`label`, `apparmor`, `systempaths`, `writable-cgroups`), kept to be warned of.
 */
export type SecurityOpt =
  | { kind: 'seccomp'; value: string; raw: string }
  | { kind: 'no-new-privileges'; value: boolean; raw: string }
  | { kind: 'ignored'; name: string; raw: string };

const IGNORED: Record<string, string> = {
  label: 'SELinux labels',
  apparmor: 'AppArmor profiles',
  systempaths: 'unmasking system paths',
  'writable-cgroups': 'writable cgroups',
};

/** Parses an entry; the error says which forms there are. */
export function parseSecurityOpt(input: string | number): SecurityOpt {
  const raw = String(input).trim();
  // Docker takes "=" and, from older versions, ":" between the name and the value.
  const sep = raw.search(/[=:]/);
  const name = sep < 0 ? raw : raw.slice(0, sep);
  const value = sep < 0 ? undefined : raw.slice(sep + 1);
  if (name === 'seccomp') {
    if (!value) throw new ValueError('seccomp needs a value: seccomp=unconfined, or seccomp=FILE (a JSON profile)');
    return { kind: 'seccomp', value, raw };
  }
  if (name === 'no-new-privileges') {
    if (value === undefined || value === 'true') return { kind: 'no-new-privileges', value: true, raw };
    if (value === 'false') return { kind: 'no-new-privileges', value: false, raw };
    throw new ValueError(`no-new-privileges takes true or false, not "${value}"`);
  }
  if (IGNORED[name] !== undefined) return { kind: 'ignored', name, raw };
  throw new ValueError(
    `unknown security option "${raw}": use seccomp=unconfined, seccomp=FILE or no-new-privileges:true`,
  );
}

/** What a warning says of an option that is accepted but not applied. */
export function ignoredSecurityOpt(name: string): string {
  return `ignored: ${IGNORED[name] ?? name} are not applied by Flotilla; containers get Docker's default seccomp profile and capabilities`;
}
