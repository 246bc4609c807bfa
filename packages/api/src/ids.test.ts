import { describe, expect, it } from 'vitest';
import { isId, newId } from './ids.js';
import { ServiceMode, ServiceSpec } from './index.js';
import { isValidObjectName, qualify } from './naming.js';

describe('ids', () => {
  it('makes distinct well-formed ids', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newId()));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(isId(id)).toBe(true);
  });

  it('rejects malformed ids', () => {
    expect(isId('abc')).toBe(false);
    expect(isId('ABCDEFGHIJKLMNOPQRSTUVWXY')).toBe(false);
  });
});

describe('naming', () => {
  it('qualifies stack objects and checks names', () => {
    expect(qualify('shop', 'web')).toBe('shop_web');
    expect(isValidObjectName('web-1.a_b')).toBe(true);
    expect(isValidObjectName('-web')).toBe(false);
    expect(isValidObjectName('a'.repeat(64))).toBe(false);
  });
});

describe('generated ServiceSpec', () => {
  it('round-trips through protobuf encoding with 64-bit values as bigint', () => {
    const spec = ServiceSpec.fromPartial({
      annotations: { name: 'shop_web', labels: { tier: 'front' } },
      stack: 'shop',
      mode: ServiceMode.SERVICE_MODE_REPLICATED,
      replicas: 3n,
      container: { image: 'nginx:1.25', stopGracePeriodNs: 10_000_000_000n },
      resources: { limits: { memoryBytes: 2n ** 40n, nanoCpus: 500_000_000n, pids: 0n } },
    });
    const decoded = ServiceSpec.decode(ServiceSpec.encode(spec).finish());
    expect(decoded).toEqual(spec);
    expect(decoded.resources?.limits?.memoryBytes).toBe(1099511627776n);
  });
});
