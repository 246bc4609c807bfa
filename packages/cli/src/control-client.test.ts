import { describe, expect, it } from 'vitest';
import { managersTarget } from './control-client.js';

describe('managersTarget', () => {
  it('puts the configured manager first, then the others listed, once each', () => {
    expect(managersTarget('10.0.0.1:4242\n', '10.0.0.2:4242\n10.0.0.1:4242\n10.0.0.3:4242\n')).toBe(
      'ipv4:10.0.0.1:4242,10.0.0.2:4242,10.0.0.3:4242',
    );
  });

  it('is the configured manager alone when there is no list, or a name in it', () => {
    expect(managersTarget('10.0.0.1:4242', '')).toBe('10.0.0.1:4242');
    expect(managersTarget('10.0.0.1:4242', '10.0.0.1:4242\n')).toBe('10.0.0.1:4242');
    expect(managersTarget('manager-1:4242', '10.0.0.2:4242')).toBe('manager-1:4242');
    expect(managersTarget('10.0.0.1:4242', 'manager-2:4242')).toBe('10.0.0.1:4242');
    // Not an address gRPC's ipv4 resolver takes: the whole list would fail, so the configured one goes alone.
    expect(managersTarget('10.0.0.1:4242', '300.1.1.1:4242')).toBe('10.0.0.1:4242');
    expect(managersTarget('10.0.0.1:4242', '10.0.0.2:99999')).toBe('10.0.0.1:4242');
  });
});
