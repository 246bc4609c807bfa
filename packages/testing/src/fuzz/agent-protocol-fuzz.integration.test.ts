import { describe, expect, it } from 'vitest';
import { fuzzAgentProtocol } from './agent-protocol-fuzz.js';

describe('the agent protocol under fuzzed session messages', () => {
  it('answers in time, keeps serving, and a well-behaved node keeps its session', async () => {
    const result = await fuzzAgentProtocol({ runs: Number(process.env.FUZZ_RUNS ?? 60), seed: 19 });
    expect(result.findings).toEqual([]);
    // Some inputs got through to the good path, so the harness reaches the surface at all.
    expect(result.accepted).toBeGreaterThan(0);
    expect(result.inputs).toBe(Number(process.env.FUZZ_RUNS ?? 60));
  }, 120_000);
});
