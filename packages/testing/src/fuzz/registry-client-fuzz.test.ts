import { describe, expect, it } from 'vitest';
import { fuzzRegistryClient } from './registry-client-fuzz.js';

describe('the registry client against a hostile registry', () => {
  it('pulls or refuses with a FlotillaError, in time, in bounded memory, writing only into its target', async () => {
    const result = await fuzzRegistryClient({ runs: Number(process.env.FUZZ_RUNS ?? 80), seed: 19 });
    expect(result.findings).toEqual([]);
    // Some inputs got through to the good path, so the harness reaches the surface at all.
    expect(result.accepted).toBeGreaterThan(0);
    expect(result.inputs).toBe(Number(process.env.FUZZ_RUNS ?? 80));
  }, 60_000);
});
