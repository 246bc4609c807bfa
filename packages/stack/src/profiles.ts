import type { Diagnostic } from './diagnostics.js';
import type { Lookup } from './interpolate.js';
import type { StackModel } from './schema/stack.js';
import { diagnosticAt, type LNode, type PathSegment } from './yaml/located.js';

/** The profiles asked for: `--profile` (repeatable), else COMPOSE_PROFILES (comma-separated), as Compose reads them. */
export function enabledProfiles(given: readonly string[] | undefined, lookup: Lookup): Set<string> {
  const names = given && given.length > 0 ? given : (lookup('COMPOSE_PROFILES') ?? '').split(',');
  return new Set(names.map((n) => n.trim()).filter((n) => n !== ''));
}

export interface ProfileSelection {
  /** The model with only the active services. */
  model: StackModel;
  /** The services left out, with their profiles. */
  inactive: Map<string, string[]>;
}

/**
 * Keeps the services that are active: those with no `profiles`, and those with a profile that is enabled (`*`
 * enables every one). Networks, volumes, configs and secrets are kept whoever uses them: an unused one costs
 * nothing, and a stack deployed with another profile later finds it there.
 */
export function selectProfiles(model: StackModel, enabled: Set<string>): ProfileSelection {
  const inactive = new Map<string, string[]>();
  const services: NonNullable<StackModel['services']> = {};
  for (const [name, service] of Object.entries(model.services ?? {})) {
    const profiles = service.profiles ?? [];
    if (profiles.length === 0 || enabled.has('*') || profiles.some((p) => enabled.has(p))) services[name] = service;
    else inactive.set(name, profiles);
  }
  return { model: inactive.size === 0 ? model : { ...model, services }, inactive };
}

/**
 * References from active services to inactive ones (depends_on, network_mode: service:X, volumes_from). Compose
 * enables a dependency's profile only for a service named on its command line; a deploy names none, so each is
 * reported with the profile that would enable it.
 */
export function inactiveDependencies(selection: ProfileSelection, root: LNode): Diagnostic[] {
  const out: Diagnostic[] = [];
  const report = (dep: string, at: PathSegment[], atKey: boolean, remedy: string) => {
    const profiles = selection.inactive.get(dep) ?? [];
    const which =
      profiles.length === 1
        ? `profile "${profiles[0]}", which is not enabled`
        : `profiles ${profiles.map((p) => `"${p}"`).join(', ')}, none of which is enabled`;
    const message =
      `service "${dep}" is not deployed: it is only in ${which}; enable it with ` +
      `--profile ${profiles[0]} (or COMPOSE_PROFILES=${profiles[0]})${remedy}`;
    out.push(diagnosticAt(root, at, 'undefined-reference', message, { atKey }));
  };
  for (const [name, service] of Object.entries(selection.model.services ?? {})) {
    for (const [dep, settings] of Object.entries(service.depends_on ?? {})) {
      if (!selection.inactive.has(dep) || !settings.required) continue;
      report(dep, ['services', name, 'depends_on', dep], true, ', or set required: false on this dependency');
    }
    // The other ways a service names another: sharing its network namespace or its volumes.
    const shared = /^service:(.+)$/.exec(service.network_mode ?? '')?.[1];
    if (shared && selection.inactive.has(shared)) report(shared, ['services', name, 'network_mode'], false, '');
    const volumesFrom = (service as { volumes_from?: unknown }).volumes_from;
    for (const [i, entry] of (Array.isArray(volumesFrom) ? volumesFrom : []).entries()) {
      // `NAME[:ro]` or `service:NAME[:ro]`; `container:NAME` is not a service of the stack.
      const source = typeof entry === 'string' ? /^(?!container:)(?:service:)?([^:]+)/.exec(entry)?.[1] : undefined;
      if (source && selection.inactive.has(source)) report(source, ['services', name, 'volumes_from', i], false, '');
    }
  }
  if (selection.inactive.size > 0 && Object.keys(selection.model.services ?? {}).length === 0) {
    const all = [...new Set([...selection.inactive.values()].flat())].sort();
    const message = `no service is active: every service is in a profile that is not enabled (${all.join(', ')}); enable one with --profile NAME`;
    out.push(diagnosticAt(root, ['services'], 'missing-key', message, { atKey: true }));
  }
  return out;
}
