/**
 * The kernel's count of OOM kills in the text of a cgroup's `memory.events` (v2) or `memory.oom_control` (v1);
 * undefined when the text has none (a kernel that does not count them).
 */
export function oomKillCount(text: string): number | undefined {
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}
