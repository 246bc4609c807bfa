import type { Diagnostic } from './diagnostics.js';
import { displayName, type FileSource } from './file-source.js';
import { LIMITS } from './limits.js';
import type { LMap } from './yaml/located.js';
import { type ParseMode, parseYaml } from './yaml/parse.js';

/** What one load shares while it follows `include` and `extends` into other files. */
export interface ReadContext {
  source: FileSource;
  mode: ParseMode;
  diagnostics: Diagnostic[];
  /** Files read through include and extends (and include's env files), by absolute path: a bounded number. */
  counted: Set<string>;
  /** The stack files among them, parsed once each. */
  trees: Map<string, Referenced>;
  /**
   * Services whose `extends` could not be followed: what they lack (their image, most often) is not reported
   * again, the `extends` problem says it already.
   */
  incomplete: Set<string>;
}

/** A file another file names: its tree, or why there is none (said at the key that names it). */
export type Referenced = { root: LMap } | { problem: string };

/** Whether one more file may be read: a stack file cannot make the loader read thousands of files. */
function overBudget(ctx: ReadContext, file: string): string | undefined {
  if (ctx.counted.has(file) || ctx.counted.size < LIMITS.maxFiles) {
    ctx.counted.add(file);
    return undefined;
  }
  return `a stack reads at most ${LIMITS.maxFiles} files through include and extends: this one names more`;
}

/** The text of a file another file names (an env file), counted against the same budget. */
export function readReferencedText(ctx: ReadContext, file: string): { text: string } | { problem: string } {
  const over = overBudget(ctx, file);
  return over ? { problem: over } : readText(ctx, file);
}

/**
 * A stack file named by `include` or `extends`, parsed (not interpolated: each use interpolates it with the
 * variables of its own project). Syntax errors are reported with the named file's own lines.
 */
export function readReferenced(ctx: ReadContext, file: string): Referenced {
  const cached = ctx.trees.get(file);
  if (cached) return cached;
  const over = overBudget(ctx, file);
  if (over) return { problem: over };
  const result = parseReferenced(ctx, file);
  ctx.trees.set(file, result);
  return result;
}

function parseReferenced(ctx: ReadContext, file: string): Referenced {
  const read = readText(ctx, file);
  if ('problem' in read) return read;
  const name = displayName(file);
  const parsed = parseYaml(read.text, name, { mode: ctx.mode });
  ctx.diagnostics.push(...parsed.diagnostics);
  if (parsed.diagnostics.some((d) => d.severity === 'error'))
    return { problem: `${name} has errors, reported at their lines` };
  if (!parsed.root || (parsed.root.kind === 'scalar' && parsed.root.value === null)) {
    return { problem: `${name} is empty` };
  }
  if (parsed.root.kind !== 'map') return { problem: `${name} is not a stack file: it must be a mapping` };
  return { root: parsed.root };
}

function readText(ctx: ReadContext, file: string): { text: string } | { problem: string } {
  try {
    return { text: ctx.source.read(file) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    return { problem: `cannot read ${displayName(file)}: ${why}` };
  }
}
