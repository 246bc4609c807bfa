import { readFileSync } from 'node:fs';
import { fastParse } from './src/yaml/fast-parse.ts';
import type { LNode } from './src/yaml/located.ts';
import { parseYaml } from './src/yaml/parse.ts';

const text = process.argv[2] === '-' ? readFileSync(0, 'utf8') : readFileSync(process.argv[2]!, 'utf8');
const a = fastParse(text, 'f');
const b = parseYaml(text, 'f', { fast: false }).root;
let shown = 0;
function cmp(x: LNode | undefined, y: LNode | undefined, path: string) {
  if (shown > 6) return;
  if (!x || !y) {
    console.log('missing', path);
    shown++;
    return;
  }
  const lx = `${x.loc.line}:${x.loc.col}`,
    ly = `${y.loc.line}:${y.loc.col}`;
  if (
    x.kind !== y.kind ||
    lx !== ly ||
    (x.kind === 'scalar' && y.kind === 'scalar' && !Object.is(x.value, y.value)) ||
    (x.tag ?? '') !== (y.tag ?? '')
  ) {
    console.log(
      path,
      'fast',
      x.kind,
      lx,
      x.kind === 'scalar' ? JSON.stringify(x.value) : '',
      x.tag,
      '| precise',
      y.kind,
      ly,
      y.kind === 'scalar' ? JSON.stringify(y.value) : '',
      y.tag,
    );
    shown++;
  }
  if (x.kind === 'seq' && y.kind === 'seq') x.items.forEach((it, i) => cmp(it, y.items[i], `${path}[${i}]`));
  if (x.kind === 'map' && y.kind === 'map') {
    const kx = [...x.entries.keys()],
      ky = [...y.entries.keys()];
    if (kx.join() !== ky.join()) {
      console.log(path, 'keys', kx, ky);
      shown++;
    }
    for (const [k, e] of x.entries) {
      const f = y.entries.get(k);
      if (f && `${e.keyLoc.line}:${e.keyLoc.col}` !== `${f.keyLoc.line}:${f.keyLoc.col}`) {
        console.log(path + '.' + k, 'keyLoc', e.keyLoc, f.keyLoc);
        shown++;
      }
      cmp(e.value, f?.value, `${path}.${k}`);
    }
  }
}
cmp(a, b, '$');
