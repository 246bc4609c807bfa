import type { Mount } from './gen/flotilla/v1/service.js';

/**
 * A named volume's mount on the node, as Docker's local driver makes it from `driver_opts`: mount(2) with `type`,
 * `device` and the `o` options, at the volume's directory, the first time a task on the node uses it.
 */
export interface VolumeMountSpec {
  type: string;
  device: string;
  /** The `o:` options as written (`addr=1.2.3.4,rw,nfsvers=4`, `size=100m,uid=1000`, `bind`). */
  options: string;
}

export interface VolumeDriverProblem {
  /** The option at fault (`driver_opts.<key>`), or undefined for the volume. */
  key?: string;
  message: string;
}

/** Bounds on a volume's driver_opts: they travel in every task that mounts it. */
export const VOLUME_DRIVER_LIMITS = { maxOptions: 8, maxKeyLength: 64, maxValueLength: 1024 } as const;

const KEYS = ['type', 'device', 'o'];
// Options that would act on another mount than the volume's, or run mount(8)'s own helpers.
const REFUSED_OPTION = /^(remount|move|rmove|make-.*|[xX]-.*)$/;

/** Whether a volume's driver is the local one (the only driver a node has). */
export function isLocalVolumeDriver(driver: string): boolean {
  return driver === '' || driver === 'local';
}

/**
 * Reads the local driver's `driver_opts` (type, device, o) as Docker does: `type` and `device` go together, `o`
 * needs both (a tmpfs may leave `device` out). No options: a plain directory, undefined.
 */
export function volumeMountSpec(opts: Record<string, string>): {
  mount?: VolumeMountSpec;
  problems: VolumeDriverProblem[];
} {
  const problems: VolumeDriverProblem[] = [];
  const entries = Object.entries(opts);
  if (entries.length === 0) return { problems };
  if (entries.length > VOLUME_DRIVER_LIMITS.maxOptions) {
    problems.push({
      message: `at most ${VOLUME_DRIVER_LIMITS.maxOptions} driver_opts: the local driver reads type, device and o`,
    });
  }
  for (const [key, value] of entries) {
    if (key.length > VOLUME_DRIVER_LIMITS.maxKeyLength || value.length > VOLUME_DRIVER_LIMITS.maxValueLength) {
      problems.push({
        key,
        message: `too long: keys up to ${VOLUME_DRIVER_LIMITS.maxKeyLength} characters, values up to ${VOLUME_DRIVER_LIMITS.maxValueLength}`,
      });
    } else if (!KEYS.includes(key)) {
      problems.push({ key, message: `unknown option "${key}" of the local volume driver: use type, device and o` });
    } else if (/[\0\n]/.test(value)) {
      problems.push({ key, message: 'must not hold a newline or NUL character' });
    }
  }
  const type = opts.type ?? '';
  const device = opts.device ?? (type === 'tmpfs' ? 'tmpfs' : '');
  const options = opts.o ?? '';
  if (type === '') problems.push({ message: 'driver_opts needs type: (tmpfs, none with o: bind, nfs, …)' });
  else if (device === '') problems.push({ message: `driver_opts type ${type} needs device: (what to mount)` });
  if (type !== '' && !/^[a-z0-9][a-z0-9._-]*$/.test(type)) {
    problems.push({ key: 'type', message: `invalid filesystem type "${type}"` });
  }
  if (device.startsWith('-')) problems.push({ key: 'device', message: `invalid device "${device}"` });
  const refused = options.split(',').filter((o) => REFUSED_OPTION.test(o));
  if (refused.length > 0) {
    problems.push({
      key: 'o',
      message: `${refused.join(', ')}: the volume's own mount takes no option that acts on other mounts (remount, move, make-*, X-*)`,
    });
  }
  const bind = isBind(options);
  if (bind && !device.startsWith('/')) {
    problems.push({ key: 'device', message: `a bind needs device: as an absolute host path, got "${device}"` });
  }
  if (isNfs(type) && !/(^|,)addr=/.test(options)) {
    problems.push({ key: 'o', message: 'an nfs volume needs the server in o: (o: addr=SERVER,rw,nfsvers=4)' });
  }
  if (problems.length > 0) return { problems };
  return { mount: { type, device, options }, problems };
}

/** The volume mount spec a task's mount carries, if its volume is the local driver's with options. */
export function mountVolumeSpec(m: Mount): VolumeMountSpec | undefined {
  if (!isLocalVolumeDriver(m.volumeDriver)) return undefined;
  return volumeMountSpec(m.volumeDriverOpts).mount;
}

/** `o: bind` (or rbind): the device is a host directory bound at the volume's directory. */
export function isBind(options: string): boolean {
  return options.split(',').some((o) => o === 'bind' || o === 'rbind');
}

export function isNfs(type: string): boolean {
  return type === 'nfs' || type === 'nfs4';
}

/** The server of an nfs volume (`addr=` in its options), for messages. */
export function nfsServer(options: string): string | undefined {
  return options
    .split(',')
    .find((o) => o.startsWith('addr='))
    ?.slice('addr='.length);
}
