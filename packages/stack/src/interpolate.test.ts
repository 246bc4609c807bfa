import { describe, expect, it } from 'vitest';
import { interpolateString } from './interpolate.js';

const env: Record<string, string> = { SET: 'value', EMPTY: '', TAG: '1.2' };
const lookup = (name: string) => env[name];
const value = (text: string) => interpolateString(text, lookup).value;

describe('interpolation', () => {
  it.each([
    ['$SET', 'value'],
    ['${SET}', 'value'],
    ['pre-${SET}-post', 'pre-value-post'],
    ['${UNSET:-fallback}', 'fallback'],
    ['${EMPTY:-fallback}', 'fallback'],
    ['${EMPTY-fallback}', ''],
    ['${UNSET-fallback}', 'fallback'],
    ['${SET:+alt}', 'alt'],
    ['${EMPTY:+alt}', ''],
    ['${EMPTY+alt}', 'alt'],
    ['${UNSET:-${TAG}}', '1.2'],
    ['$$SET', '$SET'],
    ['$${SET}', '${SET}'],
    ['cost: 5$$', 'cost: 5$'],
  ])('%s → %s', (text, expected) => {
    expect(value(text)).toBe(expected);
  });

  it('reports required variables with their message', () => {
    expect(interpolateString('${UNSET:?say why}', lookup).errors[0]).toMatch(
      /required variable UNSET is not set: say why/,
    );
    expect(interpolateString('${EMPTY:?}', lookup).errors[0]).toMatch(/required variable EMPTY is empty/);
    expect(interpolateString('${EMPTY?}', lookup).errors).toEqual([]);
  });

  it('lists unset variables without a default, which become empty', () => {
    const out = interpolateString('a${NOPE}b$ALSO_NOT', lookup);
    expect(out.value).toBe('ab');
    expect(out.unset).toEqual(['NOPE', 'ALSO_NOT']);
  });

  it('rejects malformed templates with a hint', () => {
    expect(interpolateString('${', lookup).errors[0]).toMatch(/missing "}"/);
    expect(interpolateString('$1', lookup).errors[0]).toMatch(/write \$\$ for a literal \$/);
    expect(interpolateString('${A B}', lookup).errors[0]).toMatch(/after the name use/);
  });
});
