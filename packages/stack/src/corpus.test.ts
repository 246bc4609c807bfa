import { describe, expect, it } from 'vitest';
import { CASE_FILES, CORPUS, caseNames, recorded, runCase } from './corpus.test-helpers.js';

// Real-world-style Compose files and what `flotilla stack config` prints for them, byte for byte. After an
// intended change, re-record with `node --import tsx packages/stack/test/corpus/record.ts` and review the diff.
const names = caseNames();

describe('Compose corpus (test/corpus)', () => {
  it('has at least 12 cases', () => {
    expect(names.length).toBeGreaterThanOrEqual(12);
  });

  it.each(names)('%s', (name) => {
    const actual = runCase(name);
    const expected = recorded(name);
    // Exactly one of expected.yml (it loads) and expected-errors.txt (it is refused) is recorded.
    expect(Object.keys(expected).sort()).toEqual(Object.keys(actual).sort());
    for (const file of CASE_FILES) expect(actual[file], `${name}/${file}`).toBe(expected[file]);
    // No absolute path of the machine that recorded it leaks into a golden file.
    for (const text of Object.values(actual)) expect(text).not.toContain(CORPUS);
  });
});
