import * as z from 'zod';
import { parseBytes, parseTmpfs } from '../values/index.js';
import { ValueError } from '../values/value-error.js';
import { bool, int, oneOf, parsed, strictObject, text } from './primitives.js';

export interface MountModel {
  type: 'volume' | 'bind' | 'tmpfs';
  source?: string;
  target: string;
  read_only?: boolean;
  bind?: { propagation?: string; create_host_path?: boolean; selinux?: string };
  volume?: { nocopy?: boolean; subpath?: string };
  tmpfs?: { size?: bigint; mode?: number };
}

const PROPAGATION = ['rprivate', 'private', 'rshared', 'shared', 'rslave', 'slave'] as const;

/** `SOURCE:TARGET[:OPTIONS]` or `TARGET`: a path source is a bind mount, a name is a named volume. */
export function parseVolumeShort(spec: string): MountModel {
  const parts = spec.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) {
    throw new ValueError(`invalid volume "${spec}": write SOURCE:TARGET[:ro], TARGET, or use the long syntax`);
  }
  if (parts.length === 1) return { type: 'volume', target: checkTarget(spec, parts[0] as string) };
  const [source, target, options] = parts as [string, string, string | undefined];
  const isPath = /^([./~]|\$)/.test(source);
  const mount: MountModel = { type: isPath ? 'bind' : 'volume', source, target: checkTarget(spec, target) };
  for (const option of options ? options.split(',') : []) {
    if (option === 'ro') mount.read_only = true;
    else if (option === 'rw') mount.read_only = false;
    else if (option === 'nocopy' && !isPath) mount.volume = { nocopy: true };
    else if (option === 'z' || option === 'Z') mount.bind = { ...mount.bind, selinux: option };
    else if ((PROPAGATION as readonly string[]).includes(option) && isPath) {
      mount.bind = { ...mount.bind, propagation: option };
    } else {
      throw new ValueError(
        `invalid volume option "${option}" in "${spec}": use ro or rw` +
          (isPath ? `, z, Z, or a propagation mode (${PROPAGATION.join(', ')})` : ', or nocopy'),
      );
    }
  }
  return mount;
}

function checkTarget(spec: string, target: string): string {
  if (!target.startsWith('/')) {
    throw new ValueError(`invalid volume "${spec}": the container path "${target}" must be absolute (start with /)`);
  }
  return target;
}

const absolutePath = z.string().refine((p) => p.startsWith('/'), {
  message: 'the container path must be absolute (start with /)',
  params: { flotilla: 'invalid-value' },
});

const longMount = strictObject({
  type: oneOf(['volume', 'bind', 'tmpfs']),
  source: text.optional(),
  target: absolutePath,
  read_only: bool.optional(),
  consistency: text.optional(),
  bind: strictObject({
    propagation: oneOf(PROPAGATION).optional(),
    create_host_path: bool.optional(),
    selinux: oneOf(['z', 'Z']).optional(),
  }).optional(),
  volume: strictObject({ nocopy: bool.optional(), subpath: text.optional() }).optional(),
  tmpfs: strictObject({ size: parsed(parseBytes).optional(), mode: int(0, 0o7777).optional() }).optional(),
}).transform((m, ctx): MountModel => {
  if (m.type !== 'tmpfs' && m.type !== 'volume' && !m.source) {
    ctx.addIssue({
      code: 'custom',
      message: 'a bind mount needs a source path',
      params: { flotilla: 'invalid-value' },
    });
  }
  const { consistency: _ignored, ...rest } = m;
  return rest as MountModel;
});

export const serviceVolume = z.union([parsed((s) => parseVolumeShort(String(s))), longMount]);

/** One `tmpfs:` entry, `PATH[:size=…,mode=…]`, checked here (file:line:col) and kept as written. */
const tmpfsEntry = parsed((s) => {
  const spec = String(s);
  parseTmpfs(spec);
  return spec;
});

/** `tmpfs: /run` or a list of entries. */
export const tmpfsList = z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(tmpfsEntry));
