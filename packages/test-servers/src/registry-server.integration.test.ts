import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { FlotillaError } from '@flotilla/api';
import { freePort, ManagedProcess } from '@flotilla/devhosts';
import {
  buildImage,
  type Descriptor,
  hostPlatform,
  loadRegistryCredentials,
  type OciImage,
  RegistryClient,
} from '@flotilla/registry';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  buildBusyboxImage,
  pushTestImages,
  startRegistry,
  type TestImageRefs,
  type TestRegistry,
} from './registry-server.js';
import { tempDir } from './temp-dir.js';

afterAll(() => ManagedProcess.stopAll());

const clients: RegistryClient[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});
function client(options: ConstructorParameters<typeof RegistryClient>[0] = {}): RegistryClient {
  const c = new RegistryClient(options);
  clients.push(c);
  return c;
}

async function failure(promise: Promise<unknown>): Promise<FlotillaError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FlotillaError);
  return err as FlotillaError;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `tar -tv` of a gzip'd layer: one line per entry, symlinks as `name -> target`. */
function listLayer(gzipped: Buffer): string {
  return execFileSync('tar', ['-tvz', '--numeric-owner', '-f', '-'], { input: gzipped }).toString();
}

/** Overwrites a blob in the registry's storage with different bytes of the same length. */
function corruptBlob(storage: string, digest: string): void {
  const hex = digest.slice('sha256:'.length);
  const file = path.join(storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
  const original = readFileSync(file);
  const changed = Buffer.from(original);
  changed[changed.length >> 1] = (changed[changed.length >> 1]! + 1) & 0xff;
  writeFileSync(file, changed);
}

const platform = hostPlatform();

describe('registry without auth', () => {
  let registry: TestRegistry;
  let images: { busybox: TestImageRefs };

  beforeAll(async () => {
    registry = await startRegistry();
    images = await pushTestImages(registry.address);
  });
  afterAll(() => registry?.stop());

  it('resolves the pushed busybox image by tag and by digest, and streams verified blobs', async () => {
    const registryClient = client();
    const byTag = await registryClient.resolve(images.busybox.tag, platform);
    expect(byTag.digest).toBe(images.busybox.digest);
    expect(byTag.index).toBeUndefined();
    expect(byTag.platform).toEqual(platform);
    expect(createHash('sha256').update(byTag.manifest).digest('hex')).toBe(images.busybox.digest.slice(7));
    const byDigest = await registryClient.resolve(images.busybox.byDigest, platform);
    expect(byDigest.digest).toBe(byTag.digest);
    expect(byDigest.manifest.equals(byTag.manifest)).toBe(true);

    const config = JSON.parse(byTag.configBytes.toString());
    expect(config.config.Cmd).toEqual(['sh']);
    expect(config.config.Entrypoint).toBeUndefined();
    expect((await registryClient.fetchBlobBytes(images.busybox.tag, byTag.config)).equals(byTag.configBytes)).toBe(
      true,
    );

    expect(byTag.layers).toHaveLength(1);
    const layer = await readAll(await registryClient.fetchBlob(images.busybox.tag, byTag.layers[0]!));
    expect(`sha256:${createHash('sha256').update(layer).digest('hex')}`).toBe(byTag.layers[0]!.digest);
    const listing = listLayer(layer);
    expect(listing).toMatch(/^-rwxr-xr-x 0\/0 .* bin\/busybox$/m);
    expect(listing).toMatch(/^lrwxrwxrwx 0\/0 .* bin\/sh -> busybox$/m);
    expect(listing).toMatch(/^lrwxrwxrwx 0\/0 .* bin\/wget -> busybox$/m);
    expect(listing).toMatch(/^drwxrwxrwt 0\/0 .* tmp\/$/m);
  });

  it('pushes the same image again without uploading its blobs twice, to the same digest', async () => {
    const again = await pushTestImages(registry.address);
    expect(again.busybox.digest).toBe(images.busybox.digest);
  });

  it('picks the manifest for the platform from an index with amd64 and arm64 entries', async () => {
    const registryClient = client();
    const build = (architecture: string) =>
      buildImage({
        files: [{ type: 'file', path: '/arch', content: architecture }],
        platform: { os: 'linux', architecture },
      });
    const [amd64, arm64] = [await build('amd64'), await build('arm64')];
    const ref = `${registry.address}/flotilla-test/multi:1`;
    const indexDigest = await registryClient.pushIndex(ref, [amd64, arm64]);

    const onAmd = await registryClient.resolve(ref, { os: 'linux', architecture: 'x86_64' });
    expect(onAmd.digest).toBe(amd64.manifest.descriptor.digest);
    expect(onAmd.index?.digest).toBe(indexDigest);
    expect(onAmd.platform).toEqual({ os: 'linux', architecture: 'amd64' });
    const onArm = await registryClient.resolve(ref, { os: 'linux', architecture: 'aarch64', variant: 'v8' });
    expect(onArm.digest).toBe(arm64.manifest.descriptor.digest);
    expect(onArm.config).toEqual(arm64.config.descriptor);

    const err = await failure(registryClient.resolve(ref, { os: 'linux', architecture: 'riscv64' }));
    expect(err.reason).toBe('no-matching-platform');
    expect(err.message).toContain('linux/riscv64');
    expect(err.message).toContain('linux/amd64, linux/arm64');

    // A single-platform image is checked against its config.
    await registryClient.pushImage(`${registry.address}/flotilla-test/arm-only:1`, arm64);
    const single = await failure(
      registryClient.resolve(`${registry.address}/flotilla-test/arm-only:1`, { os: 'linux', architecture: 'amd64' }),
    );
    expect(single.reason).toBe('no-matching-platform');
    expect(single.message).toContain('(it has: linux/arm64)');
  });

  it('detects content that does not match its digest or size', async () => {
    const registryClient = client();
    const image: OciImage = await buildImage({
      files: [{ type: 'file', path: '/data', content: randomBytes(4096) }],
      platform,
    });
    const repository = `${registry.address}/flotilla-test/corrupt`;
    const digest = await registryClient.pushImage(`${repository}:1`, image);
    const layer = image.layers[0]!.descriptor;

    const short: Descriptor = { ...layer, size: layer.size - 1 };
    const tooLong = await failure(readAll(await registryClient.fetchBlob(`${repository}:1`, short)));
    expect(tooLong.reason).toBe('digest-mismatch');

    corruptBlob(registry.storageDir, layer.digest);
    const stream = await registryClient.fetchBlob(`${repository}:1`, layer);
    const err = await failure(readAll(stream));
    expect(err.reason).toBe('digest-mismatch');
    expect(err.message).toContain(`not ${layer.digest}`);

    corruptBlob(registry.storageDir, digest);
    const manifest = await failure(registryClient.resolve(`${repository}@${digest}`, platform));
    expect(manifest.reason).toBe('digest-mismatch');
  });

  it('says not-found, naming the reference, for a missing tag or repository', async () => {
    const registryClient = client();
    const missingTag = `${registry.address}/flotilla-test/busybox:no-such-tag`;
    const err = await failure(registryClient.resolve(missingTag, platform));
    expect(err.reason).toBe('not-found');
    expect(err.message).toContain(missingTag);
    const missingRepo = await failure(registryClient.resolve(`${registry.address}/nobody/here:1`, platform));
    expect(missingRepo.reason).toBe('not-found');
    expect(missingRepo.message).toContain(`${registry.address}/nobody/here:1`);
  });

  it('says unavailable when nothing listens at the address', async () => {
    const port = await freePort();
    const err = await failure(client().resolve(`127.0.0.1:${port}/x:1`, platform));
    expect(err.reason).toBe('unavailable');
    expect(err.message).toContain(`127.0.0.1:${port}`);
    expect(err.message).toContain('ECONNREFUSED');
  });
});

describe.each(['basic', 'token'] as const)('registry with logins (%s auth)', (authMode) => {
  const login = { username: 'flotilla', password: `pw-${randomBytes(8).toString('hex')}` };
  let registry: TestRegistry;
  let images: { busybox: TestImageRefs };
  const files = tempDir('registry-auth-test');

  beforeAll(async () => {
    registry = await startRegistry({ auth: login, authMode });
    images = await pushTestImages(registry.address, login);
  });
  afterAll(async () => {
    await registry?.stop();
    files.remove();
  });

  it('refuses a client without credentials, saying where to add them', async () => {
    const credentials = await loadRegistryCredentials(path.join(files.path, 'absent.json'));
    const err = await failure(client({ credentials }).resolve(images.busybox.tag, platform));
    expect(err.reason).toBe('unauthorized');
    expect(err.message).toContain(`registry ${registry.address} requires a login`);
    expect(err.message).toContain(path.join(files.path, 'absent.json'));
    const none = await failure(client().resolve(images.busybox.tag, platform));
    expect(none.message).toContain('~/.docker/config.json');
  });

  it('pulls with credentials from a Docker config file', async () => {
    const credentials = await loadRegistryCredentials(registry.credentialsFile!);
    const registryClient = client({ credentials });
    const resolved = await registryClient.resolve(images.busybox.byDigest, platform);
    expect(resolved.digest).toBe(images.busybox.digest);
    const layer = await readAll(await registryClient.fetchBlob(images.busybox.tag, resolved.layers[0]!));
    expect(layer.length).toBe(resolved.layers[0]!.size);
  });

  it('reports refused credentials without ever showing the password', async () => {
    const wrong = `wrong-${randomBytes(8).toString('hex')}`;
    const file = path.join(files.path, 'wrong.json');
    writeFileSync(
      file,
      JSON.stringify({ auths: { [registry.address]: { username: login.username, password: wrong } } }),
    );
    const err = await failure(
      client({ credentials: await loadRegistryCredentials(file) }).resolve(images.busybox.tag, platform),
    );
    expect(err.reason).toBe('unauthorized');
    expect(err.message).toContain(`refused the credentials of user "${login.username}" from ${file}`);
    for (const text of [err.message, String(err.stack), JSON.stringify(err)]) {
      expect(text).not.toContain(wrong);
      expect(text).not.toContain(login.password);
      expect(text).not.toContain(Buffer.from(`${login.username}:${wrong}`).toString('base64'));
    }
  });
});

describe('registry over HTTPS', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry({ tls: true });
  });
  afterAll(() => registry?.stop());

  it('is reached over HTTPS with its CA, and refused with a clear message without it', async () => {
    const ca = readFileSync(registry.caFile!);
    const images = await pushTestImages(registry.address, undefined, { ca });
    const resolved = await client({ ca }).resolve(images.busybox.tag, platform);
    expect(resolved.digest).toBe(images.busybox.digest);
    const err = await failure(client().resolve(images.busybox.tag, platform));
    expect(err.reason).toBe('unavailable');
    expect(err.message).toContain('not trusted');
    expect(err.message).toContain('ca option');
  });
});

it('builds the busybox image deterministically', async () => {
  const [a, b] = [await buildBusyboxImage(), await buildBusyboxImage()];
  expect(a.manifest.descriptor.digest).toBe(b.manifest.descriptor.digest);
});
