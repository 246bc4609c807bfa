import { FlotillaError } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { parseImageReference, pinImage, unpinImage } from './image-reference.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('parseImageReference', () => {
  it.each([
    ['busybox', 'docker.io', 'library/busybox', 'latest', undefined, 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io', 'library/busybox', '1.36', undefined, 'docker.io/library/busybox:1.36'],
    ['team/app', 'docker.io', 'team/app', 'latest', undefined, 'docker.io/team/app:latest'],
    ['index.docker.io/team/app:2', 'docker.io', 'team/app', '2', undefined, 'docker.io/team/app:2'],
    ['127.0.0.1:5000/app:v1', '127.0.0.1:5000', 'app', 'v1', undefined, '127.0.0.1:5000/app:v1'],
    ['localhost/a/b/c', 'localhost', 'a/b/c', 'latest', undefined, 'localhost/a/b/c:latest'],
    ['registry.example.com/x', 'registry.example.com', 'x', 'latest', undefined, 'registry.example.com/x:latest'],
    ['[::1]:5000/app', '[::1]:5000', 'app', 'latest', undefined, '[::1]:5000/app:latest'],
    [`app@${DIGEST}`, 'docker.io', 'library/app', undefined, DIGEST, `docker.io/library/app@${DIGEST}`],
    [`host:5000/app:1@${DIGEST}`, 'host:5000', 'app', '1', DIGEST, `host:5000/app:1@${DIGEST}`],
    ['my-app_x/a__b.c', 'docker.io', 'my-app_x/a__b.c', 'latest', undefined, 'docker.io/my-app_x/a__b.c:latest'],
  ])('%s', (ref, registry, repository, tag, digest, name) => {
    expect(parseImageReference(ref)).toEqual({ registry, repository, tag, digest, name });
  });

  it.each([
    ['', 'empty'],
    [' busybox', 'spaces'],
    ['Busybox', 'lower case'],
    ['Host_1.com/app', 'registry host'],
    ['host:5000/App', 'lower case'],
    ['busybox:', 'not a valid tag'],
    ['busybox:-x', 'not a valid tag'],
    ['busybox@sha256:abc', 'digest'],
    ['busybox@md5:d41d8cd98f00b204e9800998ecf8427e', 'digest'],
    ['a//b', 'path component'],
    ['host:5000/', 'repository name is missing'],
    ['bad_host.com:x/app', 'registry host'],
    ['a/-b', 'path component'],
    [`x/${'a'.repeat(260)}`, 'longer than'],
  ])('refuses %j (%s)', (ref, why) => {
    const err = (() => {
      try {
        parseImageReference(ref);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(FlotillaError);
    expect((err as FlotillaError).reason).toBe('invalid-reference');
    expect((err as FlotillaError).message).toContain(why);
    expect((err as FlotillaError).message).toContain('expected [registry/]repository[:tag]');
  });
});

describe('pinImage and unpinImage', () => {
  const D = `sha256:${'ab'.repeat(32)}`;
  it.each([
    ['app:1', `app:1@${D}`],
    ['busybox', `busybox:latest@${D}`],
    ['127.0.0.1:5000/team/app', `127.0.0.1:5000/team/app:latest@${D}`],
    ['127.0.0.1:5000/team/app:2', `127.0.0.1:5000/team/app:2@${D}`],
    [`app:1@sha256:${'cd'.repeat(32)}`, `app:1@sha256:${'cd'.repeat(32)}`],
  ])('%s → pinned keeps its written form', (image, pinned) => {
    expect(pinImage(image, D)).toBe(pinned);
    expect(unpinImage(pinned)).toBe(
      image.includes('@') ? image.slice(0, image.indexOf('@')) : pinned.slice(0, pinned.indexOf('@')),
    );
  });

  it('refuses a digest it could not verify', () => {
    expect(() => pinImage('app:1', 'sha256:abc')).toThrow(/not a sha256 or sha512 digest/);
  });
});
