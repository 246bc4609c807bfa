import { readFileSync } from 'node:fs';
import { capabilityName, DEFAULT_CAPABILITIES } from '@flotilla/api';

export { DEFAULT_CAPABILITIES };

export const ALL_CAPABILITIES = [
  ...DEFAULT_CAPABILITIES,
  'CAP_DAC_READ_SEARCH',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_LEASE',
  'CAP_AUDIT_CONTROL',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
];

/** The container's capabilities: Docker's defaults with the service's `cap_drop` taken out and `cap_add` put in. */
export function capabilities(add: string[], drop: string[]): string[] {
  const norm = capabilityName;
  const dropAll = drop.some((c) => c.toUpperCase() === 'ALL');
  const set = new Set(dropAll ? [] : DEFAULT_CAPABILITIES);
  for (const c of drop) if (c.toUpperCase() !== 'ALL') set.delete(norm(c));
  for (const c of add) {
    // ALL in cap_add is honoured as asked, but only a privileged need should use it.
    if (c.toUpperCase() === 'ALL') for (const all of ALL_CAPABILITIES) set.add(all);
    else set.add(norm(c));
  }
  return [...set].sort();
}

/** Capabilities by their kernel number (linux/capability.h), for reading a process's capability masks. */
const BY_NUMBER = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/** The capabilities in a `/proc/PID/status` text's bounding set (CapBnd), by name; unknown bits are left out. */
export function boundingCapabilities(status: string): string[] {
  const mask = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  if (!mask) return [];
  const bits = BigInt(`0x${mask}`);
  return BY_NUMBER.filter((_, i) => (bits >> BigInt(i)) & 1n).sort();
}

/**
 * What a privileged container gets: every capability the agent itself may hand out (its bounding set), as
 * Docker's privileged mode; asking runc for more fails the container (a node that runs in a container lacks some).
 */
export function privilegedCapabilities(): string[] {
  try {
    const own = boundingCapabilities(readFileSync('/proc/self/status', 'utf8'));
    if (own.length > 0) return own;
  } catch {
    // Not Linux's /proc: the full list, which runc then checks.
  }
  return [...ALL_CAPABILITIES].sort();
}
