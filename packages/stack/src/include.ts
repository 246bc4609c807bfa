import path from 'node:path';
import type { Diagnostic, DiagnosticCode, Location } from './diagnostics.js';
import { parseEnvFile } from './env-file.js';
import { displayName } from './file-source.js';
import type { Lookup } from './interpolate.js';
import { expandHome, fromDir, rewriteProjectPaths } from './paths.js';
import { type ReadContext, readReferenced, readReferencedText } from './referenced-files.js';
import { type LEntry, type LMap, type LNode, toPlain } from './yaml/located.js';

/** A stack file read, not yet interpolated. */
export interface ProjectFile {
  file: string;
  root: LMap;
}

/** Loads the files of a project (the first one, then its overrides) into one tree: how an included one is read. */
export type ProjectLoader = (files: ProjectFile[], projectDir: string, lookup: Lookup, chain: string[]) => LMap;

/** The kinds of resource an included file brings; its other top-level keys (name, x-…) stay its own. */
const RESOURCES = ['services', 'networks', 'volumes', 'configs', 'secrets'] as const;

/**
 * Applies a stack file's top-level `include`, as Compose does: each entry is loaded as a project of its own, with
 * its own directory for relative paths (its file's, or `project_directory`) and its own env files for its variables
 * (`.env` in its directory unless `env_file` says otherwise; the including project's variables win), and its
 * resources are added to the including file's. A name defined on both sides, differently, is an error: include
 * does not merge (override files do).
 */
export function applyIncludes(
  root: LMap,
  projectDir: string,
  lookup: Lookup,
  ctx: ReadContext,
  chain: string[],
  loadProject: ProjectLoader,
): LMap {
  const include = root.entries.get('include');
  if (!include) return root;
  const entries = new Map(root.entries);
  entries.delete('include');
  let out: LMap = { ...root, entries };
  const report = (code: DiagnosticCode, at: Location, message: string, keyPath = 'include') =>
    ctx.diagnostics.push({ severity: 'error', code, path: keyPath, message, location: at } satisfies Diagnostic);

  if (include.value.kind !== 'seq') {
    report('invalid-type', include.value.loc, `include takes a list of files, or of ${LONG_FORM}`);
    return out;
  }
  for (const [i, item] of include.value.items.entries()) {
    const keyPath = `include[${i}]`;
    const spec = parseEntry(item, projectDir);
    if (typeof spec === 'string') {
      report('invalid-value', item.loc, spec, keyPath);
      continue;
    }
    const cycle = spec.paths.find((p) => chain.includes(p.file));
    if (cycle) {
      const names = [...chain.slice(chain.indexOf(cycle.file)), cycle.file].map(displayName).join(' → ');
      report('dependency-cycle', cycle.at, `include forms a cycle: ${names}; remove one of these includes`, keyPath);
      continue;
    }
    const files: ProjectFile[] = [];
    for (const p of spec.paths) {
      const read = readReferenced(ctx, p.file);
      if ('problem' in read) report('file-error', p.at, `include: ${read.problem}`, keyPath);
      else files.push({ file: p.file, root: read.root });
    }
    if (files.length !== spec.paths.length) continue;
    const dir = spec.projectDirectory ?? path.dirname(files[0]?.file as string);
    const variables = includedVariables(spec, dir, lookup, ctx, keyPath);
    if (!variables) continue;
    const included = rewriteProjectPaths(loadProject(files, dir, variables, [...chain]), fromDir(dir));
    out = addResources(out, included, ctx);
  }
  return out;
}

const LONG_FORM = '{path: FILE or [FILES], project_directory: DIR, env_file: FILE or [FILES]}';

interface Entry {
  paths: { file: string; at: Location }[];
  projectDirectory?: string;
  envFiles?: { file: string; at: Location }[];
}

/** `- FILE` or `- {path, project_directory, env_file}`, paths resolved from the including project's directory. */
function parseEntry(item: LNode, projectDir: string): Entry | string {
  const pathOf = (node: LNode) =>
    node.kind === 'scalar' && typeof node.value === 'string' && node.value !== ''
      ? { file: path.resolve(projectDir, expandHome(node.value)), at: node.loc }
      : undefined;
  const list = (node: LNode) => {
    const items = node.kind === 'seq' ? node.items : [node];
    const paths = items.map(pathOf);
    return paths.every((p) => p !== undefined) && paths.length > 0 ? paths : undefined;
  };
  if (item.kind === 'scalar') {
    const p = pathOf(item);
    return p ? { paths: [p] } : `include takes the path of a stack file, or ${LONG_FORM}`;
  }
  if (item.kind !== 'map') return `include takes the path of a stack file, or ${LONG_FORM}`;
  for (const key of item.entries.keys()) {
    if (!['path', 'project_directory', 'env_file'].includes(key))
      return `include: unknown key "${key}": use ${LONG_FORM}`;
  }
  const pathNode = item.entries.get('path')?.value;
  const paths = pathNode && list(pathNode);
  if (!paths) return `include needs path: the stack file (or files) to include`;
  const entry: Entry = { paths };
  const dir = item.entries.get('project_directory')?.value;
  if (dir) {
    const resolved = pathOf(dir);
    if (!resolved) return 'include.project_directory must be a directory path';
    entry.projectDirectory = resolved.file;
  }
  const envFile = item.entries.get('env_file')?.value;
  if (envFile) {
    const files = list(envFile);
    if (!files) return 'include.env_file must be a file path or a list of them';
    entry.envFiles = files;
  }
  return entry;
}

/** The including project's variables, then the included project's env files' (later files win among them). */
function includedVariables(
  spec: Entry,
  dir: string,
  outer: Lookup,
  ctx: ReadContext,
  keyPath: string,
): Lookup | undefined {
  const defaultEnv = path.join(dir, '.env');
  const files = spec.envFiles ?? (ctx.source.exists(defaultEnv) ? [{ file: defaultEnv, at: undefined }] : []);
  const values = new Map<string, string>();
  for (const f of files) {
    const read = readReferencedText(ctx, f.file);
    if ('problem' in read) {
      const at = f.at ?? spec.paths[0]?.at;
      ctx.diagnostics.push({
        severity: 'error',
        code: 'file-error',
        path: keyPath,
        message: `include: env file: ${read.problem}`,
        ...(at ? { location: at } : {}),
      });
      return undefined;
    }
    const lookup: Lookup = (name) => outer(name) ?? values.get(name);
    for (const [k, v] of parseEnvFile(read.text, lookup)) values.set(k, v);
  }
  return (name) => outer(name) ?? values.get(name);
}

/** The included project's resources added to the including tree; a name on both sides must mean the same. */
function addResources(into: LMap, included: LMap, ctx: ReadContext): LMap {
  const entries = new Map(into.entries);
  for (const kind of RESOURCES) {
    const from = included.entries.get(kind);
    if (from?.value.kind !== 'map' || from.value.entries.size === 0) continue;
    const existing = entries.get(kind);
    const target = existing?.value.kind === 'map' ? existing.value : undefined;
    const merged = new Map<string, LEntry>(target?.entries ?? []);
    for (const [name, entry] of from.value.entries) {
      const mine = merged.get(name);
      if (!mine) {
        merged.set(name, entry);
        continue;
      }
      if (JSON.stringify(toPlain(mine.value)) === JSON.stringify(toPlain(entry.value))) continue;
      const there = `${entry.keyLoc.file}:${entry.keyLoc.line}:${entry.keyLoc.col}`;
      ctx.diagnostics.push({
        severity: 'error',
        code: 'invalid-value',
        path: `${kind}.${name}`,
        message:
          `${kind.slice(0, -1)} "${name}" is also defined, differently, by an included file (${there}): ` +
          'include does not merge definitions; rename one, or extend or override it in a -c file instead',
        location: mine.keyLoc,
      });
    }
    const loc = existing?.keyLoc ?? from.keyLoc;
    entries.set(kind, {
      key: kind,
      keyLoc: loc,
      value: { kind: 'map', entries: merged, loc: target?.loc ?? from.value.loc },
    });
  }
  return { ...into, entries };
}
