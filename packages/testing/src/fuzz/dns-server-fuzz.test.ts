import { describe, expect, it } from 'vitest';
import { fuzzDnsServer } from './dns-server-fuzz.js';

describe('the DNS server under fuzzed packets', () => {
  it('answers or drops every packet, over UDP and TCP, and answers a valid query after each', async () => {
    const result = await fuzzDnsServer({ runs: Number(process.env.FUZZ_RUNS ?? 60), seed: 19 });
    expect(result.findings).toEqual([]);
    // Some inputs got through to the good path, so the harness reaches the surface at all.
    expect(result.accepted).toBeGreaterThan(0);
    expect(result.inputs).toBe(Number(process.env.FUZZ_RUNS ?? 60));
  }, 60_000);
});
