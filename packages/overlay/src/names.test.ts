import { newId } from '@flotilla/api';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIp } from './ipv4.js';
import { BRIDGE_PREFIX, macOf, NETNS_PREFIX, names, VXLAN_PREFIX } from './names.js';

/** Linux's IFNAMSIZ (16) less the terminating NUL. */
const IFNAME_MAX = 15;
const MAX_VNI = 16_777_215;
/** What `ip link` accepts in an interface name: no slash, colon or whitespace, not "." or "..". */
const IFNAME = /^[0-9a-z_-]+$/;

describe('macOf', () => {
  it('is 02:42 followed by the four bytes of the address', () => {
    expect(macOf('10.42.0.5')).toBe('02:42:0a:2a:00:05');
    expect(macOf('192.168.255.1')).toBe('02:42:c0:a8:ff:01');
    expect(macOf('0.0.0.0')).toBe('02:42:00:00:00:00');
    expect(macOf('255.255.255.255')).toBe('02:42:ff:ff:ff:ff');
  });

  it('ignores the prefix length of a CIDR address', () => {
    expect(macOf('10.42.0.5/24')).toBe('02:42:0a:2a:00:05');
    expect(macOf('10.42.0.5/16')).toBe(macOf('10.42.0.5'));
  });

  it('gives every address its own locally administered unicast MAC', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (n) => {
        const mac = macOf(`${formatIp(n)}/24`);
        expect(mac).toMatch(/^02:42(:[0-9a-f]{2}){4}$/);
        const bytes = mac.split(':').map((b) => Number.parseInt(b, 16));
        // Bit 1 of the first byte: locally administered; bit 0 clear: unicast.
        expect((bytes[0] ?? 0) & 0b11).toBe(0b10);
        expect(bytes.slice(2).reduce((acc, b) => acc * 256 + b, 0)).toBe(n);
      }),
    );
  });

  it('rejects what is not an IPv4 address', () => {
    expect(() => macOf('10.42.0')).toThrow(/not an IPv4 address/);
    expect(() => macOf('fd00::1/64')).toThrow(/not an IPv4 address/);
    expect(() => macOf('')).toThrow(/not an IPv4 address/);
  });
});

describe('names', () => {
  it('names bridges and VXLAN devices by VNI under their prefixes', () => {
    expect(names.bridge(4096)).toBe('fb-4096');
    expect(names.vxlan(4096)).toBe('fx-4096');
    expect(names.bridge(7).startsWith(BRIDGE_PREFIX)).toBe(true);
    expect(names.vxlan(7).startsWith(VXLAN_PREFIX)).toBe(true);
    expect(names.bridge(7)).not.toBe(names.vxlan(7));
  });

  it('keeps bridge and VXLAN names within 15 characters up to the largest VNI', () => {
    for (const vni of [1, 4096, 65_535, 1_000_000, MAX_VNI]) {
      for (const name of [names.bridge(vni), names.vxlan(vni)]) {
        expect(name.length, name).toBeLessThanOrEqual(IFNAME_MAX);
        expect(name).toMatch(IFNAME);
      }
    }
    expect(names.bridge(MAX_VNI)).toBe('fb-16777215');
  });

  it('keeps veth names within 15 characters for real task IDs and the first hundred networks', () => {
    for (let i = 0; i < 50; i++) {
      const taskId = newId();
      expect(taskId).toHaveLength(25);
      for (const index of [0, 1, 9, 10, 99]) {
        const name = names.veth(taskId, index);
        expect(name.length, name).toBeLessThanOrEqual(IFNAME_MAX);
        expect(name).toMatch(IFNAME);
      }
    }
  });

  it('gives each of a task’s networks its own veth, and different tasks different veths', () => {
    const a = 'k3j9x0q2m5v8b1n4c7z6w0e2r';
    const b = 'p0o9i8u7y6t5r4e3w2q1a2s3d';
    expect(names.veth(a, 0)).toBe('fvk3j9x0q2m50');
    expect(names.veth(a, 0)).not.toBe(names.veth(a, 1));
    expect(names.veth(a, 0)).not.toBe(names.veth(b, 0));
    // Veths never look like the driver's bridges or VXLAN devices (cleanup goes by prefix).
    expect(names.veth(a, 0).startsWith(BRIDGE_PREFIX)).toBe(false);
    expect(names.veth(a, 0).startsWith(VXLAN_PREFIX)).toBe(false);
  });

  it('names the container end eth<i> and the namespace after the whole task ID', () => {
    const taskId = newId();
    expect(names.containerInterface(0)).toBe('eth0');
    expect(names.containerInterface(3)).toBe('eth3');
    expect(names.netns(taskId)).toBe(`flt-${taskId}`);
    expect(names.netns(taskId).startsWith(NETNS_PREFIX)).toBe(true);
  });
});
