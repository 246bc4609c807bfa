import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { FlotillaError } from '@flotilla/api';
import { MediaType, RegistryClient } from '@flotilla/registry';
import { tempDir } from '@flotilla/test-servers';
import fc from 'fast-check';
import { type FuzzBudget, type FuzzResult, FuzzTally, inputs, within } from './fuzz-tally.js';
import { hostileLayer } from './hostile-layers.js';
import { type HostileAnswer, HostileRegistry, type HostileScenario, sha256 } from './hostile-registry.js';

/** A pull must end (image or refusal) within this, with the client's socket timeout set below it. */
const DEADLINE_MS = 10_000;
const CLIENT_TIMEOUT_MS = 1_000;
/** More resident memory than this above where the run began is a leak or an unbounded read. */
const MEMORY_BOUND_BYTES = 512 * 1024 * 1024;

/** What is done to an answer that would be right. */
type Lie =
  | 'none'
  | 'wrong-bytes'
  | 'longer'
  | 'shorter'
  | 'endless'
  | 'silent'
  | 'redirect-loop'
  | 'redirect-away'
  | 'server-error'
  | 'auth-challenge';

const lie = fc.oneof(
  { arbitrary: fc.constant<Lie>('none'), weight: 6 },
  fc.constantFrom<Lie>(
    'wrong-bytes',
    'longer',
    'shorter',
    'endless',
    'silent',
    'redirect-loop',
    'redirect-away',
    'server-error',
    'auth-challenge',
  ),
);

/** How the manifest document itself is broken. */
const manifestShape = fc.oneof(
  { arbitrary: fc.constant({ kind: 'valid' as const }), weight: 4 },
  fc.record({
    kind: fc.constant('edited' as const),
    at: fc.nat(),
    cut: fc.nat(12),
    insert: fc.string({ maxLength: 8 }),
  }),
  fc.record({
    kind: fc.constant('field' as const),
    path: fc.constantFrom(
      'config.size',
      'config.digest',
      'layers.0.size',
      'layers.0.digest',
      'schemaVersion',
      'layers',
      'config',
      'mediaType',
    ),
    value: fc.oneof(
      fc.constantFrom(-1, 2 ** 53, 1e300, '../../etc/x', 'sha256:../../../x', null, [], {}, 'sha256:'),
      fc.jsonValue(),
    ),
  }),
  fc.constantFrom(
    { kind: 'deep' as const },
    { kind: 'huge' as const },
    { kind: 'schema1' as const },
    { kind: 'index' as const },
    { kind: 'index-loop' as const },
    { kind: 'not-json' as const },
  ),
);

const contentType = fc.constantFrom(
  MediaType.ociManifest,
  MediaType.dockerManifest,
  MediaType.ociIndex,
  'application/json',
  'text/html',
  '',
);

const scenarioInput = fc.record({
  layers: fc.array(hostileLayer, { minLength: 1, maxLength: 3 }),
  manifest: manifestShape,
  contentType,
  tagDigest: fc.constantFrom('right', 'wrong', 'absent', 'garbage'),
  manifestLie: lie,
  configLie: lie,
  layerLie: lie,
  configText: fc.oneof(
    fc.constant('valid'),
    fc.constant('[[[['),
    fc.jsonValue().map((v) => JSON.stringify(v)),
  ),
});

type ScenarioInput = typeof scenarioInput extends fc.Arbitrary<infer T> ? T : never;

function ok(body: Buffer, type = 'application/octet-stream', extra: Record<string, string> = {}): HostileAnswer {
  return { status: 200, headers: { 'content-type': type, 'content-length': String(body.length), ...extra }, body };
}

/** The answer for content at `url`, with `how` applied. */
function told(how: Lie, body: Buffer, type: string, registry: string, url: string): HostileAnswer {
  switch (how) {
    case 'none':
      return ok(body, type);
    case 'wrong-bytes':
      return ok(Buffer.concat([body.subarray(0, Math.max(0, body.length - 1)), Buffer.from('!')]), type);
    case 'longer':
      return ok(Buffer.concat([body, Buffer.alloc(4096, 0x41)]), type);
    case 'shorter':
      return ok(body.subarray(0, body.length >> 1), type);
    case 'endless':
      return { status: 200, headers: { 'content-type': type }, body, stall: 'endless' };
    case 'silent':
      return { status: 200, headers: { 'content-type': type }, body, stall: 'silent' };
    case 'redirect-loop':
      return { status: 302, headers: { location: url }, body: Buffer.alloc(0) };
    case 'redirect-away':
      return { status: 307, headers: { location: 'http://[::1' }, body: Buffer.alloc(0) };
    case 'server-error':
      return { status: 500, headers: { 'content-type': 'text/html' }, body: Buffer.from('<html>'.repeat(10_000)) };
    case 'auth-challenge':
      return {
        status: 401,
        headers: { 'www-authenticate': `Bearer realm="http://${registry}/token",service="x",scope="a"` },
        body: Buffer.alloc(0),
      };
  }
}

function setField(document: Record<string, unknown>, at: string, value: unknown): void {
  const keys = at.split('.');
  let target: unknown = document;
  for (const key of keys.slice(0, -1)) target = (target as Record<string, unknown>)?.[key];
  if (target && typeof target === 'object') (target as Record<string, unknown>)[keys.at(-1) as string] = value;
}

/** The manifest bytes the input asks for, built around the real config and layers. */
function manifestBytes(input: ScenarioInput, config: Buffer, layers: Buffer[]): Buffer {
  const descriptor = (mediaType: string, b: Buffer) => ({ mediaType, digest: sha256(b), size: b.length });
  const document: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: descriptor(MediaType.ociConfig, config),
    layers: layers.map((l) => descriptor(MediaType.ociLayerGzip, l)),
  };
  const m = input.manifest;
  if (m.kind === 'field') setField(document, m.path, m.value);
  if (m.kind === 'deep') return Buffer.from(`${'['.repeat(200_000)}${']'.repeat(200_000)}`);
  if (m.kind === 'huge') return Buffer.from(JSON.stringify({ ...document, annotations: { x: 'y'.repeat(5 << 20) } }));
  if (m.kind === 'schema1') return Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'x', fsLayers: [] }));
  if (m.kind === 'not-json') return Buffer.from('<html>not found</html>');
  const text = JSON.stringify(document);
  if (m.kind !== 'edited') return Buffer.from(text);
  const i = m.at % (text.length + 1);
  return Buffer.from(text.slice(0, i) + m.insert + text.slice(i + m.cut));
}

/** The whole scenario: the tag, and every manifest and blob by digest, each answered as the input says. */
function scenarioOf(input: ScenarioInput, registry: string): HostileScenario {
  const byDigest = new Map<string, HostileAnswer>();
  const blobUrl = (d: string) => `http://${registry}/v2/fuzz/app/blobs/${d}`;
  const config =
    input.configText === 'valid'
      ? Buffer.from(
          JSON.stringify({
            architecture: 'amd64',
            os: 'linux',
            rootfs: { type: 'layers', diff_ids: input.layers.map((l) => sha256(l)) },
          }),
        )
      : Buffer.from(input.configText);
  byDigest.set(sha256(config), told(input.configLie, config, MediaType.ociConfig, registry, blobUrl(sha256(config))));
  for (const layer of input.layers) {
    byDigest.set(sha256(layer), told(input.layerLie, layer, MediaType.ociLayerGzip, registry, blobUrl(sha256(layer))));
  }
  let top = manifestBytes(input, config, input.layers);
  let type = input.contentType;
  if (input.manifest.kind === 'index' || input.manifest.kind === 'index-loop') {
    const manifest = top;
    byDigest.set(sha256(manifest), ok(manifest, MediaType.ociManifest));
    const entry = (digest: string) => ({
      mediaType: MediaType.ociManifest,
      digest,
      size: manifest.length,
      platform: { os: 'linux', architecture: 'amd64' },
    });
    // An index whose entry is the index itself cannot name its own digest; it names a second index that names the first.
    const inner = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [entry(sha256(manifest))] }),
    );
    top =
      input.manifest.kind === 'index'
        ? inner
        : Buffer.from(
            JSON.stringify({
              schemaVersion: 2,
              mediaType: MediaType.ociIndex,
              manifests: [{ ...entry(sha256(inner)), mediaType: MediaType.ociIndex }],
            }),
          );
    byDigest.set(sha256(inner), ok(inner, MediaType.ociIndex));
    type = MediaType.ociIndex;
  }
  const digestHeader: Record<string, string> =
    input.tagDigest === 'right'
      ? { 'docker-content-digest': sha256(top) }
      : input.tagDigest === 'wrong'
        ? { 'docker-content-digest': sha256(Buffer.from('other')) }
        : input.tagDigest === 'garbage'
          ? { 'docker-content-digest': 'sha256:../../x' }
          : {};
  const tagAnswer = told(input.manifestLie, top, type, registry, `http://${registry}/v2/fuzz/app/manifests/1`);
  return {
    tag: { ...tagAnswer, headers: { ...tagAnswer.headers, ...digestHeader } },
    byDigest,
    other: ok(Buffer.from(JSON.stringify({ token: 'x'.repeat(100), expires_in: -1 })), 'application/json'),
  };
}

/** A pull as an agent makes one: resolve the tag, then stream each layer to a file named by its digest. */
async function pull(client: RegistryClient, registry: string, target: string): Promise<void> {
  const resolved = await client.resolve(`${registry}/fuzz/app:1`, { os: 'linux', architecture: 'amd64' });
  for (const layer of resolved.layers.slice(0, 4)) {
    const file = path.join(target, layer.digest.replace(':', '-'));
    await pipeline(await client.fetchBlob(resolved.reference, layer), createWriteStream(file));
    const written = `sha256:${createHash('sha256').update(readFileSync(file)).digest('hex')}`;
    if (written !== layer.digest) throw new Error(`a layer was returned as good but hashes to ${written}`);
  }
}

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' });
}

/**
 * Pulls from a hostile registry: manifests, indexes, configs and layers with wrong digests, lying sizes, bad or
 * deeply nested JSON, endless or silent bodies, redirect loops, auth challenges, and layers that try to escape
 * the root. Each pull ends within the deadline with an image or a FlotillaError, memory stays bounded, and
 * nothing is written but the layers' files in the target directory.
 */
export async function fuzzRegistryClient(budget: FuzzBudget): Promise<FuzzResult> {
  const tally = new FuzzTally('registry-client', budget);
  const registry = await HostileRegistry.start();
  const work = tempDir('fuzz-registry');
  const baseline = process.memoryUsage().rss;
  let pulls = 0;
  let escaped: unknown;
  const onUncaught = (err: unknown) => {
    escaped = err;
  };
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  try {
    for (const input of inputs(scenarioInput, tally)) {
      tally.input();
      registry.reset();
      registry.scenario = scenarioOf(input, registry.host);
      pulls++;
      const target = path.join(work.path, `pull-${pulls}`, 'target');
      mkdirSync(target, { recursive: true });
      const client = new RegistryClient({ timeoutMs: CLIENT_TIMEOUT_MS, maxConfigBytes: 1 << 20 });
      const shown = { ...input, layers: input.layers.map((l) => `${l.length} bytes`) };
      const outcome = await within(
        pull(client, registry.host, target).then(
          () => undefined,
          (err: unknown) => err,
        ),
        DEADLINE_MS,
        'hang' as const,
      );
      client.close();
      if (outcome === undefined) tally.accept();
      if (outcome === 'hang') tally.hang(`the pull did not end in ${DEADLINE_MS} ms`, shown);
      else if (outcome !== undefined && !(outcome instanceof FlotillaError)) {
        tally.violation(`refused with a ${(outcome as Error)?.name}, not a FlotillaError: ${String(outcome)}`, shown);
      }
      const outside = filesUnder(path.dirname(target)).filter((f) => f !== 'target' && !f.startsWith('target/'));
      if (outside.length > 0) tally.violation(`written outside the target: ${outside.join(', ')}`, shown);
      if (process.memoryUsage().rss - baseline > MEMORY_BOUND_BYTES) {
        tally.violation(`resident memory grew by more than ${MEMORY_BOUND_BYTES >> 20} MiB`, shown);
      }
      if (escaped !== undefined) {
        tally.crash(`an exception escaped: ${escaped instanceof Error ? escaped.stack : String(escaped)}`, shown);
        escaped = undefined;
      }
    }
  } finally {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
    await registry.close();
    work.remove();
  }
  return tally.done();
}
