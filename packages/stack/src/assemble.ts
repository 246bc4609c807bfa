import { resolveExtends } from './extends.js';
import { applyIncludes, type ProjectFile } from './include.js';
import { interpolateTree, type Lookup } from './interpolate.js';
import { mergeTrees } from './merge.js';
import type { ReadContext } from './referenced-files.js';
import type { LMap } from './yaml/located.js';

/**
 * The files of one project as one tree, in Compose's order: each file is interpolated, its services' `extends`
 * resolved and its `include` applied, then the files are merged, later ones over earlier ones. An included
 * project is assembled the same way, with its own directory and variables.
 */
export function assembleProject(
  files: ProjectFile[],
  projectDir: string,
  lookup: Lookup,
  ctx: ReadContext,
  chain: string[] = [],
): LMap {
  const trees = files.map(({ file, root }) => {
    const interpolated = interpolateTree(root, lookup);
    ctx.diagnostics.push(...interpolated.diagnostics);
    const extended = resolveExtends(interpolated.root as LMap, file, projectDir, lookup, ctx);
    return applyIncludes(extended, projectDir, lookup, ctx, [...chain, file], (more, dir, variables, outer) =>
      assembleProject(more, dir, variables, ctx, outer),
    );
  });
  const [first, ...rest] = trees;
  if (!first) return { kind: 'map', entries: new Map(), loc: { file: '', line: 1, col: 1 } };
  return rest.reduce<LMap>((base, over) => mergeTrees(base, over) as LMap, first);
}
