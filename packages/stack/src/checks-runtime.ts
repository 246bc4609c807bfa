import { isLocalVolumeDriver, logPolicy, volumeMountSpec } from '@flotilla/api';
import type { Diagnostic } from './diagnostics.js';
import type { StackModel } from './schema/stack.js';
import { diagnosticAt, type LNode, locate, type PathSegment } from './yaml/located.js';

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
    for (const [net, settings] of Object.entries(s.networks ?? {})) {
      for (const [key, why] of Object.entries(SERVICE_NETWORK_KEYS)) {
        if (settings?.[key as keyof typeof settings] !== undefined) warn(at('networks', net, key), why);
      }
    }
    (s.volumes ?? []).forEach((m, i) => {
      // `consistency` is gone from the model (it never changes a mount): the file says whether it was written.
      if (locate(root, at('volumes', i, 'consistency')).exact) {
        warn(at('volumes', i, 'consistency'), 'ignored: consistency applies to Docker Desktop file sharing only');
      }
      if (m.bind?.selinux !== undefined) {
        const where = m.type === 'bind' && locate(root, at('volumes', i, 'bind', 'selinux')).exact;
        warn(
          where ? at('volumes', i, 'bind', 'selinux') : at('volumes', i),
          'ignored: nodes do not relabel bind mounts for SELinux (z/Z); label the host path yourself if SELinux enforces',
          where,
        );
      }
    });
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
    if (n.ipam?.options !== undefined) {
      warn(at('ipam', 'options'), 'ignored: the managers give addresses themselves and take no IPAM options');
    }
    (n.ipam?.config ?? []).forEach((c, i) => {
      if (c.aux_addresses !== undefined) {
        warn(
          at('ipam', 'config', i, 'aux_addresses'),
          'ignored: the managers do not keep addresses aside; give hosts outside the network addresses outside its subnet',
        );
      }
    });
    if (n.attachable === true) {
      warn(
        at('attachable'),
        'ignored: only services join networks on a cluster (there are no standalone containers to attach)',
      );
    }
  }
  return out;
}

/** A service's settings on one network that the overlay has no use for, with what happens instead. */
const SERVICE_NETWORK_KEYS: Record<string, string> = {
  link_local_ips: 'ignored: tasks get one address on each overlay network, from its subnet',
  mac_address: 'ignored: the overlay network gives each task its own MAC address',
  priority: 'ignored: the order in which a task joins its networks is not chosen per service',
  gw_priority: "ignored: which network carries a task's default route is not chosen per service",
  driver_opts: 'ignored: the overlay network takes no per-service driver options',
};

function strings(map: Record<string, string | null> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(map ?? {}).map(([k, v]) => [k, v ?? '']));
}
