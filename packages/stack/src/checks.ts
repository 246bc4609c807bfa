import { checkRuntimeKeys } from './checks-runtime.js';
import type { Diagnostic, DiagnosticCode } from './diagnostics.js';
import { suggest } from './schema/primitives.js';
import type { StackModel } from './schema/stack.js';
import { checkSidecars } from './sidecars.js';
import {
  UNSUPPORTED_CONFIG_KEYS,
  UNSUPPORTED_RESERVATION_KEYS,
  UNSUPPORTED_SECRET_KEYS,
  UNSUPPORTED_SERVICE_KEYS,
  UNSUPPORTED_TOP_LEVEL_KEYS,
} from './unsupported.js';
import { ignoredSecurityOpt } from './values/security-opt.js';
import { diagnosticAt, type LNode, locate, type PathSegment } from './yaml/located.js';

/**
 * What validation of each value alone cannot see: references between objects (networks, volumes, configs,
 * secrets, depends_on), dependency cycles, services without an image, and keys a cluster ignores.
 */
export function checkStack(model: StackModel, root: LNode): Diagnostic[] {
  const out: Diagnostic[] = [];
  const report = (
    severity: Diagnostic['severity'],
    code: DiagnosticCode,
    path: PathSegment[],
    message: string,
    atKey = false,
  ) => out.push(diagnosticAt(root, path, code, message, { atKey, severity }));
  const names = (record: object | undefined) => new Set(Object.keys(record ?? {}));
  const declared = {
    networks: names(model.networks),
    volumes: names(model.volumes),
    configs: names(model.configs),
    secrets: names(model.secrets),
  };
  const services = model.services ?? {};
  const serviceNames = names(services);

  for (const [name, s] of Object.entries(services)) {
    const at = (...rest: PathSegment[]): PathSegment[] => ['services', name, ...rest];
    if (!s.image) {
      report('error', 'missing-key', at(), 'missing required key "image": a cluster runs images from a registry', true);
    }
    for (const net of Object.keys(s.networks ?? {})) {
      if (net === 'default' || declared.networks.has(net)) continue;
      report('error', 'undefined-reference', at('networks', net), undeclared('network', net, declared.networks), true);
    }
    (s.volumes ?? []).forEach((m, i) => {
      if (m.type === 'volume' && m.source && !declared.volumes.has(m.source)) {
        report('error', 'undefined-reference', at('volumes', i), undeclared('volume', m.source, declared.volumes));
      }
    });
    for (const kind of ['configs', 'secrets'] as const) {
      (s[kind] ?? []).forEach((ref, i) => {
        if (!declared[kind].has(ref.source)) {
          report(
            'error',
            'undefined-reference',
            at(kind, i),
            undeclared(kind.slice(0, -1), ref.source, declared[kind]),
          );
        }
      });
    }
    if (s['x-flotilla']?.allow_process_executor === true && (s.secrets?.length || s.configs?.length)) {
      report(
        'warning',
        'invalid-value',
        at('x-flotilla', 'allow_process_executor'),
        'secrets and configs are mounted into containers: its tasks run only on nodes with the containerd executor',
        true,
      );
    }
    for (const [dep, settings] of Object.entries(s.depends_on ?? {})) {
      if (settings.restart !== undefined) {
        const why = 'ignored: a service is not restarted when a service it depends on is updated';
        report('warning', 'unsupported-key', at('depends_on', dep, 'restart'), why, true);
      }
      if (serviceNames.has(dep) || !settings.required) continue;
      report('error', 'undefined-reference', at('depends_on', dep), undeclared('service', dep, serviceNames), true);
    }
    for (const key of ['update_config', 'rollback_config'] as const) {
      if (s.deploy?.[key] === undefined || (s.deploy.mode !== 'replicated-job' && s.deploy.mode !== 'global-job'))
        continue;
      report(
        'warning',
        'invalid-value',
        at('deploy', key),
        'ignored: a job is not rolled out; each new spec version runs as a new run of the job',
        true,
      );
    }
    for (const key of ['max_concurrent', 'total_completions'] as const) {
      if (s['x-flotilla']?.[key] === undefined || s.deploy?.mode === 'replicated-job') continue;
      report('warning', 'invalid-value', at('x-flotilla', key), 'ignored: only a replicated-job has it', true);
    }
    if ((s.deploy?.mode === 'global' || s.deploy?.mode === 'global-job') && s.deploy.replicas !== undefined) {
      report(
        'warning',
        'invalid-value',
        at('deploy', 'replicas'),
        'ignored: a global service runs one task on every eligible node',
      );
    }
    // service: and container: are the sidecars' (see checkSidecars).
    const paired = /^(service|container):/.test(s.network_mode ?? '');
    if (s.network_mode !== undefined && s.network_mode !== 'host' && !paired) {
      report(
        'warning',
        'unsupported-key',
        at('network_mode'),
        'ignored: only network_mode: host and "service:NAME" are honoured; tasks join the stack networks named under networks:',
        true,
      );
    }
    if (s.network_mode === 'host' && s.networks !== undefined) {
      report(
        'error',
        'invalid-value',
        at('network_mode'),
        'network_mode: host and networks: cannot be combined: keep one',
      );
    }
    if (s.privileged === true) {
      const why =
        'honoured only under the privileged security profile, and host devices are not passed (unlike Docker)';
      report('warning', 'unsupported-key', at('privileged'), why, true);
    }
    for (const key of ['pid', 'ipc'] as const) {
      if (s[key] !== undefined && s[key] !== 'host') {
        const what = key === 'pid' ? 'PID' : 'IPC';
        report(
          'warning',
          'unsupported-key',
          at(key),
          `ignored: only ${key}: host is honoured; tasks get their own ${what} namespace`,
          true,
        );
      }
    }
    // Long-syntax ports are found in the file: short ones may have expanded into several mappings.
    const ports = locate(root, at('ports')).node;
    for (const [i, port] of (ports?.kind === 'seq' ? ports.items : []).entries()) {
      if (port.kind === 'map' && port.entries.has('app_protocol')) {
        const why = 'ignored: ports are forwarded as plain tcp, udp or sctp; app_protocol is a hint for Docker Compose';
        report('warning', 'unsupported-key', at('ports', i, 'app_protocol'), why, true);
      }
    }
    if (s.expose !== undefined) {
      const why =
        'no effect on a cluster: tasks on a shared network reach every port of each other; publish with ports: to reach the service from outside';
      report('warning', 'unsupported-key', at('expose'), why, true);
    }
    if (s.restart !== undefined && s.deploy?.restart_policy !== undefined) {
      const why = 'ignored: deploy.restart_policy is also set, and it wins (as in docker stack deploy)';
      report('warning', 'unsupported-key', at('restart'), why, true);
    }
    for (const key of Object.keys(UNSUPPORTED_SERVICE_KEYS)) {
      if ((s as Record<string, unknown>)[key] !== undefined) {
        report('warning', 'unsupported-key', at(key), UNSUPPORTED_SERVICE_KEYS[key] as string, true);
      }
    }
    for (const [i, opt] of (s.security_opt ?? []).entries()) {
      if (opt.kind === 'ignored')
        report('warning', 'unsupported-key', at('security_opt', i), ignoredSecurityOpt(opt.name));
    }
    const reservations = (s.deploy?.resources?.reservations ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(UNSUPPORTED_RESERVATION_KEYS)) {
      if (reservations[key] !== undefined) {
        report(
          'warning',
          'unsupported-key',
          at('deploy', 'resources', 'reservations', key),
          UNSUPPORTED_RESERVATION_KEYS[key] as string,
          true,
        );
      }
    }
  }
  for (const [kind, keys] of [
    ['configs', UNSUPPORTED_CONFIG_KEYS],
    ['secrets', UNSUPPORTED_SECRET_KEYS],
  ] as const) {
    for (const [name, object] of Object.entries(model[kind] ?? {})) {
      for (const key of Object.keys(keys)) {
        if ((object as Record<string, unknown> | null)?.[key] !== undefined) {
          report('warning', 'unsupported-key', [kind, name, key], keys[key] as string, true);
        }
      }
    }
  }
  for (const key of Object.keys(UNSUPPORTED_TOP_LEVEL_KEYS)) {
    if ((model as Record<string, unknown>)[key] !== undefined) {
      report('warning', 'unsupported-key', [key], UNSUPPORTED_TOP_LEVEL_KEYS[key] as string, true);
    }
  }
  if (model.version !== undefined) {
    const why = 'ignored: obsolete, as in Docker Compose; the file is read by the Compose Specification';
    report('warning', 'unsupported-key', ['version'], why, true);
  }
  out.push(...dependencyCycles(model, root), ...checkSidecars(services, root));
  out.push(...checkRuntimeKeys(model, root));
  return out;
}

function undeclared(kind: string, name: string, names: Set<string>): string {
  const where = kind === 'service' ? 'services' : `the top-level ${kind}s: section`;
  return `undefined ${kind} "${name}"${suggest(name, [...names])}: declare it under ${where}`;
}

function dependencyCycles(model: StackModel, root: LNode): Diagnostic[] {
  const services = model.services ?? {};
  const state = new Map<string, 'visiting' | 'done'>();
  const trail: string[] = [];
  const out: Diagnostic[] = [];
  const visit = (name: string): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(name)), name];
      const message = `depends_on forms a cycle: ${cycle.join(' → ')}; remove one of these dependencies`;
      out.push(diagnosticAt(root, ['services', name, 'depends_on'], 'dependency-cycle', message, { atKey: true }));
      return;
    }
    state.set(name, 'visiting');
    trail.push(name);
    for (const dep of Object.keys(services[name]?.depends_on ?? {})) if (services[dep]) visit(dep);
    trail.pop();
    state.set(name, 'done');
  };
  for (const name of Object.keys(services)) visit(name);
  return out;
}
