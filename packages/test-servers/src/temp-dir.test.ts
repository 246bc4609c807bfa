import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runPrefix } from './run-prefix.js';
import { tempDir } from './temp-dir.js';

describe('run prefix and temp dirs', () => {
  it('names temp dirs with the run prefix and removes them', () => {
    const dir = tempDir('t');
    expect(dir.path).toContain(runPrefix());
    expect(existsSync(dir.path)).toBe(true);
    dir.remove();
    expect(existsSync(dir.path)).toBe(false);
  });
});
