/** Processes by PID: ours, or kept in a state file by an earlier command. */

/** Whether a process with this PID exists (ours or not: for PIDs kept in a state file). */
export function pidAlive(pid: number): boolean {
  // 0 and negative numbers name process groups, ours among them: never a server's PID.
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    // ESRCH: no such process.
    return false;
  }
}

/** SIGTERM, then SIGKILL if it is still there after `graceMs`; nothing if the PID is 0 or gone. */
export async function stopPid(pid: number, graceMs = 15_000): Promise<void> {
  if (!pid || !signalPid(pid, 'SIGTERM')) return;
  const deadline = Date.now() + graceMs;
  while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  signalPid(pid, 'SIGKILL');
}

/** Sends a signal; false if the process is gone (so there is nothing to signal), or the PID is not one. */
export function signalPid(pid: number, name: NodeJS.Signals): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, name);
    return true;
  } catch {
    // ESRCH: ended meanwhile, which is what stopping wants.
    return false;
  }
}
