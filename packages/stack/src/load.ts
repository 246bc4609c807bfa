import path from 'node:path';
import { assembleProject } from './assemble.js';
import { checkStack } from './checks.js';
import { type Diagnostic, type Location, StackError } from './diagnostics.js';
import { parseEnvFile } from './env-file.js';
import { displayName, type FileSource, fsSource } from './file-source.js';
import type { ProjectFile } from './include.js';
import { interpolateString, type Lookup } from './interpolate.js';
import { locateKeyPath } from './key-path.js';
import { readLabelFiles } from './label-files.js';
import { LIMITS } from './limits.js';
import { type NormalizedStack, normalizeStack } from './normalize.js';
import { expandHome, rewriteProjectPaths } from './paths.js';
import { enabledProfiles, inactiveDependencies, selectProfiles } from './profiles.js';
import type { ReadContext } from './referenced-files.js';
import type { StackModel } from './schema/stack.js';
import type { ObjectData } from './service-spec.js';
import { validateStack } from './validate.js';
import type { LMap, LNode, PathSegment } from './yaml/located.js';
import { diagnosticAt, toPlain } from './yaml/located.js';
import { type ParseMode, parseYaml } from './yaml/parse.js';

export type { FileSource } from './file-source.js';
export { fsSource } from './file-source.js';

export interface LoadOptions {
  /** Stack files, merged in order: later files override earlier ones. */
  files: string[];
  /** Variables for interpolation; the caller passes process.env to use the shell's. */
  env?: Record<string, string | undefined>;
  /** A .env file to read variables from; default `.env` beside the first file, if it exists. false: none. */
  envFile?: string | false;
  /**
   * Profiles to enable (`--profile`); when none are given, COMPOSE_PROFILES (comma-separated) is read from the
   * variables. Services with no profiles are always active.
   */
  profiles?: string[];
  /**
   * What `${COMPOSE_PROJECT_NAME}` stands for: the stack's name when deploying. Default: COMPOSE_PROJECT_NAME
   * from the variables, else the top-level `name:`, else the project directory's name, as Compose takes it.
   */
  projectName?: string;
}

export interface LoadedStack {
  stack: NormalizedStack;
  /** Problems that did not stop the load: ignored keys, unset variables. */
  warnings: Diagnostic[];
  files: string[];
  projectDir: string;
  /**
   * Where a key path of the stack (`services.web.cap_add[1]`, as the manager names what it refuses) is in its
   * files; undefined when no part of it is there.
   */
  locate(keyPath: string): Location | undefined;
  /**
   * The content of a secret or config the stack makes, for toStackSpec: its file's bytes, its variable's value or
   * its `content:` (empty for an external one). Kept out of `stack` so that nothing that shows the stack holds it.
   */
  objectData: ObjectData;
}

/**
 * Reads, interpolates, merges, validates and normalizes a stack. Throws a StackError that lists every problem
 * found (each with its file:line:col) when the stack is invalid; otherwise returns the stack and any warnings.
 */
export function loadStack(options: LoadOptions, source: FileSource = fsSource): LoadedStack {
  // A first pass without positions is several times faster; positions matter only when there is something to
  // report, and then a second pass finds the same problems with their places.
  try {
    const quick = load(options, source, 'plain');
    if (quick.warnings.length === 0) return quick;
  } catch (err) {
    if (!(err instanceof StackError)) throw err;
    // Problems found while parsing already carry their places (the parser fell back to a located front end);
    // the others are found again, with their places, by the pass below.
    if (err.diagnostics.every((d) => d.location === undefined || d.location.line > 0)) throw err;
  }
  return load(options, source, 'located');
}

function load(options: LoadOptions, source: FileSource, mode: ParseMode): LoadedStack {
  const files = options.files.map((f) => path.resolve(f));
  if (files.length === 0) throw invalid([fileError('', 'no stack file given: pass one with -c FILE')]);
  if (files.length > LIMITS.maxFiles)
    throw invalid([fileError('', `at most ${LIMITS.maxFiles} stack files can be merged`)]);
  const projectDir = path.dirname(files[0] as string);
  const diagnostics: Diagnostic[] = [];

  const shell = variables(options, projectDir, source, diagnostics);
  const parsed: ProjectFile[] = [];
  for (const [i, file] of files.entries()) {
    const text = readText(file, source, diagnostics);
    if (text === undefined) continue;
    const root = parseTree(text, displayName(file), mode, diagnostics, i > 0);
    if (root) parsed.push({ file, root });
  }
  // A file that cannot be read or parsed leaves nothing to check: its problems are what there is to say.
  if (hasErrors(diagnostics) || parsed.length === 0) throw invalid(diagnostics);

  const projectName = options.projectName ?? shell('COMPOSE_PROJECT_NAME') ?? nameOf(parsed, shell, projectDir);
  const lookup: Lookup = (name) => (name === 'COMPOSE_PROJECT_NAME' ? projectName : shell(name));
  const ctx: ReadContext = { source, mode, diagnostics, counted: new Set(), trees: new Map(), incomplete: new Set() };
  const merged = rewriteProjectPaths(assembleProject(parsed, projectDir, lookup, ctx), expandHome);

  // Everything found from here on is reported together. Problems already said at a place (a variable that is
  // not set, in a value that then fails validation) are not said again there.
  const errorPlace = (d: Diagnostic) => (d.severity === 'error' ? where(d.location) : undefined);
  const said = new Set(diagnostics.map(errorPlace).filter((p) => p !== undefined));
  const saidAlready = (d: Diagnostic) => said.has(errorPlace(d) ?? '');
  const validated: Diagnostic[] = [];
  const validation = validateStack(merged, validated);
  diagnostics.push(...validated.filter((d) => !saidAlready(d)));
  if (!validation) throw invalid(diagnostics);
  const selection = selectProfiles(validation.model, enabledProfiles(options.profiles, lookup));
  const model = selection.model;
  const found: Diagnostic[] = [];
  const profileProblems = inactiveDependencies(selection, merged);
  const replaced = new Set(profileProblems.map((d) => d.path));
  found.push(...checkStack(model, merged).filter((d) => !(d.code === 'undefined-reference' && replaced.has(d.path))));
  found.push(...profileProblems);
  const envFiles = readEnvFiles(model, projectDir, merged, source, lookup, found);
  const labelFiles = readLabelFiles(model, projectDir, merged, source, found);
  checkObjectFiles(model, projectDir, merged, source, found);
  checkObjectVariables(model, merged, lookup, found);
  const seccompFiles = readSeccompFiles(model, projectDir, merged, source, found);
  const hidden = hiddenBy(validation.pruned, ctx.incomplete);
  for (const d of found) {
    if (hidden(d) || saidAlready(d)) continue;
    diagnostics.push(d);
  }
  if (hasErrors(diagnostics)) throw invalid(diagnostics);

  const stack = normalizeStack(model, {
    projectDir,
    lookup,
    envFiles,
    labelFiles,
    seccompFiles,
    extensions: extensionsOf(merged),
    serviceExtensions: serviceExtensionsOf(merged),
  });
  // A plain parse kept no places: the files are read again, with them, only when a place is asked for.
  let located: LoadedStack | undefined;
  const locate = (keyPath: string): Location | undefined => {
    if (mode !== 'plain') return locateKeyPath(merged, keyPath);
    located ??= load(options, source, 'located');
    return located.locate(keyPath);
  };
  const objectData: ObjectData = (kind, name) => {
    const o = stack[kind][name];
    if (!o || o.external) return Buffer.alloc(0);
    if (o.file) return source.readBytes ? source.readBytes(o.file) : Buffer.from(source.read(o.file));
    if (o.environment) return Buffer.from(lookup(o.environment) ?? '');
    return Buffer.from(o.content ?? '');
  };
  return { stack, warnings: diagnostics, files, projectDir, locate, objectData };
}

/** Loads one stack file given as text (what a control API receives); no other files are read. */
export function loadStackText(
  text: string,
  options: Pick<LoadOptions, 'env' | 'profiles' | 'projectName'> & { file?: string } = {},
): LoadedStack {
  const file = path.resolve(options.file ?? 'stack.yml');
  const source: FileSource = {
    read: (f) => {
      if (f !== file)
        throw new Error('only the stack file itself can be read here (the control API receives one file)');
      if (Buffer.byteLength(text) > LIMITS.maxFileBytes) {
        throw new Error(`stack files over ${LIMITS.maxFileBytes} bytes (1 MiB) are refused`);
      }
      return text;
    },
    exists: (f) => f === file,
  };
  const { file: _file, ...rest } = options;
  return loadStack({ ...rest, files: [file], env: options.env ?? {}, envFile: false }, source);
}

function invalid(diagnostics: Diagnostic[]): StackError {
  return new StackError('invalid-stack', diagnostics);
}

function hasErrors(diagnostics: Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}

function fileError(file: string, message: string): Diagnostic {
  return {
    severity: 'error',
    code: 'file-error',
    path: '',
    message,
    ...(file ? { location: { file, line: 1, col: 1 } } : {}),
  };
}

function readText(file: string, source: FileSource, diagnostics: Diagnostic[]): string | undefined {
  try {
    return source.read(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    diagnostics.push(fileError(displayName(file), `cannot read the stack file: ${why}`));
    return undefined;
  }
}

function parseTree(
  text: string,
  file: string,
  mode: ParseMode,
  diagnostics: Diagnostic[],
  override: boolean,
): LMap | undefined {
  const parsed = parseYaml(text, file, { mode });
  diagnostics.push(...parsed.diagnostics);
  if (hasErrors(parsed.diagnostics)) return undefined;
  if (!parsed.root || (parsed.root.kind === 'scalar' && parsed.root.value === null)) {
    // An override left empty (or all comments) changes nothing, as in Compose; the stack's own file cannot be.
    if (override)
      diagnostics.push({ ...fileError(file, 'the file is empty: it changes nothing'), severity: 'warning' });
    else diagnostics.push(fileError(file, 'the file is empty: a stack file is a mapping with at least services:'));
    return undefined;
  }
  if (parsed.root.kind !== 'map') {
    diagnostics.push({
      severity: 'error',
      code: 'invalid-type',
      path: '',
      message: 'a stack file must be a mapping (services:, networks:, …), not a list or a single value',
      location: parsed.root.loc,
    });
    return undefined;
  }
  return parsed.root;
}

function variables(options: LoadOptions, projectDir: string, source: FileSource, diagnostics: Diagnostic[]): Lookup {
  const env = options.env ?? {};
  const shell: Lookup = (name) => env[name];
  const envFile = options.envFile === undefined ? path.join(projectDir, '.env') : options.envFile;
  if (envFile === false || (options.envFile === undefined && !source.exists(envFile))) return shell;
  let dotenv: Map<string, string>;
  try {
    dotenv = parseEnvFile(source.read(envFile), shell);
  } catch (err) {
    diagnostics.push(fileError(displayName(envFile), `cannot read the env file: ${(err as Error).message}`));
    return shell;
  }
  // The shell's variables win over the .env file's, as in Compose.
  return (name) => env[name] ?? dotenv.get(name);
}

/**
 * The project name when none is given: the top-level `name:` (the last file's that has one, its variables
 * expanded), else the project directory's name made a valid one, as Compose derives it.
 */
function nameOf(files: ProjectFile[], lookup: Lookup, projectDir: string): string {
  let written: string | undefined;
  for (const { root } of files) {
    const name = root.entries.get('name')?.value;
    if (name?.kind === 'scalar' && typeof name.value === 'string') written = name.value;
  }
  if (written !== undefined) return interpolateString(written, lookup).value;
  return path
    .basename(projectDir)
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '')
    .replace(/^[^a-z0-9]+/, '');
}

/** A place as text, to compare places; nothing for a problem that has no place (it hides nothing). */
function where(location: Location | undefined): string | undefined {
  return location ? `${location.file}:${location.line}:${location.col}` : undefined;
}

/**
 * Whether a later check's diagnostic is about something validation left out (its problem is reported already),
 * or is a service's missing image when its `extends` could not be followed (the base would have given it).
 */
function hiddenBy(pruned: Set<string>, incomplete: Set<string>): (d: Diagnostic) => boolean {
  return (d) => {
    for (const p of pruned) {
      if (d.path === p || d.path.startsWith(`${p}.`) || d.path.startsWith(`${p}[`)) return true;
      if (d.code === 'missing-key' && p === `${d.path}.image`) return true;
    }
    const service = /^services\.(.+)$/.exec(d.path)?.[1];
    return d.code === 'missing-key' && service !== undefined && incomplete.has(service);
  };
}

function readEnvFiles(
  model: StackModel,
  projectDir: string,
  root: LNode,
  source: FileSource,
  lookup: Lookup,
  diagnostics: Diagnostic[],
): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (const [name, service] of Object.entries(model.services ?? {})) {
    for (const [i, entry] of (service.env_file ?? []).entries()) {
      const file = path.resolve(projectDir, entry.path);
      if (out.has(file)) continue;
      // The entry itself (a list merged from an extended service's file holds entries of both files).
      const at = ['services', name, 'env_file', i];
      if (!source.exists(file)) {
        if (entry.required) diagnostics.push(missingFile(root, at, entry.path, 'env_file'));
        continue;
      }
      try {
        out.set(file, parseEnvFile(source.read(file), lookup));
      } catch (err) {
        diagnostics.push(missingFile(root, at, entry.path, (err as Error).message));
      }
    }
  }
  return out;
}

/** A seccomp profile is sent with the spec to every node that runs the service: Docker's is about 16 KiB. */
const MAX_SECCOMP_BYTES = 256 * 1024;

/**
 * Reads the seccomp profiles `security_opt: [seccomp=FILE]` names: each must be a JSON object with a
 * `defaultAction` (Docker's format); the nodes check the rest when they convert it.
 */
function readSeccompFiles(
  model: StackModel,
  projectDir: string,
  root: LNode,
  source: FileSource,
  diagnostics: Diagnostic[],
): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, service] of Object.entries(model.services ?? {})) {
    for (const [i, opt] of (service.security_opt ?? []).entries()) {
      if (opt.kind !== 'seccomp' || opt.value === 'unconfined') continue;
      const file = path.resolve(projectDir, opt.value);
      if (out.has(file)) continue;
      const at = ['services', name, 'security_opt', i];
      if (!source.exists(file)) {
        diagnostics.push(missingFile(root, at, opt.value, 'seccomp profile'));
        continue;
      }
      const problem = (why: string) =>
        diagnostics.push(diagnosticAt(root, at, 'file-error', `seccomp profile "${opt.value}": ${why}`));
      try {
        const text = source.read(file);
        if (Buffer.byteLength(text) > MAX_SECCOMP_BYTES) {
          problem(`larger than ${MAX_SECCOMP_BYTES / 1024} KiB`);
          continue;
        }
        const profile = JSON.parse(text) as { defaultAction?: unknown } | null;
        if (typeof profile?.defaultAction !== 'string') {
          problem('not a seccomp profile: a JSON object with a defaultAction, as Docker reads it');
          continue;
        }
        out.set(file, text);
      } catch (err) {
        problem((err as Error).message);
      }
    }
  }
  return out;
}

function checkObjectFiles(
  model: StackModel,
  projectDir: string,
  root: LNode,
  source: FileSource,
  diagnostics: Diagnostic[],
) {
  for (const kind of ['configs', 'secrets'] as const) {
    for (const [name, object] of Object.entries(model[kind] ?? {})) {
      const what = kind.slice(0, -1);
      if (object?.file && !source.exists(path.resolve(projectDir, object.file))) {
        diagnostics.push(missingFile(root, [kind, name, 'file'], object.file, what));
        continue;
      }
      // Refused here, at its line, rather than by the managers after the images were resolved.
      const size = object?.file
        ? source.readBytes?.(path.resolve(projectDir, object.file)).length
        : object?.content === undefined
          ? undefined
          : Buffer.byteLength(object.content);
      if (size !== undefined && size > LIMITS.maxFileObjectBytes) {
        const at = object?.file ? 'file' : 'content';
        const message = `the ${what}'s content is ${size} bytes: a ${what} holds at most ${LIMITS.maxFileObjectBytes} bytes (500 KiB)`;
        diagnostics.push(diagnosticAt(root, [kind, name, at], 'limit-exceeded', message));
      }
    }
  }
}

/** A secret's or config's `environment:` names a variable that must be set where the stack is deployed. */
function checkObjectVariables(model: StackModel, root: LNode, lookup: Lookup, diagnostics: Diagnostic[]) {
  for (const kind of ['configs', 'secrets'] as const) {
    for (const [name, object] of Object.entries(model[kind] ?? {})) {
      if (object?.environment && lookup(object.environment) === undefined) {
        const message =
          `variable ${object.environment} is not set: the ${kind.slice(0, -1)}'s content comes from it ` +
          '(set it in the environment or in the .env file)';
        diagnostics.push(diagnosticAt(root, [kind, name, 'environment'], 'undefined-variable', message));
      }
    }
  }
}

function missingFile(root: LNode, at: PathSegment[], file: string, what: string): Diagnostic {
  // A path from an extended or included file is absolute by now: it was relative to that file's directory.
  const relative = path.isAbsolute(file) ? '' : " (paths are relative to the first stack file's directory)";
  const message = `${what} file "${file}" does not exist${relative}`;
  return diagnosticAt(root, at, 'file-error', message);
}

function extensionsOf(root: LNode): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (root.kind !== 'map') return out;
  for (const [key, entry] of root.entries) if (key.startsWith('x-')) out[key] = toPlain(entry.value);
  return out;
}

function serviceExtensionsOf(root: LNode): Record<string, Record<string, unknown>> {
  const services = root.kind === 'map' ? root.entries.get('services')?.value : undefined;
  const out: Record<string, Record<string, unknown>> = {};
  if (services?.kind !== 'map') return out;
  for (const [name, entry] of services.entries) {
    if (entry.value.kind === 'map') out[name] = extensionsOf(entry.value as LMap);
  }
  return out;
}
