import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ImageRef } from './image-ref.js';
import { formatImageRef, normalizeImageRef, parseImageRef } from './image-ref.js';
import { ValueError } from './value-error.js';

// Any UTF-16 code units, lone surrogates included (fast-check's 'binary' unit is slow to warm up).
const utf16 = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) });

const SHA256 = `sha256:${'a1'.repeat(32)}`;
const SHA512 = `sha512:${'0f'.repeat(64)}`;

describe('parseImageRef', () => {
  it.each<[string, ImageRef, string]>([
    ['nginx', { path: 'nginx' }, 'docker.io/library/nginx:latest'],
    ['nginx:1.25', { path: 'nginx', tag: '1.25' }, 'docker.io/library/nginx:1.25'],
    ['library/nginx', { path: 'library/nginx' }, 'docker.io/library/nginx:latest'],
    ['bitnami/redis:7.2', { path: 'bitnami/redis', tag: '7.2' }, 'docker.io/bitnami/redis:7.2'],
    ['docker.io/nginx', { domain: 'docker.io', path: 'nginx' }, 'docker.io/library/nginx:latest'],
    ['index.docker.io/nginx', { domain: 'index.docker.io', path: 'nginx' }, 'docker.io/library/nginx:latest'],
    ['docker.io/org/app:v1', { domain: 'docker.io', path: 'org/app', tag: 'v1' }, 'docker.io/org/app:v1'],
    ['ghcr.io/org/app:v1', { domain: 'ghcr.io', path: 'org/app', tag: 'v1' }, 'ghcr.io/org/app:v1'],
    ['localhost/app', { domain: 'localhost', path: 'app' }, 'localhost/app:latest'],
    ['localhost:5000/app', { domain: 'localhost:5000', path: 'app' }, 'localhost:5000/app:latest'],
    ['registry:5000/app', { domain: 'registry:5000', path: 'app' }, 'registry:5000/app:latest'],
    ['MyRegistry/app', { domain: 'MyRegistry', path: 'app' }, 'MyRegistry/app:latest'],
    ['[::1]:5000/app', { domain: '[::1]:5000', path: 'app' }, '[::1]:5000/app:latest'],
    ['[2001:db8::1]/app:1', { domain: '[2001:db8::1]', path: 'app', tag: '1' }, '[2001:db8::1]/app:1'],
    ['10.0.0.1:5000/a/b/c:x', { domain: '10.0.0.1:5000', path: 'a/b/c', tag: 'x' }, '10.0.0.1:5000/a/b/c:x'],
    [
      `registry.example.com:5000/team/app:2.0@${SHA256}`,
      { domain: 'registry.example.com:5000', path: 'team/app', tag: '2.0', digest: SHA256 },
      `registry.example.com:5000/team/app:2.0@${SHA256}`,
    ],
    [`app@${SHA256}`, { path: 'app', digest: SHA256 }, `docker.io/library/app@${SHA256}`],
    [`app@${SHA512}`, { path: 'app', digest: SHA512 }, `docker.io/library/app@${SHA512}`],
    [
      `app@sha384:${'c'.repeat(96)}`,
      { path: 'app', digest: `sha384:${'c'.repeat(96)}` },
      `docker.io/library/app@sha384:${'c'.repeat(96)}`,
    ],
    ['org/a.b_c__d-e---f', { path: 'org/a.b_c__d-e---f' }, 'docker.io/org/a.b_c__d-e---f:latest'],
    ['localhost', { path: 'localhost' }, 'docker.io/library/localhost:latest'],
    ['localhost:5000', { path: 'localhost', tag: '5000' }, 'docker.io/library/localhost:5000'],
    ['ghcr.io', { path: 'ghcr.io' }, 'docker.io/library/ghcr.io:latest'],
    ['app:_TAG.1-x', { path: 'app', tag: '_TAG.1-x' }, 'docker.io/library/app:_TAG.1-x'],
    [`app:${'t'.repeat(128)}`, { path: 'app', tag: 't'.repeat(128) }, `docker.io/library/app:${'t'.repeat(128)}`],
  ])('parses %s', (input, ref, normalized) => {
    expect(parseImageRef(input)).toEqual(ref);
    expect(formatImageRef(parseImageRef(input))).toBe(input);
    expect(normalizeImageRef(parseImageRef(input))).toBe(normalized);
  });

  it.each([
    ['', /image reference is empty/],
    ['nginx latest', /remove the whitespace/],
    [' nginx', /remove the whitespace/],
    ['nginx\n', /remove the whitespace/],
    ['http://registry.example.com/app', /remove the scheme "http:\/\/"/],
    ['https://ghcr.io/org/app:v1', /remove the scheme "https:\/\/"/],
    ['docker://nginx', /remove the scheme/],
    ['nginx:', /ends with ':'; add a tag \(nginx:1.0\) or remove the ':'/],
    ['localhost:5000/app:', /ends with ':'/],
    ['Nginx', /repository name must be lowercase; write "nginx"/],
    ['ghcr.io/Org/App:v1', /repository name must be lowercase; write "org\/app"/],
    ['library/Nginx', /repository name must be lowercase/],
    ['-app', /invalid path component "-app"/],
    ['app-', /invalid path component "app-"/],
    ['a..b', /invalid path component "a..b"/],
    ['a___b', /invalid path component "a___b"/],
    ['a._b', /invalid path component/],
    ['org//app', /empty path component/],
    ['org/app/', /empty path component/],
    ['ghcr.io/', /the repository path is missing/],
    [':tag', /the repository name is missing/],
    [`@${SHA256}`, /the repository name is missing/],
    ['app:-tag', /invalid tag "-tag"/],
    ['app:.tag', /invalid tag ".tag"/],
    [`app:${'t'.repeat(129)}`, /invalid tag/],
    ['app:t@g', /invalid digest "g"/],
    ['app:1.0:2.0', /invalid path component "app:1.0"/],
    ['app@sha256:abc', /invalid sha256 digest: it must be exactly 64 lowercase hex digits/],
    [`app@sha256:${'A'.repeat(64)}`, /lowercase hex/],
    [`app@sha256:${'a'.repeat(65)}`, /exactly 64/],
    [`app@sha512:${'a'.repeat(64)}`, /exactly 128/],
    [`app@md5:${'a'.repeat(32)}`, /unsupported digest algorithm "md5": use sha256, sha384 or sha512/],
    [`app@SHA256:${'a'.repeat(64)}`, /invalid digest/],
    ['app@latest', /invalid digest "latest"/],
    ['app@', /invalid digest ""/],
    [`app@${SHA256}@${SHA256}`, /digest/],
    ['-registry.io/app', /invalid registry "-registry.io"/],
    ['registry.io:port/app', /invalid registry "registry.io:port"/],
    ['[fe80::1%eth0]:5000/app', /invalid registry/],
    ['reg_istry.io/app', /invalid registry/],
    // A dot makes the first component a registry, as in Docker.
    ['a.b_c/app', /invalid registry "a.b_c"/],
    ['a'.repeat(64).replace(/a/g, 'f'), /image ID, not a repository name/],
  ])('rejects %j', (input, message) => {
    expect(() => parseImageRef(input)).toThrow(ValueError);
    expect(() => parseImageRef(input)).toThrow(message);
  });

  it('limits the repository name to 255 characters, counted as Docker resolves it', () => {
    const path = `org/${'a'.repeat(237)}`;
    expect(`docker.io/${path}`.length).toBe(251);
    expect(parseImageRef(path).path).toBe(path);
    expect(() => parseImageRef(`org/${'a'.repeat(242)}`)).toThrow(/longer than 255 characters \(256\)/);
    // docker.io/library/ counts too.
    expect(() => parseImageRef('a'.repeat(238))).toThrow(/longer than 255/);
    expect(parseImageRef('a'.repeat(237)).path).toHaveLength(237);
  });

  it('rejects non-string input with a ValueError', () => {
    expect(() => parseImageRef(42 as unknown as string)).toThrow(/invalid image reference 42: an image is a name/);
    expect(() => parseImageRef(undefined as unknown as string)).toThrow(/expected a string or a number, got undefined/);
  });

  it('never throws anything but ValueError', () => {
    const inputs = fc.oneof(
      fc.string(),
      fc.string({ unit: 'grapheme' }),
      utf16,
      fc.stringMatching(
        /^([a-zA-Z0-9.:[\]-]{1,12}\/)?[a-z0-9._-]{1,10}(\/[a-z0-9._-]{1,6})?(:[\w.-]{0,6})?(@sha256:[a-f0-9]{0,64})?$/,
      ),
    );
    fc.assert(
      fc.property(inputs, (input) => {
        try {
          const ref = parseImageRef(input);
          // Whatever parses formats back to the input and parses again to the same thing.
          return formatImageRef(ref) === input && parseImageRef(normalizeImageRef(ref)).path.length > 0;
        } catch (error) {
          return error instanceof ValueError;
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('normalizeImageRef', () => {
  it('adds docker.io, library/ and :latest only where Docker does', () => {
    expect(normalizeImageRef({ path: 'nginx' })).toBe('docker.io/library/nginx:latest');
    expect(normalizeImageRef({ path: 'nginx', tag: '1.25', digest: SHA256 })).toBe(
      `docker.io/library/nginx:1.25@${SHA256}`,
    );
    expect(normalizeImageRef({ path: 'nginx', digest: SHA256 })).toBe(`docker.io/library/nginx@${SHA256}`);
    expect(normalizeImageRef({ domain: 'quay.io', path: 'nginx' })).toBe('quay.io/nginx:latest');
  });

  it('is idempotent', () => {
    for (const input of ['nginx', 'org/app:1', `ghcr.io/a/b@${SHA256}`, 'localhost:5000/app']) {
      const once = normalizeImageRef(parseImageRef(input));
      expect(normalizeImageRef(parseImageRef(once))).toBe(once);
    }
  });
});

describe('formatImageRef', () => {
  it('writes the parts back as given', () => {
    expect(formatImageRef({ path: 'nginx' })).toBe('nginx');
    expect(formatImageRef({ domain: 'ghcr.io', path: 'org/app', tag: 'v1', digest: SHA256 })).toBe(
      `ghcr.io/org/app:v1@${SHA256}`,
    );
  });
});
