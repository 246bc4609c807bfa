import { describe, expect, it } from 'vitest';
import { formatHostPort, parseHostPort } from './host-port.js';

describe('HOST:PORT', () => {
  it('parses names, IPv4 and bracketed IPv6, and formats them back', () => {
    expect(parseHostPort('manager-1:4242')).toEqual({ host: 'manager-1', port: 4242 });
    expect(parseHostPort(' 10.0.0.5:80 ')).toEqual({ host: '10.0.0.5', port: 80 });
    expect(parseHostPort('[::1]:6379')).toEqual({ host: '::1', port: 6379 });
    expect(formatHostPort({ host: '::1', port: 6379 })).toBe('[::1]:6379');
    expect(formatHostPort({ host: 'a', port: 1 })).toBe('a:1');
  });

  it('refuses what is not HOST:PORT, naming what it is for and showing an example', () => {
    for (const bad of ['host', ':80', 'host:', 'host:70000', 'a b:1', 'http://x:1', '::1:80']) {
      expect(() => parseHostPort(bad, 'Redis address', { example: '127.0.0.1:6379' })).toThrow(
        /not a valid Redis address: give HOST:PORT, for example 127\.0\.0\.1:6379/,
      );
    }
    expect(() => parseHostPort('0.0.0.0:0')).toThrow();
    expect(parseHostPort('0.0.0.0:0', 'listen address', { allowPortZero: true }).port).toBe(0);
  });
});
