import { describe, expect, it } from 'vitest';
import { probeAddress } from './session.js';

describe('probeAddress', () => {
  it('is the host the session comes from and the port the agent said', () => {
    expect(probeAddress('ipv4:198.18.0.11:43210', 4243)).toBe('198.18.0.11:4243');
    expect(probeAddress('[::ffff:127.0.0.1]:5000', 7000)).toBe('127.0.0.1:7000');
    expect(probeAddress('ipv6:[fd00::5]:5000', 7000)).toBe('[fd00::5]:7000');
  });

  it('is empty without a port, or with one out of range, or without a host', () => {
    expect(probeAddress('ipv4:198.18.0.11:43210', 0)).toBe('');
    expect(probeAddress('ipv4:198.18.0.11:43210', 70_000)).toBe('');
    expect(probeAddress('unix:/run/x.sock', 7000)).toBe('');
  });
});
