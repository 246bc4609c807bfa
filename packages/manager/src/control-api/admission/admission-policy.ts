import {
  type AdmissionRefusal,
  type ClusterSettings,
  type ContainerSpec,
  capabilityName,
  DEFAULT_CAPABILITIES,
  isBind,
  Mount_Type,
  mountVolumeSpec,
  ClusterSettings_SecurityProfile as Profile,
  type ServiceSpec,
  type VolumeMountSpec,
} from '@flotilla/api';
import { isUnder, normalizeHostPath, sensitiveExposure } from './host-paths.js';

/**
 * The cluster's admission policy (after Kubernetes' Pod Security Standards), decided on specs alone: what each
 * service asks of its nodes against the cluster's security profile. Pure; the manager runs it on every write of a
 * service spec (deploy, plan, update, rollback), so no client can get past it.
 */
export interface AdmissionSettings {
  profile: 'privileged' | 'baseline' | 'restricted';
  /** Normalized absolute prefixes a bind may use even though the profile refuses them. */
  allowedBindPrefixes: readonly string[];
}

export function admissionSettings(
  settings: Pick<ClusterSettings, 'securityProfile' | 'allowedBindPrefixes'> | undefined,
): AdmissionSettings {
  return {
    profile: profileName(settings?.securityProfile ?? Profile.SECURITY_PROFILE_UNSPECIFIED),
    allowedBindPrefixes: settings?.allowedBindPrefixes ?? [],
  };
}

export function profileName(profile: Profile): AdmissionSettings['profile'] {
  if (profile === Profile.SECURITY_PROFILE_PRIVILEGED) return 'privileged';
  if (profile === Profile.SECURITY_PROFILE_RESTRICTED) return 'restricted';
  return 'baseline';
}

const DEFAULTS = new Set(DEFAULT_CAPABILITIES);

const TO_PRIVILEGED = 'flotilla cluster update --security-profile privileged';
const TO_BASELINE = 'flotilla cluster update --security-profile baseline';

/** Everything the policy refuses in these services, in the order of their specs and keys. */
export function admissionRefusals(services: readonly ServiceSpec[], settings: AdmissionSettings): AdmissionRefusal[] {
  if (settings.profile === 'privileged') return [];
  return services.flatMap((service) => {
    const container = service.container;
    if (!container) return [];
    const at = (key?: string) => `services.${composeName(service)}${key ? `.${key}` : ''}`;
    return [...baselineRefusals(container, settings, at), ...restrictedRefusals(container, settings, at)];
  });
}

type At = (key?: string) => string;

function baselineRefusals(c: ContainerSpec, settings: AdmissionSettings, at: At): AdmissionRefusal[] {
  const profile = `under the ${settings.profile} security profile`;
  const out: AdmissionRefusal[] = [];
  if (c.privileged) {
    out.push({ path: at('privileged'), message: `privileged mode is refused ${profile}: allowed by ${TO_PRIVILEGED}` });
  }
  c.capAdd.forEach((cap, i) => {
    const name = capabilityName(cap);
    if (DEFAULTS.has(name)) return;
    const what = name === 'ALL' ? 'every capability (ALL)' : `${name}, beyond Docker's default capability set,`;
    out.push({ path: at(`cap_add[${i}]`), message: `${what} is refused ${profile}: allowed by ${TO_PRIVILEGED}` });
  });
  if (c.pidHost) {
    out.push({
      path: at('pid'),
      message: `the host's PID namespace is refused ${profile}: allowed by ${TO_PRIVILEGED}`,
    });
  }
  if (c.ipcHost) {
    out.push({
      path: at('ipc'),
      message: `the host's IPC namespace is refused ${profile}: allowed by ${TO_PRIVILEGED}`,
    });
  }
  c.mounts.forEach((m, i) => {
    const driven = m.type === Mount_Type.TYPE_VOLUME ? mountVolumeSpec(m) : undefined;
    if (driven) {
      const problem = volumeDriverProblem(m.source, driven, settings);
      if (problem) out.push({ path: at(`volumes[${i}]`), message: problem });
      return;
    }
    if (m.type !== Mount_Type.TYPE_BIND) return;
    const problem = bindProblem(m.source, m.bindCreateHostPath, settings);
    // Binds come first in a spec's mounts, in the order of the service's volumes: list.
    if (problem) out.push({ path: at(`volumes[${i}]`), message: problem });
  });
  return out;
}

function bindProblem(source: string, create: boolean, settings: AdmissionSettings): string | undefined {
  const path = normalizeHostPath(source);
  if (path === undefined) return `bind source "${source}" is not an absolute host path: give one that starts with /`;
  if (settings.allowedBindPrefixes.some((prefix) => isUnder(path, prefix))) return undefined;
  const allowBind = `flotilla cluster update --allow-bind ${path}`;
  const exposed = sensitiveExposure(path);
  if (exposed) {
    const what = create ? `creating host path ${path} (as root, with create_host_path)` : `binding host path ${path}`;
    const where =
      exposed.sensitive === path
        ? exposed.why
        : isUnder(path, exposed.sensitive)
          ? `under ${exposed.sensitive}: ${exposed.why}`
          : `it holds ${exposed.sensitive}: ${exposed.why}`;
    return `${what} is refused under the ${settings.profile} security profile (${where}): allowed by ${allowBind} (or --security-profile privileged)`;
  }
  if (settings.profile === 'restricted') {
    return `host binds are refused under the restricted security profile: use a named volume, or allow it with ${allowBind} (or ${TO_BASELINE})`;
  }
  return undefined;
}

// Filesystems a volume's driver_opts may mount without reaching into the node: memory, or a server on the network.
const NODE_SAFE_TYPES = new Set(['tmpfs', 'nfs', 'nfs4', 'cifs', 'smb3']);

/**
 * A local volume with driver_opts is mounted by the node as root: `o: bind` binds a host path (the bind rules
 * apply to its device), and a filesystem on a device of the node (ext4 on /dev/sdb1) is the privileged profile's.
 */
function volumeDriverProblem(volume: string, v: VolumeMountSpec, settings: AdmissionSettings): string | undefined {
  if (isBind(v.options)) {
    const problem = bindProblem(v.device, false, settings);
    return problem ? `volume ${volume} (driver_opts o: bind): ${problem}` : undefined;
  }
  if (NODE_SAFE_TYPES.has(v.type)) return undefined;
  return `volume ${volume} mounts ${v.type} from the node's ${v.device}, refused under the ${settings.profile} security profile: allowed by ${TO_PRIVILEGED}`;
}

function restrictedRefusals(c: ContainerSpec, settings: AdmissionSettings, at: At): AdmissionRefusal[] {
  if (settings.profile !== 'restricted') return [];
  const profile = 'under the restricted security profile';
  const out: AdmissionRefusal[] = [];
  if (c.hostNetwork) {
    out.push({ path: at('network_mode'), message: `host networking is refused ${profile}: allowed by ${TO_BASELINE}` });
  }
  const user = c.user.trim();
  if (user === '') {
    out.push({
      path: at(),
      message: `a non-root user: is required ${profile} (the image's own default user cannot be checked at deploy): set user: to a UID other than 0 or a name other than root, or ${TO_BASELINE}`,
    });
  } else if (isRoot(user)) {
    out.push({
      path: at('user'),
      message: `user "${user}" is root, refused ${profile}: set a UID other than 0 or a name other than root, or ${TO_BASELINE}`,
    });
  }
  if (!c.noNewPrivileges) {
    out.push({
      path: at(),
      message: `no-new-privileges is required ${profile}: add security_opt: [no-new-privileges:true], or ${TO_BASELINE}`,
    });
  }
  if (c.seccompProfile === 'unconfined') {
    out.push({
      path: at('security_opt'),
      message: `seccomp=unconfined is refused ${profile}: use the default profile or a profile file, or ${TO_BASELINE}`,
    });
  }
  return out;
}

/** `user:` as Docker reads it (USER[:GROUP]): root by name or by UID 0 (written `0`, `00`, …). */
function isRoot(user: string): boolean {
  const name = user.split(':')[0]?.trim() ?? '';
  return name === 'root' || /^0+$/.test(name);
}

/** The service's key in its stack file: its name without the `STACK_` a deploy puts before it. */
function composeName(service: ServiceSpec): string {
  const name = service.annotations?.name ?? '';
  return service.stack && name.startsWith(`${service.stack}_`) ? name.slice(service.stack.length + 1) : name;
}
