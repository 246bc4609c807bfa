import { describe, expect, it } from 'vitest';
import { mountArgs, resolveNfsServer } from './driver-volumes.js';

describe('driver_opts volume mounts', () => {
  it("calls mount(8) as Docker's local driver calls mount(2): type, the o: options as data, device, directory", () => {
    const nfs = { type: 'nfs', device: ':/export', options: 'addr=10.0.0.1,rw,nfsvers=4' };
    expect(mountArgs(nfs, '/state/volumes/st_data')).toEqual([
      '-i',
      '-t',
      'nfs',
      '-o',
      'addr=10.0.0.1,rw,nfsvers=4',
      '--source',
      ':/export',
      '--target',
      '/state/volumes/st_data',
    ]);
    expect(mountArgs({ type: 'tmpfs', device: 'tmpfs', options: '' }, '/v')).toEqual([
      '-i',
      '-t',
      'tmpfs',
      '--source',
      'tmpfs',
      '--target',
      '/v',
    ]);
  });

  it('gives the kernel an address for an NFS server named by host name (localhost: from /etc/hosts, no query leaves the machine)', async () => {
    const spec = { type: 'nfs4', device: ':/x', options: 'rw,addr=localhost,nfsvers=4' };
    expect((await resolveNfsServer('st_data', spec)).options).toMatch(/^rw,addr=(127\.0\.0\.1|::1),nfsvers=4$/);
    const ip = { type: 'nfs', device: ':/x', options: 'addr=10.1.2.3' };
    expect(await resolveNfsServer('st_data', ip)).toBe(ip);
  });
});
