/* Words, icons and numbers as the page shows them. Every colour has an icon and a word beside it. */
import type { UiTask } from '../../model.js';

export type Tone = 'ok' | 'busy' | 'bad' | 'idle';

/** The card's tone and icon: health overrides a running state (a running but unhealthy task is bad). */
export function taskLook(task: UiTask): { tone: Tone; icon: string; label: string } {
  const health = task.health ? ` (${task.health})` : '';
  const label = `${task.state}${health}`;
  if (task.state === 'running') {
    if (task.health === 'unhealthy') return { tone: 'bad', icon: '!', label };
    if (task.health === 'starting') return { tone: 'busy', icon: '◔', label };
    return { tone: 'ok', icon: '●', label };
  }
  switch (task.state) {
    case 'failed':
    case 'rejected':
    case 'orphaned':
      return { tone: 'bad', icon: '✕', label };
    case 'complete':
      return { tone: 'idle', icon: '✓', label };
    case 'shutdown':
    case 'remove':
      return { tone: 'idle', icon: '■', label };
    default:
      return { tone: 'busy', icon: '◌', label };
  }
}

export function nodeLook(status: string): { icon: string; down: boolean } {
  if (status === 'ready') return { icon: '●', down: false };
  if (status === 'down' || status === 'disconnected') return { icon: '✕', down: true };
  return { icon: '?', down: false };
}

export function cpus(nanoCpus: number): string {
  const n = nanoCpus / 1e9;
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 10 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

/** "3 min ago" style, against `now`. */
export function ago(at: number, now: number): string {
  if (!at) return '';
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

export function clock(at: number): string {
  return at ? new Date(at).toLocaleTimeString() : '';
}

/** Fraction in [0, 1], 0 when there is no capacity to measure against. */
export function ratio(part: number, whole: number): number {
  if (!(whole > 0)) return 0;
  return Math.min(1, Math.max(0, part / whole));
}
