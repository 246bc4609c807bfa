import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { TreeError } from './build-map.js';
import { fastParse } from './fast-parse.js';
import type { LNode } from './located.js';
import { parseYaml } from './parse.js';
import { plainParse } from './plain-parse.js';

const FIXTURES = path.resolve(import.meta.dirname, '../../test');

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) return yamlFiles(p);
    return /\.ya?ml$/.test(d.name) ? [p] : [];
  });
}

/** Every value, key and location of a tree, in order, for comparing the two front ends. */
function describeTree(node: LNode): unknown {
  const loc = `${node.loc.line}:${node.loc.col}`;
  if (node.kind === 'scalar') return [loc, node.value, node.tag ?? ''];
  if (node.kind === 'seq') return [loc, node.tag ?? '', node.items.map(describeTree)];
  return [
    loc,
    node.tag ?? '',
    [...node.entries.values()].map((e) => [e.key, `${e.keyLoc.line}:${e.keyLoc.col}`, describeTree(e.value)]),
  ];
}

/** The same without locations, for the front end that has none. */
function describeValues(node: LNode): unknown {
  if (node.kind === 'scalar') return [node.value, node.tag ?? ''];
  if (node.kind === 'seq') return [node.tag ?? '', node.items.map(describeValues)];
  return [node.tag ?? '', [...node.entries.values()].map((e) => [e.key, describeValues(e.value)])];
}

/**
 * Each fast front end either gives up or builds exactly the tree the precise one builds (the plain one without
 * locations). Returns whether the located fast path was taken.
 */
function agree(text: string): boolean {
  const parsed = fastParse(text, 'f.yml');
  const fast = parsed instanceof TreeError ? undefined : parsed;
  const plain = plainParse(text, 'f.yml');
  if (!fast && !plain) return false;
  const precise = parseYaml(text, 'f.yml', { mode: 'precise' });
  expect(precise.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  if (fast) expect(describeTree(fast)).toEqual(describeTree(precise.root as LNode));
  if (plain) expect(describeValues(plain)).toEqual(describeValues(precise.root as LNode));
  return fast !== undefined;
}

describe('fast YAML front end', () => {
  const files = yamlFiles(FIXTURES);

  it.each(files.map((f) => [path.relative(FIXTURES, f), f]))(
    '%s: same tree as the precise front end',
    (_name, file) => {
      agree(readFileSync(file, 'utf8'));
    },
  );

  it('takes both fast paths for every valid fixture', () => {
    const fixtures = files.filter((f) => f.includes('/fixtures/'));
    expect(fixtures.filter((f) => !fastParse(readFileSync(f, 'utf8'), 'f.yml'))).toEqual([]);
    expect(fixtures.filter((f) => !plainParse(readFileSync(f, 'utf8'), 'f.yml'))).toEqual([]);
  });

  it('agrees on tricky scalars, anchors, merge keys, tags and empty values', () => {
    const text = [
      'a: &x {p: 1, q: [1, 2]}',
      'b:',
      '  <<: *x',
      '  q: !reset [3]',
      '  e:',
      '  s: [*x, "str", \'sq\', 0440, 0o17, 0x1f, 1e3, .inf, ~, Null, TRUE, yes, 1_000, +5, -0.5]',
      '  m: !override',
      '    k: v',
      '"quoted key": |',
      '  block',
      '  text',
      'folded: >-',
      '  one',
      '  two',
      'multi: this is',
      '  a plain scalar',
      '? explicit',
      ': value',
      'list:',
      '- a',
      '- - nested',
      '  - &y deep',
      '- *y',
      '- {}',
      '- []',
      '- key: v',
      '  other: w # comment',
      '01: octal-looking key',
      'true: bool key',
      '',
    ].join('\n');
    expect(agree(text)).toBe(true);
    expect(agree(text.replaceAll('\n', '\r\n'))).toBe(true);
  });

  it('gives up on what it does not handle, so the precise front end reports it', () => {
    for (const text of ['a: 1\na: 2\n', 'a: [1, 2\n', '? [a]\n: 1\n', '[a]: 1\n', 'a: !custom 1\n', 'a: !reset\n']) {
      expect(fastParse(text, 'f.yml'), text).toBeUndefined();
      expect(plainParse(text, 'f.yml'), text).toBeUndefined();
    }
    // Aliases resolve after parsing there, so a redefined anchor is left to the precise front end.
    expect(fastParse('a: &x 1\nb: &x 2\nc: *x\n', 'f.yml')).toBeUndefined();
  });

  it('agrees with the precise front end on generated documents', () => {
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.string(),
        fc.constantFrom('0440', '1e3', 'true', 'null', '~', '0x1F', '.5', '-1', 'a: b', '- x', '#c', "it's", '"q"'),
        fc.integer(),
        fc.double({ noNaN: true }),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('node'), { maxLength: 4 }),
        fc.dictionary(fc.string(), tie('node'), { maxKeys: 4 }),
      ),
    })).node;
    const style = fc.record({ flow: fc.boolean(), indent: fc.integer({ min: 2, max: 4 }) });
    let compared = 0;
    fc.assert(
      fc.property(value, style, (v, s) => {
        const text = stringify(v, { indent: s.indent, collectionStyle: s.flow ? 'flow' : 'block' });
        if (agree(text)) compared++;
      }),
      { numRuns: 400 },
    );
    // The comparison means something only if the fast path is taken for most documents.
    expect(compared).toBeGreaterThan(300);
  });
});
