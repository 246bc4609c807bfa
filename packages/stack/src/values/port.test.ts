import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePortRange, parsePortShort, parsePublished } from './port.js';
import { ValueError } from './value-error.js';

// Any UTF-16 code units, lone surrogates included (fast-check's 'binary' unit is slow to warm up).
const utf16 = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) });

const tcp = { protocol: 'tcp', mode: 'ingress' } as const;

describe('parsePortShort', () => {
  it('parses a container port alone', () => {
    expect(parsePortShort(80)).toEqual([{ target: 80, ...tcp }]);
    expect(parsePortShort('3000')).toEqual([{ target: 3000, ...tcp }]);
  });

  it('expands a container range', () => {
    expect(parsePortShort('3000-3002')).toEqual([
      { target: 3000, ...tcp },
      { target: 3001, ...tcp },
      { target: 3002, ...tcp },
    ]);
    expect(parsePortShort('3000-3000')).toEqual([{ target: 3000, ...tcp }]);
  });

  it('parses host and container ports', () => {
    expect(parsePortShort('8000:8000')).toEqual([{ target: 8000, published: 8000, ...tcp }]);
    expect(parsePortShort('49100:22')).toEqual([{ target: 22, published: 49100, ...tcp }]);
  });

  it('pairs host and container ranges port by port', () => {
    expect(parsePortShort('9090-9091:8080-8081')).toEqual([
      { target: 8080, published: 9090, ...tcp },
      { target: 8081, published: 9091, ...tcp },
    ]);
  });

  it('parses a host IP', () => {
    expect(parsePortShort('127.0.0.1:8001:8001')).toEqual([
      { target: 8001, published: 8001, host_ip: '127.0.0.1', ...tcp },
    ]);
    expect(parsePortShort('127.0.0.1:5000-5002:5000-5002')).toEqual([
      { target: 5000, published: 5000, host_ip: '127.0.0.1', ...tcp },
      { target: 5001, published: 5001, host_ip: '127.0.0.1', ...tcp },
      { target: 5002, published: 5002, host_ip: '127.0.0.1', ...tcp },
    ]);
  });

  it('leaves the published port out when the host port is empty', () => {
    expect(parsePortShort('127.0.0.1::5000')).toEqual([{ target: 5000, host_ip: '127.0.0.1', ...tcp }]);
    expect(parsePortShort(':5000')).toEqual([{ target: 5000, ...tcp }]);
    expect(parsePortShort('[::1]::5000')).toEqual([{ target: 5000, host_ip: '::1', ...tcp }]);
  });

  it('parses IPv6 host addresses, bracketed or not', () => {
    const expected = [{ target: 6001, published: 6001, host_ip: '::1', ...tcp }];
    expect(parsePortShort('[::1]:6001:6001')).toEqual(expected);
    expect(parsePortShort('::1:6001:6001')).toEqual(expected);
    expect(parsePortShort('[2001:db8::1]:80:80')).toEqual([
      { target: 80, published: 80, host_ip: '2001:db8::1', ...tcp },
    ]);
    expect(parsePortShort('[127.0.0.1]:80:80')).toEqual([{ target: 80, published: 80, host_ip: '127.0.0.1', ...tcp }]);
  });

  it('parses the protocol, case-insensitively', () => {
    expect(parsePortShort('6060:6060/udp')).toEqual([
      { target: 6060, published: 6060, protocol: 'udp', mode: 'ingress' },
    ]);
    expect(parsePortShort('53/UDP')).toEqual([{ target: 53, protocol: 'udp', mode: 'ingress' }]);
    expect(parsePortShort('9000/sctp')).toEqual([{ target: 9000, protocol: 'sctp', mode: 'ingress' }]);
    expect(parsePortShort('80/tcp')).toEqual([{ target: 80, ...tcp }]);
    expect(parsePortShort('1000-1001:2000-2001/udp')).toEqual([
      { target: 2000, published: 1000, protocol: 'udp', mode: 'ingress' },
      { target: 2001, published: 1001, protocol: 'udp', mode: 'ingress' },
    ]);
  });

  it('accepts the port bounds and leading zeros', () => {
    expect(parsePortShort('1:65535')).toEqual([{ target: 65535, published: 1, ...tcp }]);
    expect(parsePortShort('080')).toEqual([{ target: 80, ...tcp }]);
  });

  it.each([
    ['70000', 'port 70000 is out of range 1-65535'],
    ['0', 'port 0 is out of range 1-65535'],
    ['70000:80', 'invalid port "70000:80": port 70000 is out of range 1-65535'],
    ['80:0', 'port 0 is out of range'],
    ['65530-70000', 'port 70000 is out of range'],
    ['99999999999999999999', 'port 999999999999… is out of range'],
  ])('rejects %j as out of range', (input, message) => {
    expect(() => parsePortShort(input)).toThrow(ValueError);
    expect(() => parsePortShort(input)).toThrow(message);
  });

  it('rejects numbers that are not ports', () => {
    expect(() => parsePortShort(70000)).toThrow('port 70000 is out of range 1-65535');
    expect(() => parsePortShort(0)).toThrow(/out of range/);
    expect(() => parsePortShort(-1)).toThrow(/out of range/);
    expect(() => parsePortShort(80.5)).toThrow('invalid port 80.5: a port is a whole number 1-65535');
    expect(() => parsePortShort(Number.NaN)).toThrow(/whole number/);
  });

  it.each([
    ['8000:8000-8001', /the single host port 8000 cannot map onto the container port range 8000-8001/],
    ['8000-8001:80', /host port range 8000-8001 cannot map onto the single container port 80/],
    ['9090-9092:8080-8081', /host port range 9090-9092 \(3 ports\) and container port range 8080-8081 \(2 ports\)/],
  ])('rejects mismatched ranges in %j', (input, message) => {
    expect(() => parsePortShort(input)).toThrow(ValueError);
    expect(() => parsePortShort(input)).toThrow(message);
    expect(() => parsePortShort(input)).toThrow(/same size/);
  });

  it.each([
    ['', /write \[HOST_IP:\]\[HOST_PORTS:\]CONTAINER_PORTS/],
    ['8080:', /container port is missing/],
    ['127.0.0.1:8080:', /container port is missing/],
    ['8010-8000', /range 8010-8000 ends before it starts; write 8000-8010/],
    ['80/http', /unknown protocol "http"; use tcp, udp or sctp/],
    ['80/', /unknown protocol ""/],
    ['80/tcp/udp', /unknown protocol "tcp\/udp"/],
    ['abc', /"abc" is not a port or range/],
    ['80-', /is not a port or range/],
    ['-80', /is not a port or range/],
    ['1-2-3', /is not a port or range/],
    ['80 :80', /remove the spaces/],
    ['localhost:80:80', /"localhost" is not an IP address/],
    ['300.0.0.1:80:80', /is not an IP address/],
    ['1.2.3.4:80', /"1.2.3.4" is not a port or range/],
    ['[::1]:80', /write \[IPV6\]:HOST_PORT:CONTAINER_PORT/],
    ['[::1:80:80', /write \[IPV6\]/],
    ['[]:80:80', /"" is not an IP address/],
    ['[::1]:1:2:3', /write \[IPV6\]/],
    ['a:b:c:80:80', /"a:b:c" is not an IP address/],
  ])('rejects %j', (input, message) => {
    expect(() => parsePortShort(input)).toThrow(ValueError);
    expect(() => parsePortShort(input)).toThrow(message);
  });

  it('rejects non-scalar input with a ValueError', () => {
    expect(() => parsePortShort({ target: 80 } as unknown as string)).toThrow(/expected a string or a number/);
  });

  it('never throws anything but ValueError', () => {
    const inputs = fc.oneof(
      fc.string(),
      fc.string({ unit: 'grapheme' }),
      utf16,
      fc.stringMatching(/^(\[?[0-9a-f.:]{0,12}\]?:)?(\d{0,6}(-\d{0,6})?:)?\d{0,6}(-\d{0,6})?(\/[a-z]{0,4})?$/),
      fc.double(),
    );
    fc.assert(
      fc.property(inputs, (input) => {
        try {
          const mappings = parsePortShort(input);
          return mappings.length > 0 && mappings.every((m) => m.target >= 1 && m.target <= 65535);
        } catch (error) {
          return error instanceof ValueError;
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('parsePortRange', () => {
  it.each([
    [3000, { start: 3000, end: 3000, protocol: 'tcp' }],
    ['3000', { start: 3000, end: 3000, protocol: 'tcp' }],
    ['8000-8010', { start: 8000, end: 8010, protocol: 'tcp' }],
    ['8080/tcp', { start: 8080, end: 8080, protocol: 'tcp' }],
    ['53/udp', { start: 53, end: 53, protocol: 'udp' }],
    ['8000-8001/SCTP', { start: 8000, end: 8001, protocol: 'sctp' }],
  ])('parses %j', (input, expected) => {
    expect(parsePortRange(input)).toEqual(expected);
  });

  it.each([
    ['', /is not a port or range/],
    ['80:80', /"80:80" is not a port or range/],
    ['8010-8000', /ends before it starts/],
    ['70000', /port 70000 is out of range 1-65535/],
    ['80/icmp', /unknown protocol "icmp"/],
    [0, /out of range/],
    [1.5, /whole number/],
  ])('rejects %j', (input, message) => {
    expect(() => parsePortRange(input)).toThrow(ValueError);
    expect(() => parsePortRange(input)).toThrow(message);
  });

  it('never throws anything but ValueError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), utf16, fc.double()), (input) => {
        try {
          const range = parsePortRange(input);
          return range.start <= range.end;
        } catch (error) {
          return error instanceof ValueError;
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('parsePublished', () => {
  it.each([
    [8080, { start: 8080, end: 8080 }],
    ['8080', { start: 8080, end: 8080 }],
    ['8080-8081', { start: 8080, end: 8081 }],
  ])('parses %j', (input, expected) => {
    expect(parsePublished(input)).toEqual(expected);
  });

  it.each([
    ['', /is not a port or range/],
    ['8080/tcp', /is not a port or range/],
    ['127.0.0.1:8080', /is not a port or range/],
    ['8081-8080', /ends before it starts/],
    [70000, /port 70000 is out of range 1-65535/],
    ['0', /port 0 is out of range/],
  ])('rejects %j', (input, message) => {
    expect(() => parsePublished(input)).toThrow(ValueError);
    expect(() => parsePublished(input)).toThrow(message);
  });

  it('never throws anything but ValueError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), utf16, fc.double()), (input) => {
        try {
          const range = parsePublished(input);
          return range.start >= 1 && range.start <= range.end && range.end <= 65535;
        } catch (error) {
          return error instanceof ValueError;
        }
      }),
      { numRuns: 300 },
    );
  });
});
