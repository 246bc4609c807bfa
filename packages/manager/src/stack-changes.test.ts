import { ServiceSpec } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { taskChange } from './stack-changes.js';

describe('taskChange', () => {
  const spec = (labels: Record<string, string>, replicas = 2n, image = 'app:1') =>
    ServiceSpec.fromPartial({ replicas, container: { image, labels, sysctls: { b: '1', a: '2' } } });

  it('is none for the same spec written with its maps in another order', () => {
    expect(taskChange(spec({ x: '1', y: '2' }), spec({ y: '2', x: '1' }))).toBe('none');
  });

  it('is scaled for a replica change alone, replaced for anything tasks run', () => {
    expect(taskChange(spec({}), spec({}, 5n))).toBe('scaled');
    expect(taskChange(spec({}), spec({}, 2n, 'app:2'))).toBe('replaced');
    expect(taskChange(spec({ x: '1' }), spec({ x: '2' }))).toBe('replaced');
    expect(taskChange(undefined, spec({}))).toBe('replaced');
  });
});
