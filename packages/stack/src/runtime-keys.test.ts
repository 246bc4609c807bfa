import { Mount_Type } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { formatCompose } from './compose-output.js';
import { loadStackText } from './load.js';
import { loadErrors } from './load-errors.test-helpers.js';
import { toStackSpec } from './service-spec.js';

const load = (yaml: string) => loadStackText(yaml, { file: '/stack.yml' });
const warnings = (yaml: string) =>
  load(yaml).warnings.map((w) => `${w.location?.line}:${w.location?.col} ${w.path}: ${w.message}`);
const spec = (yaml: string) => toStackSpec(load(yaml).stack, 'st');

describe('container labels', () => {
  it('reach the container spec; a flotilla.* key is warned about where it is written', () => {
    const yaml = 'services:\n  web:\n    image: nginx\n    labels:\n      team: web\n      flotilla.task.id: mine\n';
    expect(spec(yaml).services[0]?.container?.labels).toEqual({ team: 'web', 'flotilla.task.id': 'mine' });
    expect(warnings(yaml)).toEqual([
      expect.stringMatching(/^6:7 services\.web\.labels\.flotilla\.task\.id: not applied/),
    ]);
  });

  it('a label containerd would refuse is an error where it is written', () => {
    const yaml = `services:\n  web:\n    image: nginx\n    labels:\n      big: ${'x'.repeat(4094)}\n`;
    expect(loadErrors(yaml)).toMatch(/stack\.yml:5:\d+: services\.web\.labels\.big: too long: .*4096 bytes/);
    expect(loadErrors(yaml.replace('x'.repeat(4094), 'x'.repeat(4093)))).toBe('');
  });

  it('no warning for labels the agent leaves alone', () => {
    expect(warnings('services:\n  web:\n    image: nginx\n    labels: [team=web]\n')).toEqual([]);
  });
});

describe('tmpfs short syntax', () => {
  it('keeps size (Docker units) and mode (octal) on the mount', () => {
    const yaml =
      'services:\n  web:\n    image: nginx\n    tmpfs: ["/run:size=64m,mode=1777", /tmp, "/cache:ro,size=1g"]\n';
    const mounts = spec(yaml).services[0]?.container?.mounts ?? [];
    expect(mounts.map((m) => [m.type, m.target, m.tmpfsSizeBytes, m.tmpfsMode, m.readOnly])).toEqual([
      [Mount_Type.TYPE_TMPFS, '/run', 64n * 1024n * 1024n, 0o1777, false],
      [Mount_Type.TYPE_TMPFS, '/tmp', 0n, 0, false],
      [Mount_Type.TYPE_TMPFS, '/cache', 1024n ** 3n, 0, true],
    ]);
    // stack config shows them as written.
    expect(formatCompose(load(yaml).stack, 'yaml')).toContain('/run:size=64m,mode=1777');
  });

  it('a single string is one entry', () => {
    const mounts = spec('services:\n  web:\n    image: nginx\n    tmpfs: /run:mode=700\n').services[0]?.container
      ?.mounts;
    expect(mounts?.map((m) => [m.target, m.tmpfsMode])).toEqual([['/run', 0o700]]);
  });

  it('bad options are errors at the entry', () => {
    const yaml = (entry: string) =>
      `services:\n  web:\n    image: nginx\n    tmpfs:\n      - /ok\n      - "${entry}"\n`;
    expect(loadErrors(yaml('/run:size=lots'))).toMatch(/stack\.yml:6:9.*invalid size "lots"/);
    expect(loadErrors(yaml('/run:mode=999'))).toMatch(/stack\.yml:6:9.*invalid tmpfs mode "999".*octal/);
    expect(loadErrors(yaml('/run:exec'))).toMatch(/stack\.yml:6:9.*invalid tmpfs option "exec"/);
    expect(loadErrors(yaml('run'))).toMatch(/stack\.yml:6:9.*must be absolute/);
    expect(loadErrors(yaml('/run:size=1k,mode=1777,nosuid,nodev'))).toBe('');
  });
});

describe('logging', () => {
  const svc = (logging: string) => `services:\n  web:\n    image: nginx\n    logging:\n${logging}`;

  it('carries the driver and options to the service spec, and json-file sizes are no warning', () => {
    const yaml = svc('      driver: json-file\n      options:\n        max-size: 10m\n        max-file: "3"\n');
    expect(spec(yaml).services[0]?.logDriver).toEqual({
      name: 'json-file',
      options: { 'max-size': '10m', 'max-file': '3' },
    });
    expect(warnings(yaml)).toEqual([]);
  });

  it('an unknown driver is warned about at the driver: logs stay on the node', () => {
    expect(warnings(svc('      driver: fluentd\n      options:\n        fluentd-address: x:24224\n'))).toEqual([
      expect.stringMatching(
        /^5:15 services\.web\.logging\.driver: the fluentd logging driver is not available.*service logs/,
      ),
    ]);
  });

  it('options a driver does not take are warned about; compress is accepted with a note', () => {
    const w = warnings(svc('      driver: local\n      options:\n        compress: "true"\n        labels: a\n'));
    expect(w).toEqual([
      expect.stringMatching(/^7:9 .*options\.compress: accepted, no effect/),
      expect.stringMatching(/^8:9 .*options\.labels: ignored/),
    ]);
  });

  it('bad sizes and syslog settings are errors at the option', () => {
    expect(loadErrors(svc('      options:\n        max-size: huge\n'))).toMatch(/6:19.*invalid max-size "huge"/);
    expect(
      loadErrors(svc('      driver: json-file\n      options:\n        max-size: 1m\n        max-file: "0"\n')),
    ).toMatch(/8:19.*invalid max-file "0"/);
    const syslog = (opts: string) => svc(`      driver: syslog\n      options:\n${opts}`);
    expect(loadErrors(syslog('        syslog-address: "http://x"\n'))).toMatch(/7:25.*invalid syslog-address/);
    expect(loadErrors(syslog('        syslog-address: udp://h:1\n        syslog-format: rfc9999\n'))).toMatch(
      /8:24.*unknown syslog-format "rfc9999"/,
    );
    expect(loadErrors(syslog('        syslog-address: udp://h:1\n        syslog-facility: nope\n'))).toMatch(
      /unknown syslog-facility "nope"/,
    );
    expect(loadErrors(syslog('        syslog-address: "udp://[::1]:514"\n        tag: web\n'))).toBe('');
  });

  it('syslog without an address, or over tcp+tls, keeps the lines on the node and says so', () => {
    expect(warnings(svc('      driver: syslog\n'))).toEqual([expect.stringMatching(/no syslog-address/)]);
    expect(warnings(svc('      driver: syslog\n      options:\n        syslog-address: tcp+tls://h:6514\n'))).toEqual([
      expect.stringMatching(/tcp\+tls is not supported/),
    ]);
  });
});

describe('volume driver and driver_opts', () => {
  const vol = (volume: string) =>
    `services:\n  db:\n    image: postgres\n    volumes: [data:/var/lib/data, other:/other]\nvolumes:\n  other: {}\n  data:\n${volume}`;

  it('local driver_opts reach the mounts of the volume, and only them', () => {
    const yaml = vol(
      '    driver_opts:\n      type: nfs\n      o: addr=10.0.0.1,rw,nfsvers=4\n      device: ":/export"\n',
    );
    expect(warnings(yaml)).toEqual([]);
    const mounts = spec(yaml).services[0]?.container?.mounts ?? [];
    expect(mounts.map((m) => [m.source, m.volumeDriver, m.volumeDriverOpts])).toEqual([
      ['st_data', 'local', { type: 'nfs', o: 'addr=10.0.0.1,rw,nfsvers=4', device: ':/export' }],
      ['st_other', 'local', {}],
    ]);
  });

  it('tmpfs and bind types are read as Docker reads them', () => {
    expect(loadErrors(vol('    driver_opts: {type: tmpfs, o: "size=100m,uid=1000"}\n'))).toBe('');
    expect(loadErrors(vol('    driver_opts: {type: none, o: bind, device: /srv/data}\n'))).toBe('');
    expect(loadErrors(vol('    driver_opts: {type: none, o: bind, device: data}\n'))).toMatch(
      /driver_opts\.device: a bind needs device: as an absolute host path/,
    );
    expect(loadErrors(vol('    driver_opts: {type: nfs, device: ":/x"}\n'))).toMatch(/needs the server in o:/);
    expect(loadErrors(vol('    driver_opts: {type: ext4}\n'))).toMatch(/type ext4 needs device:/);
    expect(loadErrors(vol('    driver_opts: {type: none, o: "bind,remount", device: /srv}\n'))).toMatch(
      /driver_opts\.o: remount: the volume's own mount takes no option that acts on other mounts/,
    );
    expect(loadErrors(vol('    driver_opts: {type: tmpfs, device: --bind}\n'))).toMatch(
      /driver_opts\.device: invalid device/,
    );
    expect(loadErrors(vol('    driver_opts: {type: tmpfs, size: 1g}\n'))).toMatch(
      /8:38: .*driver_opts\.size: unknown option "size"/,
    );
  });

  it('driver_opts are capped in count and length', () => {
    const many = Array.from({ length: 9 }, (_, i) => `k${i}: v`).join(', ');
    expect(loadErrors(vol(`    driver_opts: {${many}}\n`))).toMatch(/at most 8 driver_opts/);
    expect(loadErrors(vol(`    driver_opts: {type: tmpfs, o: "${'x'.repeat(2000)}"}\n`))).toMatch(
      /driver_opts\.o: too long/,
    );
  });

  it('another driver is warned about: the local one is used', () => {
    const yaml = vol('    driver: rexray\n    driver_opts: {size: "10"}\n');
    expect(warnings(yaml)).toEqual([
      expect.stringMatching(
        /^8:13 volumes\.data\.driver: the rexray volume driver.*local driver is used.*driver_opts ignored/,
      ),
    ]);
  });
});

describe('network keys', () => {
  const net = (network: string) =>
    `services:\n  web:\n    image: nginx\n    networks: [front]\nnetworks:\n  front:\n${network}`;

  it('each unhonoured key is warned about where it is written', () => {
    const w = warnings(
      net(
        '    driver: macvlan\n    driver_opts: {encrypted: "", mtu: "1400"}\n    enable_ipv6: true\n    attachable: true\n',
      ),
    );
    expect(w).toEqual([
      expect.stringMatching(/^7:13 networks\.front\.driver: the macvlan network driver .*overlay/),
      expect.stringMatching(/^8:19 networks\.front\.driver_opts\.encrypted: not honoured: .*not encrypt/),
      expect.stringMatching(/^8:34 networks\.front\.driver_opts\.mtu: ignored/),
      expect.stringMatching(/^9:5 networks\.front\.enable_ipv6: ignored: .*IPv4 only/),
      expect.stringMatching(/^10:5 networks\.front\.attachable: ignored/),
    ]);
  });

  it('overlay, bridge and the settings left off are no warning', () => {
    expect(warnings(net('    driver: overlay\n    enable_ipv6: false\n'))).toEqual([]);
    expect(warnings(net('    driver: bridge\n'))).toEqual([]);
  });

  it('IPv4 turned off and another IPAM driver are warned about too', () => {
    expect(warnings(net('    enable_ipv4: false\n    ipam: {driver: custom}\n'))).toEqual([
      expect.stringMatching(/^7:5 networks\.front\.enable_ipv4: ignored/),
      expect.stringMatching(/^8:12 networks\.front\.ipam\.driver: ignored/),
    ]);
  });
});
