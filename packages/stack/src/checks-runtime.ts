import { isLocalVolumeDriver, logPolicy, volumeMountSpec } from '@flotilla/api';
import type { Diagnostic } from './diagnostics.js';
import type { StackModel } from './schema/stack.js';
import { diagnosticAt, type LNode, type PathSegment } from './yaml/located.js';

/** containerd refuses a container label whose key and value together pass this. */
const MAX_LABEL_BYTES = 4096;

/**
 * What the nodes do with container labels, `logging:`, volume drivers and network settings: each key is honoured,
 * or warned about with what happens instead, never dropped in silence.
 */
export function checkRuntimeKeys(model: StackModel, root: LNode): Diagnostic[] {
  const out: Diagnostic[] = [];
  const warn = (path: PathSegment[], message: string, atKey = true) =>
    out.push(diagnosticAt(root, path, 'unsupported-key', message, { atKey, severity: 'warning' }));
  const fail = (path: PathSegment[], message: string) =>
    out.push(diagnosticAt(root, path, 'invalid-value', message, { severity: 'error' }));

  for (const [name, s] of Object.entries(model.services ?? {})) {
    const at = (...rest: PathSegment[]): PathSegment[] => ['services', name, ...rest];
    for (const [key, value] of Object.entries(s.labels ?? {})) {
      if (Buffer.byteLength(key) + Buffer.byteLength(value ?? '') > MAX_LABEL_BYTES) {
        fail(
          at('labels', key),
          `too long: a container label holds at most ${MAX_LABEL_BYTES} bytes, key and value together`,
        );
      }
      if (key.startsWith('flotilla.')) {
        warn(at('labels', key), `not applied: flotilla.* container labels are the agent's own (task, service, node)`);
      }
    }
    if (s.logging) {
      const options = strings(s.logging.options);
      const { problems } = logPolicy({ name: s.logging.driver ?? '', options });
      for (const p of problems) {
        const path =
          p.option !== undefined && p.option in options
            ? at('logging', 'options', p.option)
            : at('logging', s.logging.driver !== undefined ? 'driver' : 'options');
        if (p.severity === 'error') fail(path, p.message);
        else warn(path, p.message, p.option !== undefined && p.option in options);
      }
    }
  }

  for (const [name, v] of Object.entries(model.volumes ?? {})) {
    if (!v || v.external) continue;
    const at = (...rest: PathSegment[]): PathSegment[] => ['volumes', name, ...rest];
    const driver = v.driver ?? 'local';
    if (!isLocalVolumeDriver(driver)) {
      warn(
        at('driver'),
        `the ${driver} volume driver is not available on a cluster: the local driver is used instead (a directory on each node${v.driver_opts ? ', its driver_opts ignored' : ''})`,
        false,
      );
      continue;
    }
    const opts = strings(v.driver_opts);
    for (const p of volumeMountSpec(opts).problems) {
      fail(
        p.key !== undefined && p.key in opts ? at('driver_opts', p.key) : at(v.driver_opts ? 'driver_opts' : 'driver'),
        p.message,
      );
    }
  }

  for (const [name, n] of Object.entries(model.networks ?? {})) {
    if (!n || n.external) continue;
    const at = (...rest: PathSegment[]): PathSegment[] => ['networks', name, ...rest];
    if (n.driver !== undefined && n.driver !== 'overlay' && n.driver !== 'bridge') {
      warn(
        at('driver'),
        `the ${n.driver} network driver is not available on a cluster: an overlay network (VXLAN across the nodes) is used instead`,
        false,
      );
    }
    for (const key of Object.keys(n.driver_opts ?? {})) {
      warn(
        at('driver_opts', key),
        key === 'encrypted'
          ? 'not honoured: Flotilla does not encrypt overlay traffic; the underlay between nodes carries it in clear (encrypt the underlay, e.g. WireGuard between the nodes)'
          : `ignored: the overlay network takes no driver option ${key}`,
      );
    }
    if (n.enable_ipv6 === true) warn(at('enable_ipv6'), 'ignored: overlay networks are IPv4 only');
    if (n.enable_ipv4 === false) warn(at('enable_ipv4'), 'ignored: overlay networks are IPv4 only, so IPv4 stays on');
    if (n.ipam?.driver !== undefined && n.ipam.driver !== 'default') {
      warn(at('ipam', 'driver'), `ignored: the managers give addresses themselves; ipam.config subnets are used`);
    }
    if (n.attachable === true) {
      warn(
        at('attachable'),
        'ignored: only services join networks on a cluster (there are no standalone containers to attach)',
      );
    }
  }
  return out;
}

function strings(map: Record<string, string | null> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(map ?? {}).map(([k, v]) => [k, v ?? '']));
}
