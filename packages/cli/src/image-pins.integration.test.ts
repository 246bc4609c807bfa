import { Code, FlotillaError, type StackSpec } from '@flotilla/api';
import { buildImage, hostPlatform, type OciImage, RegistryClient } from '@flotilla/registry';
import { loadStackText, toStackSpec } from '@flotilla/stack';
import { freePort, ManagedProcess, startRegistry, type TestRegistry } from '@flotilla/test-servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pinStackImages, type ResolveImage, registryLookup } from './image-pins.js';

// Pinning against a real registry (Debian's docker-registry): tags moved by pushing other bytes under them.
let registry: TestRegistry;
let pusher: RegistryClient;
const access = { env: { HOME: '/nonexistent' } };

beforeAll(async () => {
  registry = await startRegistry();
  pusher = new RegistryClient();
});

afterAll(async () => {
  pusher?.close();
  await registry?.stop();
  await ManagedProcess.stopAll();
});

/** A small image whose bytes differ by `release`. */
function release(text: string, platform = hostPlatform()): Promise<OciImage> {
  return buildImage({ files: [{ type: 'file', path: 'release', content: text }], config: { cmd: ['sh'] }, platform });
}

function stackOf(images: Record<string, string>): StackSpec {
  const yaml = Object.entries(images)
    .map(([name, image]) => `  ${name}:\n    image: ${image}\n`)
    .join('');
  return toStackSpec(loadStackText(`services:\n${yaml}`).stack, 'pins');
}

async function pin(stack: StackSpec, mode: ResolveImage, deployed = new Map<string, string>()) {
  const { lookup, close } = await registryLookup(access);
  try {
    return await pinStackImages(stack, { mode, deployed, lookup });
  } finally {
    close();
  }
}

const imageOf = (stack: StackSpec, service: string) =>
  stack.services.find((s) => s.annotations?.name === `pins_${service}`)?.container?.image;

async function failure(promise: Promise<unknown>): Promise<FlotillaError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FlotillaError);
  return err as FlotillaError;
}

describe('pinning stack images to digests', () => {
  it('pins a tag to what it names now, and to the new bytes once the tag moves (always)', async () => {
    const app = `${registry.address}/pins/app:1`;
    const first = await pusher.pushImage(app, await release('one'));
    const before = await pin(stackOf({ api: app, web: app }), 'always');
    expect(imageOf(before.stack, 'api')).toBe(`${app}@${first}`);
    expect(imageOf(before.stack, 'web')).toBe(`${app}@${first}`);
    expect(before.pins.map((p) => p.how)).toEqual(['resolved', 'resolved']);

    const second = await pusher.pushImage(app, await release('two'));
    expect(second).not.toBe(first);
    const after = await pin(stackOf({ api: app, web: app }), 'always');
    expect(imageOf(after.stack, 'api')).toBe(`${app}@${second}`);
    expect(imageOf(after.stack, 'web')).toBe(`${app}@${second}`);
  });

  it('under changed, keeps the deployed pin of an unchanged reference and resolves a changed one', async () => {
    const v1 = `${registry.address}/pins/svc:1`;
    const v2 = `${registry.address}/pins/svc:2`;
    const old = await pusher.pushImage(v1, await release('svc one'));
    const moved = await pusher.pushImage(v1, await release('svc one, rebuilt'));
    const other = await pusher.pushImage(v2, await release('svc two'));
    const deployed = new Map([
      ['pins_api', `${v1}@${old}`],
      ['pins_web', `${v1}@${old}`],
    ]);
    const { stack, pins } = await pin(stackOf({ api: v1, web: v2, new: v1 }), 'changed', deployed);
    expect(imageOf(stack, 'api')).toBe(`${v1}@${old}`);
    expect(imageOf(stack, 'web')).toBe(`${v2}@${other}`);
    // A service not deployed yet has nothing to keep.
    expect(imageOf(stack, 'new')).toBe(`${v1}@${moved}`);
    expect(pins.map((p) => [p.service, p.how])).toEqual([
      ['pins_api', 'kept'],
      ['pins_web', 'resolved'],
      ['pins_new', 'resolved'],
    ]);
  });

  it('pins a multi-platform tag to its index, so each node still picks its own platform', async () => {
    const multi = `${registry.address}/pins/multi:1`;
    const index = await pusher.pushIndex(multi, [
      await release('amd64', { os: 'linux', architecture: 'amd64' }),
      await release('arm64', { os: 'linux', architecture: 'arm64' }),
    ]);
    const { stack } = await pin(stackOf({ api: multi }), 'always');
    expect(imageOf(stack, 'api')).toBe(`${multi}@${index}`);
    const resolved = await pusher.resolve(`${multi}@${index}`, { os: 'linux', architecture: 'arm64' });
    expect(resolved.index?.digest).toBe(index);
  });

  it('keeps a digest the file gives, and the tags under never', async () => {
    const app = `${registry.address}/pins/given:1`;
    const digest = await pusher.pushImage(app, await release('given'));
    const { stack, pins } = await pin(stackOf({ api: `${app}@${digest}`, web: app }), 'never');
    expect(imageOf(stack, 'api')).toBe(`${app}@${digest}`);
    expect(imageOf(stack, 'web')).toBe(app);
    expect(pins.map((p) => p.how)).toEqual(['given', 'unpinned']);
    // never asks no registry: a tag that does not exist is the nodes' business.
    const absent = `${registry.address}/pins/absent:9`;
    expect(imageOf((await pin(stackOf({ api: absent }), 'never')).stack, 'api')).toBe(absent);
  });

  it('fails the whole stack for a tag that does not exist, naming each service and what to do', async () => {
    const app = `${registry.address}/pins/exists:1`;
    await pusher.pushImage(app, await release('exists'));
    const absent = `${registry.address}/pins/absent:9`;
    const err = await failure(pin(stackOf({ api: app, web: absent, worker: absent }), 'always'));
    expect(err.code).toBe(Code.NotFound);
    expect(err.message).toContain('nothing was deployed');
    expect(err.message).toContain(`pins_web: ${absent}:`);
    expect(err.message).toContain(`pins_worker: ${absent}:`);
    expect(err.message).not.toContain('pins_api');
    expect(err.message).toContain('--resolve-image never');
  });

  it('fails clearly when the registry cannot be reached', async () => {
    const away = `127.0.0.1:${await freePort()}/pins/app:1`;
    const err = await failure(pin(stackOf({ api: away }), 'always'));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.message).toContain(`pins_api: ${away}:`);
    expect(err.message).toContain('--resolve-image never');
  });
});
