/**
 * Fails when modules of packages/*\/src import each other in a cycle. Run by `npm test` beside the lint step:
 *   node --import tsx scripts/import-cycles.ts
 *
 * Every static import and re-export is an edge, `import type` included: a type-only cycle does no harm at load
 * time, but it still means two modules each need the other to be understood, and the fix (the shared type moves
 * to the module it belongs to, or to one of its own) is cheap. Dynamic `import()` is left out: it runs after
 * loading, which is what it is for (the CLI loads its commands that way). `@flotilla/x` resolves to
 * packages/x/src/index.ts, so a cycle through another package's index is found as well.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PACKAGES = path.join(ROOT, 'packages');

/** Every .ts file under packages/*\/src, generated code included. */
function sourceFiles(): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.push(full);
    }
  };
  for (const pkg of readdirSync(PACKAGES)) {
    const src = path.join(PACKAGES, pkg, 'src');
    if (existsSync(src)) walk(src);
  }
  return files.sort();
}

/** The file a specifier names, or undefined for a module outside packages/*\/src (node:, npm packages). */
function resolve(from: string, specifier: string): string | undefined {
  const workspace = /^@flotilla\/([^/]+)$/.exec(specifier);
  if (workspace) {
    const index = path.join(PACKAGES, workspace[1] as string, 'src', 'index.ts');
    return existsSync(index) ? index : undefined;
  }
  if (!specifier.startsWith('.')) return undefined;
  const base = path.resolve(path.dirname(from), specifier);
  for (const candidate of [base.replace(/\.js$/, '.ts'), `${base}.ts`, path.join(base, 'index.ts')]) {
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** The modules a file imports or re-exports from, statically. */
function staticImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
  const out = new Set<string>();
  for (const statement of source.statements) {
    let specifier: ts.Expression | undefined;
    if (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) {
      specifier = statement.moduleSpecifier;
    } else if (ts.isImportEqualsDeclaration(statement)) {
      const ref = statement.moduleReference;
      if (ts.isExternalModuleReference(ref)) specifier = ref.expression;
    }
    if (!specifier || !ts.isStringLiteral(specifier)) continue;
    const target = resolve(file, specifier.text);
    if (target) out.add(target);
  }
  return [...out];
}

/** Strongly connected components with more than one module, or a module that imports itself (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop() as string;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)?.includes(v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** One shortest loop through the component's first module, to show how the cycle closes. */
function loopThrough(graph: Map<string, string[]>, component: string[]): string[] {
  const members = new Set(component);
  const start = component[0] as string;
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift() as string;
    for (const w of graph.get(v) ?? []) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let at: string | undefined = v; at && at !== start; at = previous.get(at)) path.splice(1, 0, at);
        return [...path, start];
      }
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return component;
}

const graph = new Map<string, string[]>();
for (const file of sourceFiles()) graph.set(file, staticImports(file));
const found = cycles(graph);
const name = (file: string) => path.relative(ROOT, file);
if (found.length === 0) {
  console.log(`import cycles: none among ${graph.size} modules`);
} else {
  console.error(`import cycles: ${found.length} among ${graph.size} modules`);
  for (const component of found) {
    console.error(`\n  ${component.length} modules: ${component.map(name).join(', ')}`);
    console.error(`    ${loopThrough(graph, component).map(name).join('\n      → ')}`);
  }
  process.exitCode = 1;
}
