import { describe, expect, it } from 'vitest';
import { fuzzStackFiles, stackSamples } from './stack-file-fuzz.js';

describe('no input crashes the stack file loader', () => {
  it('has the fixtures to mutate', () => {
    expect(stackSamples().length).toBeGreaterThan(10);
  });

  it('gives a stack or located errors for random, stack-shaped, mutated and hostile YAML', () => {
    const result = fuzzStackFiles({ runs: Number(process.env.FUZZ_RUNS ?? 300), seed: 19 });
    expect(result.findings).toEqual([]);
    // Some inputs got through to the good path, so the harness reaches the surface at all.
    expect(result.accepted).toBeGreaterThan(0);
    expect(result.inputs).toBe(Number(process.env.FUZZ_RUNS ?? 300));
  }, 60_000);
});
