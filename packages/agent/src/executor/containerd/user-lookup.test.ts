import { describe, expect, it } from 'vitest';
import { needsAccountFiles, resolveContainerUser } from './user-lookup.js';

const files = {
  passwd: 'root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\n# comment\napp:x:1000:1000::/app:/bin/sh\n',
  group: 'root:x:0:\nwww:x:33:\nstaff:x:50:app,www\naudio:x:29:app\n',
};

describe('container users, as Docker resolves them', () => {
  it('knows which settings need the image files', () => {
    expect(needsAccountFiles('1000')).toBe(true);
    expect(needsAccountFiles('1000:50')).toBe(false);
    expect(needsAccountFiles('')).toBe(false);
    expect(needsAccountFiles('app')).toBe(true);
    expect(needsAccountFiles('1000:staff')).toBe(true);
  });

  it('takes a name’s uid and primary group from passwd, and its other groups from group', () => {
    expect(resolveContainerUser('app', files)).toEqual({
      uid: 1000,
      gid: 1000,
      additionalGids: [50, 29],
      home: '/app',
    });
    expect(resolveContainerUser('www', files)).toEqual({ uid: 33, gid: 33, additionalGids: [50], home: '/var/www' });
    // A uid the image does not know runs in group 0, as in Docker (images made for arbitrary uids rely on it).
    expect(resolveContainerUser('4242', files)).toEqual({ uid: 4242, gid: 0 });
    expect(resolveContainerUser('1000', files)).toMatchObject({ uid: 1000, gid: 1000, home: '/app' });
  });

  it('lets an explicit group win, by name or number', () => {
    expect(resolveContainerUser('app:staff', files)).toMatchObject({ uid: 1000, gid: 50 });
    expect(resolveContainerUser('app:7', files)).toMatchObject({ uid: 1000, gid: 7 });
    expect(resolveContainerUser('1000:www', files)).toMatchObject({ uid: 1000, gid: 33 });
  });

  it('rejects names the image does not have, saying what to do', () => {
    expect(() => resolveContainerUser('nobody', files)).toThrow(/not in the image's \/etc\/passwd: use a numeric uid/);
    expect(() => resolveContainerUser('app:wheel', files)).toThrow(/group "wheel"/);
    expect(() => resolveContainerUser('app', {})).toThrow(/not in the image's/);
  });
});
