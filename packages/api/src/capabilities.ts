/**
 * Docker's default capability set (moby `oci/caps/defaults.go`): what a container may do without `cap_add`. The
 * agent grants it and the admission policy counts anything beyond it as more than Docker's default sandbox.
 */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** A capability as the kernel names it: `net_admin` and `CAP_NET_ADMIN` are the same; `ALL` stays `ALL`. */
export function capabilityName(name: string): string {
  const upper = name.trim().toUpperCase();
  return upper === 'ALL' || upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
}
