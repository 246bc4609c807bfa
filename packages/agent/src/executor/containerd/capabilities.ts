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
