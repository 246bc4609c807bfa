import { FlotillaError, NodeDescription, TaskStatus } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { boundStatus, checkDescription, LIMITS } from './input-limits.js';

describe('limits on what nodes send', () => {
  it('accepts an ordinary description and refuses each oversized field by name', () => {
    const ok = NodeDescription.fromPartial({ hostname: 'host-a', addresses: ['198.18.0.2'], engineLabels: { a: 'b' } });
    expect(() => checkDescription(ok)).not.toThrow();
    const cases: [Partial<NodeDescription>, RegExp][] = [
      [{ hostname: 'h'.repeat(LIMITS.hostname + 1) }, /hostname is over the limit of 253/],
      [{ os: 'x'.repeat(LIMITS.shortText + 1) }, /os is over/],
      [{ addresses: Array.from({ length: LIMITS.addresses + 1 }, () => '198.18.0.1') }, /addresses .* entries/],
      [{ engineLabels: { k: 'v'.repeat(LIMITS.labelValue + 1) } }, /engine label k is over/],
      [
        { engineLabels: Object.fromEntries(Array.from({ length: LIMITS.labels + 1 }, (_, i) => [`k${i}`, ''])) },
        /engine_labels is over the limit of 64 entries/,
      ],
    ];
    for (const [partial, message] of cases) {
      const run = () => checkDescription(NodeDescription.fromPartial(partial));
      expect(run).toThrow(FlotillaError);
      expect(run).toThrow(message);
    }
  });

  it('cuts long status text to the limit and keeps the rest', () => {
    const status = TaskStatus.fromPartial({ state: 5, message: 'm'.repeat(10_000), error: 'short' });
    const bounded = boundStatus(status);
    expect(bounded.message).toHaveLength(LIMITS.statusText);
    expect(bounded.message.endsWith('…')).toBe(true);
    expect(bounded.error).toBe('short');
    expect(bounded.state).toBe(5);
    expect(bounded.healthOutput).toBeUndefined();
    const probed = boundStatus(TaskStatus.fromPartial({ state: 8, health: 3, healthOutput: 'o'.repeat(5000) }));
    expect(probed.healthOutput).toHaveLength(LIMITS.healthOutput);
  });
});
