import type { Diagnostic } from './diagnostics.js';
import type { MountModel } from './schema/mounts.js';
import { suggest } from './schema/primitives.js';
import type { ServiceModel } from './schema/service.js';
import { diagnosticAt, type LNode, type PathSegment } from './yaml/located.js';

/**
 * Sidecars: `network_mode: "service:NAME"` and `volumes_from: [NAME]` between services of one stack. Docker
 * Compose runs such a container beside the one container of NAME; a cluster pairs them by slot: slot N of the
 * dependent runs beside slot N of NAME, on its node, in its network namespace, with its volumes.
 */

/** One `volumes_from:` entry as written: `NAME`, `NAME:ro`, `service:NAME:rw`, `container:NAME`. */
export interface VolumesFromEntry {
  kind: 'service' | 'container';
  name: string;
  read_only: boolean;
}

export function parseVolumesFrom(entry: string): VolumesFromEntry {
  const parts = entry.split(':');
  const kind = parts[0] === 'container' || parts[0] === 'service' ? parts.shift() : 'service';
  const mode = parts.length > 1 ? parts.at(-1) : undefined;
  const name = (mode === 'ro' || mode === 'rw' ? parts.slice(0, -1) : parts).join(':');
  return { kind: kind as VolumesFromEntry['kind'], name, read_only: mode === 'ro' };
}

/** What of a normalized service pairing reads and changes (normalize.ts's NormalizedService has it all). */
interface Paired {
  sidecar?: SidecarSettings;
  deploy: { mode: string; replicas: number };
  volumes: MountModel[];
}

/** What a normalized sidecar carries: the service it runs beside and what it shares of it. */
export interface SidecarSettings {
  service: string;
  share_network: boolean;
  volumes_from: { service: string; read_only: boolean }[];
}

/** The service a dependent runs beside, from what it wrote (undefined: it is no sidecar, or it is invalid). */
export function sidecarOf(s: ServiceModel): SidecarSettings | undefined {
  const network = networkService(s.network_mode);
  const volumes = (s.volumes_from ?? []).map(parseVolumesFrom).filter((v) => v.kind === 'service');
  const main = network ?? volumes[0]?.name;
  if (!main) return undefined;
  return {
    service: main,
    share_network: network !== undefined,
    volumes_from: volumes.map((v) => ({ service: v.name, read_only: v.read_only })),
  };
}

function networkService(mode: string | undefined): string | undefined {
  return mode?.startsWith('service:') ? mode.slice('service:'.length) : undefined;
}

/** Each sidecar runs where its main service runs: with its mode and replicas. */
export function resolveSidecars(services: Record<string, Paired>): void {
  for (const s of Object.values(services)) {
    const main = s.sidecar && services[s.sidecar.service];
    if (!main) continue;
    s.deploy.mode = main.deploy.mode;
    s.deploy.replicas = main.deploy.replicas;
  }
}

/**
 * A sidecar's mounts as deployed: its own, then the named volumes and binds of the services of `volumes_from:`
 * at the same targets (read-only when `:ro`); its own win at a target both use, as in Docker. Anonymous volumes
 * and tmpfs belong to each task and are not shared (checkSidecars warns about them).
 */
export function sidecarMounts(s: Paired, services: Record<string, Paired>): MountModel[] {
  const out = [...s.volumes];
  const targets = new Set(out.map((m) => m.target));
  for (const from of s.sidecar?.volumes_from ?? []) {
    for (const m of services[from.service]?.volumes ?? []) {
      if (m.type === 'tmpfs' || (m.type === 'volume' && !m.source) || targets.has(m.target)) continue;
      targets.add(m.target);
      out.push(from.read_only ? { ...m, read_only: true } : m);
    }
  }
  return out;
}

/** A line for `stack config` that says how a sidecar is paired (shown above the service). */
export function describeSidecar(name: string, s: Paired): string | undefined {
  const sc = s.sidecar;
  if (!sc) return undefined;
  const shares = [
    ...(sc.share_network ? ['its network namespace (reach it on 127.0.0.1)'] : []),
    ...(sc.volumes_from.length > 0 ? ['its volumes'] : []),
  ].join(' and ');
  const n = s.deploy.replicas;
  const count = s.deploy.mode === 'global' ? 'one per node, as' : `${n} replica${n === 1 ? '' : 's'}, as`;
  return ` sidecar: each task of ${name} runs beside the task of the same slot of ${sc.service}, on its node, sharing ${shares}; started after it, stopped and moved with it (${count} ${sc.service})`;
}

type Report = (
  severity: Diagnostic['severity'],
  code: Diagnostic['code'],
  path: PathSegment[],
  message: string,
  atKey?: boolean,
) => void;

/** Every problem of the stack's sidecars, each at the key that causes it. */
export function checkSidecars(services: Record<string, ServiceModel>, root: LNode): Diagnostic[] {
  const out: Diagnostic[] = [];
  const report: Report = (severity, code, path, message, atKey = false) =>
    out.push(diagnosticAt(root, path, code, message, { atKey, severity }));
  const names = Object.keys(services);
  for (const [name, s] of Object.entries(services)) checkOne(name, s, services, names, report);
  out.push(...sidecarCycles(services, root));
  return out;
}

function checkOne(
  name: string,
  s: ServiceModel,
  services: Record<string, ServiceModel>,
  names: string[],
  report: Report,
): void {
  const at = (...rest: PathSegment[]): PathSegment[] => ['services', name, ...rest];
  const reference = (target: string, path: PathSegment[]): boolean => {
    if (target === name) {
      report('error', 'invalid-value', path, `a service cannot run beside itself: name another service of the stack`);
      return false;
    }
    if (services[target]) return true;
    const hint = suggest(target, names);
    report('error', 'undefined-reference', path, `undefined service "${target}"${hint}: declare it under services`);
    return false;
  };
  const network = networkService(s.network_mode);
  if (network !== undefined) {
    reference(network, at('network_mode'));
    for (const key of ['networks', 'ports'] as const) {
      if (s[key] === undefined) continue;
      const why = `network_mode: "service:${network}" shares that service's network: ${key}: cannot be combined with it (Docker refuses it too); declare them on ${network}`;
      report('error', 'invalid-value', at(key), why, true);
    }
  } else if (s.network_mode?.startsWith('container:')) {
    const target = s.network_mode.slice('container:'.length);
    const hint = services[target] ? `: write network_mode: "service:${target}"` : '';
    const why = `ignored: a stack pairs services, not containers (task names change as tasks are replaced)${hint}`;
    report('warning', 'unsupported-key', at('network_mode'), why, true);
  }
  const mains = new Set(network !== undefined ? [network] : []);
  (s.volumes_from ?? []).forEach((raw, i) => {
    const entry = parseVolumesFrom(raw);
    if (entry.kind === 'container') {
      const hint = services[entry.name] ? `: write "${entry.name}" to share the volumes of service ${entry.name}` : '';
      const why = `ignored: a stack pairs services, not containers (task names change as tasks are replaced)${hint}`;
      report('warning', 'unsupported-key', at('volumes_from', i), why);
      return;
    }
    if (!reference(entry.name, at('volumes_from', i))) return;
    if (mains.size > 0 && !mains.has(entry.name)) {
      const main = [...mains][0];
      const why = `a sidecar runs beside one service, here ${main}: volumes_from can name only that service (share data with others through a named volume)`;
      report('error', 'invalid-value', at('volumes_from', i), why);
      return;
    }
    mains.add(entry.name);
    for (const [j, m] of (services[entry.name]?.volumes ?? []).entries()) {
      if (m.type === 'volume' && !m.source) {
        const why = `the anonymous volume at ${m.target} of ${entry.name} is not shared with ${name} (each task has its own): give it a name under volumes:`;
        report('warning', 'unsupported-key', ['services', entry.name, 'volumes', j], why);
      }
    }
  });
  const main = [...mains][0];
  const mainService = main === undefined ? undefined : services[main];
  if (main === undefined || !mainService) return;
  const mainDeclared = mainService.deploy?.mode;
  if (mainDeclared === 'replicated-job' || mainDeclared === 'global-job') {
    const why = `${main} is a job (${mainDeclared}): a sidecar runs beside a service that keeps running; run this container in the job's own image or command instead`;
    report('error', 'invalid-value', at(network !== undefined ? 'network_mode' : 'volumes_from'), why, true);
    return;
  }
  const mainMode = mainDeclared === 'global' ? 'global' : 'replicated';
  const mode = s.deploy?.mode === 'global' ? 'global' : 'replicated';
  if (s.deploy?.mode !== undefined && mode !== mainMode) {
    const why = `ignored: a sidecar runs where ${main} runs, so it is ${mainMode} like ${main}`;
    report('warning', 'invalid-value', at('deploy', 'mode'), why);
  }
  if (mainMode === 'global' && s.deploy?.replicas !== undefined) {
    const why = `ignored: a sidecar runs one task beside each task of ${main}, a global service (one per node)`;
    report('warning', 'invalid-value', at('deploy', 'replicas'), why);
  }
  const mainReplicas = mainService.deploy?.replicas ?? 1;
  if (mainMode === 'replicated' && s.deploy?.replicas !== undefined && s.deploy.replicas !== mainReplicas) {
    const why = `ignored: a sidecar runs one task beside each task of ${main}, so ${main}'s ${mainReplicas} replicas are used`;
    report('warning', 'invalid-value', at('deploy', 'replicas'), why);
  }
}

/** A sidecar of a sidecar is refused (name the service it runs beside), and a ring of them is a cycle. */
function sidecarCycles(services: Record<string, ServiceModel>, root: LNode): Diagnostic[] {
  const out: Diagnostic[] = [];
  const mainOf = (name: string) => {
    const s = services[name];
    const main = s && sidecarOf(s)?.service;
    return main && main !== name && services[main] ? main : undefined;
  };
  const reported = new Set<string>();
  for (const name of Object.keys(services)) {
    const main = mainOf(name);
    if (!main) continue;
    const chain = [name, main];
    let next = mainOf(main);
    while (next && !chain.includes(next)) {
      chain.push(next);
      next = mainOf(next);
    }
    const key = services[name]?.network_mode?.startsWith('service:') ? 'network_mode' : 'volumes_from';
    if (next) {
      const ring = chain.slice(chain.indexOf(next));
      const id = [...ring].sort().join(',');
      if (reported.has(id)) continue;
      reported.add(id);
      const message = `sidecars form a cycle: ${[...ring, next].join(' → ')}; one of these services must run on its own`;
      out.push(diagnosticAt(root, ['services', name, key], 'dependency-cycle', message, { atKey: true }));
    } else if (chain.length > 2) {
      const message = `${main} is itself a sidecar of ${chain[2]}: run ${name} beside ${chain.at(-1)} instead (a sidecar pairs with a service that runs on its own)`;
      out.push(diagnosticAt(root, ['services', name, key], 'invalid-value', message, { atKey: true }));
    }
  }
  return out;
}
