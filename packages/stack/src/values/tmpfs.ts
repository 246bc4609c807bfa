import { parseBytes } from './bytes.js';
import { quote } from './scalar.js';
import { ValueError } from './value-error.js';

/** A service-level `tmpfs:` entry, `PATH[:OPTIONS]`, once read. */
export interface TmpfsEntry {
  target: string;
  size?: bigint;
  mode?: number;
  read_only?: boolean;
}

// Already what every tmpfs of a task gets (see the agent's container mounts): accepted, nothing to change.
const IMPLIED = new Set(['nosuid', 'nodev']);

const HINT = 'use size=SIZE (b, k, m, g), mode=OCTAL (such as 1777), ro or rw';

/**
 * Reads `/run:size=64m,mode=1777` as Docker does for `--tmpfs`: size in bytes with the units of `shm_size`, mode
 * in octal. Options a task's tmpfs cannot take (exec, uid=…) are refused rather than lost.
 */
export function parseTmpfs(spec: string): TmpfsEntry {
  const colon = spec.indexOf(':');
  const target = colon < 0 ? spec : spec.slice(0, colon);
  if (!target.startsWith('/')) {
    throw new ValueError(`tmpfs path ${quote(target)} must be absolute (start with /)`);
  }
  const entry: TmpfsEntry = { target };
  if (colon < 0) return entry;
  for (const option of spec.slice(colon + 1).split(',')) {
    const eq = option.indexOf('=');
    const key = (eq < 0 ? option : option.slice(0, eq)).trim();
    const value = eq < 0 ? undefined : option.slice(eq + 1).trim();
    if (key === 'size' && value !== undefined) entry.size = tmpfsSize(value, spec);
    else if (key === 'mode' && value !== undefined) entry.mode = tmpfsMode(value, spec);
    else if ((key === 'ro' || key === 'rw') && value === undefined) entry.read_only = key === 'ro';
    else if (!(IMPLIED.has(key) && value === undefined)) {
      throw new ValueError(`invalid tmpfs option ${quote(option)} in ${quote(spec)}: ${HINT}`);
    }
  }
  return entry;
}

function tmpfsSize(value: string, spec: string): bigint {
  try {
    return parseBytes(value);
  } catch (err) {
    if (err instanceof ValueError) throw new ValueError(`${err.message} (in tmpfs ${quote(spec)})`);
    throw err;
  }
}

function tmpfsMode(value: string, spec: string): number {
  if (!/^[0-7]{1,4}$/.test(value)) {
    throw new ValueError(
      `invalid tmpfs mode ${quote(value)} in ${quote(spec)}: write it in octal, such as 1777 or 755`,
    );
  }
  return Number.parseInt(value, 8);
}
