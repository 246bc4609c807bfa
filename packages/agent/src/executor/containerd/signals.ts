import { constants as osConstants } from 'node:os';

/**
 * A signal's number from its name (`SIGTERM`, `TERM`, `15`; real-time ones as `SIGRTMIN+3`). An unknown name
 * gives SIGTERM, so a task can always be stopped (stack validation reports such names).
 */
export function signalNumber(name: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  const upper = name.toUpperCase();
  const key = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  const rt = /^SIGRTMIN(?:\+(\d+))?$/.exec(key) ?? /^SIGRTMAX(?:-(\d+))?$/.exec(key);
  if (rt) return key.startsWith('SIGRTMIN') ? 34 + Number(rt[1] ?? 0) : 64 - Number(rt[1] ?? 0);
  return (osConstants.signals as Record<string, number>)[key] ?? 15;
}

/** The name an exit report gives a signal that ended a container (the common ones; others by number). */
export function signalName(n: number): string {
  const names: Record<number, string> = {
    1: 'SIGHUP',
    2: 'SIGINT',
    3: 'SIGQUIT',
    6: 'SIGABRT',
    9: 'SIGKILL',
    15: 'SIGTERM',
  };
  return names[n] ?? `signal ${n}`;
}
