import path from 'node:path';
import type { Diagnostic, DiagnosticCode, Location } from './diagnostics.js';
import { displayName } from './file-source.js';
import { interpolateTree, type Lookup } from './interpolate.js';
import { mergeTrees } from './merge.js';
import { expandHome, fromDir, rewriteServicePaths } from './paths.js';
import { type ReadContext, readReferenced } from './referenced-files.js';
import { suggest } from './schema/primitives.js';
import type { LEntry, LMap, LNode } from './yaml/located.js';

/**
 * Resolves `extends` in the services of one stack file, as Compose does: the service named (in the same file, or
 * in `file:`) is the base, the service's own keys are merged over it by the merge rules of override files, and
 * `extends` chains are followed to their end. A base from another file brings its relative paths resolved from
 * that file's directory. What cannot be followed (a missing file or service, a cycle) is an error at the
 * `extends` key, and the service is kept without its base.
 */
export function resolveExtends(root: LMap, file: string, dir: string, lookup: Lookup, ctx: ReadContext): LMap {
  const servicesEntry = root.entries.get('services');
  const services = servicesEntry?.value;
  if (!servicesEntry || services?.kind !== 'map') return root;
  if (![...services.entries.values()].some((e) => e.value.kind === 'map' && e.value.entries.has('extends'))) {
    return root;
  }
  const resolver = new Extender(ctx, lookup);
  const own: ServiceFile = { file, dir, services: services.entries, resolved: new Map(), failed: new Set() };
  resolver.files.set(file, own);
  const entries = new Map<string, LEntry>();
  for (const [name, entry] of services.entries) {
    entries.set(name, { ...entry, value: resolver.resolve(own, name, []) });
  }
  for (const name of own.failed) ctx.incomplete.add(name);
  const rootEntries = new Map(root.entries);
  rootEntries.set('services', { ...servicesEntry, value: { ...services, entries } });
  return { ...root, entries: rootEntries };
}

/** The services of one file, as extends reads them: paths already absolute for a file other than the stack's. */
interface ServiceFile {
  file: string;
  /** Directory a relative `extends.file` is resolved from. */
  dir: string;
  services: Map<string, LEntry>;
  resolved: Map<string, LNode>;
  /** Services whose chain of extends broke somewhere: they lack what their base would have given. */
  failed: Set<string>;
}

interface Link {
  file: string;
  service: string;
}

class Extender {
  readonly files = new Map<string, ServiceFile | string>();

  constructor(
    private readonly ctx: ReadContext,
    private readonly lookup: Lookup,
  ) {}

  resolve(from: ServiceFile, name: string, chain: Link[]): LNode {
    const node = from.services.get(name)?.value;
    if (node?.kind !== 'map') return node ?? { kind: 'scalar', value: null, loc: { file: from.file, line: 1, col: 1 } };
    const ext = node.entries.get('extends');
    if (!ext) return node;
    const done = from.resolved.get(name);
    if (done) return done;

    const local = withoutKey(node, 'extends');
    const fail = (code: DiagnosticCode, message: string, at: Location = ext.keyLoc): LNode => {
      this.report(code, name, message, at);
      from.failed.add(name);
      from.resolved.set(name, local);
      return local;
    };
    const ref = parseReference(ext.value);
    if (typeof ref === 'string') return fail('invalid-value', ref, ext.value.loc);

    let target = from;
    if (ref.file !== undefined) {
      const loaded = this.load(path.resolve(from.dir, expandHome(ref.file)));
      if (typeof loaded === 'string') return fail('file-error', `extends: ${loaded}`);
      target = loaded;
    }
    if (!target.services.has(ref.service)) {
      const where = target === from ? 'this file' : displayName(target.file);
      const message = `extends: no service "${ref.service}" in ${where}${suggest(ref.service, [...target.services.keys()])}`;
      return fail('undefined-reference', message);
    }
    const links = [...chain, { file: from.file, service: name }];
    const start = links.findIndex((l) => l.file === target.file && l.service === ref.service);
    if (start >= 0) {
      const cycle = [...links.slice(start), links[start] as Link].map((l) => label(l, from.file)).join(' → ');
      return fail('dependency-cycle', `extends forms a cycle: ${cycle}; remove one of these extends`);
    }
    const base = this.resolve(target, ref.service, links);
    if (target.failed.has(ref.service)) from.failed.add(name);
    const merged = mergeService(name, base, local);
    from.resolved.set(name, merged);
    return merged;
  }

  /** Another file's services, interpolated with this project's variables, their paths made absolute. */
  private load(file: string): ServiceFile | string {
    const known = this.files.get(file);
    if (known) return known;
    const read = readReferenced(this.ctx, file);
    let loaded: ServiceFile | string;
    if ('problem' in read) loaded = read.problem;
    else {
      const services = read.root.entries.get('services')?.value;
      if (services?.kind !== 'map') loaded = `${displayName(file)} has no services: mapping`;
      else {
        const interpolated = interpolateTree(services, this.lookup);
        // Its paths are the services' own (`services.NAME.KEY`), said at that file's lines.
        this.ctx.diagnostics.push(
          ...interpolated.diagnostics.map((d) => ({ ...d, path: d.path ? `services.${d.path}` : 'services' })),
        );
        const rewrite = fromDir(path.dirname(file));
        const entries = new Map<string, LEntry>();
        for (const [name, entry] of (interpolated.root as LMap).entries) {
          entries.set(name, { ...entry, value: rewriteServicePaths(entry.value, rewrite) });
        }
        loaded = { file, dir: path.dirname(file), services: entries, resolved: new Map(), failed: new Set() };
      }
    }
    this.files.set(file, loaded);
    return loaded;
  }

  private report(code: DiagnosticCode, service: string, message: string, location: Location): void {
    const d: Diagnostic = { severity: 'error', code, path: `services.${service}.extends`, message, location };
    this.ctx.diagnostics.push(d);
  }
}

/** `extends: NAME` or `extends: {service: NAME, file: FILE}`; a string is what is wrong with it. */
function parseReference(node: LNode): { service: string; file?: string } | string {
  const usage = 'extends takes a service name, or {service: NAME, file: FILE}';
  if (node.kind === 'scalar') {
    return typeof node.value === 'string' && node.value !== '' ? { service: node.value } : usage;
  }
  if (node.kind !== 'map') return usage;
  for (const key of node.entries.keys()) {
    if (key !== 'service' && key !== 'file') return `extends: unknown key "${key}": ${usage}`;
  }
  const service = node.entries.get('service')?.value;
  const file = node.entries.get('file')?.value;
  if (service?.kind !== 'scalar' || typeof service.value !== 'string' || service.value === '') {
    return `extends needs service: the name of the service to extend (${usage})`;
  }
  if (file === undefined) return { service: service.value };
  if (file.kind !== 'scalar' || typeof file.value !== 'string' || file.value === '') {
    return `extends.file must be the path of a stack file (${usage})`;
  }
  return { service: service.value, file: file.value };
}

/** A link of a cycle: the service's name, and its file's when that is not the file the cycle is reported in. */
function label(link: Link, here: string): string {
  return link.file === here ? link.service : `${link.service} (${displayName(link.file)})`;
}

function withoutKey(map: LMap, key: string): LMap {
  const entries = new Map(map.entries);
  entries.delete(key);
  return { ...map, entries };
}

/** The service merged over its base by the rules of override files (the base being the earlier file). */
function mergeService(name: string, base: LNode, local: LMap): LNode {
  const wrap = (service: LNode): LMap => {
    const entry: LEntry = { key: name, keyLoc: service.loc, value: service };
    const services: LMap = { kind: 'map', entries: new Map([[name, entry]]), loc: service.loc };
    return {
      kind: 'map',
      entries: new Map([['services', { key: 'services', keyLoc: service.loc, value: services }]]),
      loc: service.loc,
    };
  };
  const merged = mergeTrees(wrap(base), wrap(local));
  const services = merged.kind === 'map' ? merged.entries.get('services')?.value : undefined;
  return (services?.kind === 'map' ? services.entries.get(name)?.value : undefined) ?? local;
}
