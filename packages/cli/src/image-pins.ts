import { homedir } from 'node:os';
import path from 'node:path';
import { Code, type ControlServiceClient, FlotillaError, type StackSpec } from '@flotilla/api';
import { loadRegistryCredentials, parseImageReference, pinImage, RegistryClient, unpinImage } from '@flotilla/registry';
import { call } from './control-client.js';
import { usageError } from './exit-codes.js';
import type { Io } from './io.js';

/** `--resolve-image`, with Docker's meanings (`docker stack deploy --resolve-image`). */
export const RESOLVE_IMAGE_MODES = ['always', 'changed', 'never'] as const;
export type ResolveImage = (typeof RESOLVE_IMAGE_MODES)[number];

/** What became of one service's image. */
export interface ImagePin {
  service: string;
  /** The image as the stack file gives it. */
  image: string;
  /** What the service's tasks will run: `repo:tag@sha256:…` when pinned, else the reference as given. */
  runs: string;
  /**
   * resolved: the registry said what the tag names now; kept: the deployed pin, the reference being unchanged
   * (`changed`); given: the file names a digest already; unpinned: `never`, nodes pull the tag themselves.
   */
  how: 'resolved' | 'kept' | 'given' | 'unpinned';
}

/** What a tag names on its registry now: the digest of its manifest or index. */
export type DigestLookup = (image: string) => Promise<string>;

export interface PinOptions {
  mode: ResolveImage;
  /** The images of the stack's services as deployed now, by service name (what `changed` compares with). */
  deployed: ReadonlyMap<string, string>;
  lookup: DigestLookup;
  /** Registry questions in flight at once. */
  concurrency?: number;
}

/**
 * Pins every service's image to the digest its tag names now, so that every node runs the same bytes for
 * `app:1`. All lookups happen before anything is sent: one image that cannot be pinned fails the whole deploy,
 * naming each service and image that failed, and nothing is applied.
 */
export async function pinStackImages(
  stack: StackSpec,
  options: PinOptions,
): Promise<{ stack: StackSpec; pins: ImagePin[] }> {
  const pins = stack.services.map((s) => planPin(s.annotations?.name ?? '', s.container?.image ?? '', options));
  const wanted = [...new Set(pins.filter((p) => p.how === 'resolved').map((p) => p.image))];
  const digests = await lookupAll(wanted, options.lookup, options.concurrency ?? 4);
  const failed: string[] = [];
  let code: Code | undefined;
  for (const pin of pins) {
    if (pin.how !== 'resolved') continue;
    const found = digests.get(pin.image);
    if (found instanceof FlotillaError) {
      failed.push(`  ${pin.service}: ${pin.image}: ${found.message}`);
      code ??= found.code;
    } else if (found) {
      pin.runs = pinImage(pin.image, found);
    }
  }
  if (failed.length > 0) {
    throw new FlotillaError(
      code ?? Code.Unavailable,
      `cannot pin the images of stack ${stack.name} to digests, so nothing was deployed:\n${failed.join('\n')}\n` +
        'Push the images or correct the references and deploy again, or deploy without pinning with ' +
        '--resolve-image never (each node then pulls the tag itself)',
      { reason: 'image-not-pinned' },
    );
  }
  const byService = new Map(pins.map((p) => [p.service, p.runs]));
  const services = stack.services.map((s) => {
    const runs = byService.get(s.annotations?.name ?? '');
    return s.container && runs !== undefined ? { ...s, container: { ...s.container, image: runs } } : s;
  });
  return { stack: { ...stack, services }, pins };
}

/** What to do with one service's image, before any registry is asked. */
function planPin(service: string, image: string, options: PinOptions): ImagePin {
  // An invalid reference fails here, before any registry is asked; the stack loader checks them already.
  if (parseImageReference(image).digest) return { service, image, runs: image, how: 'given' };
  if (options.mode === 'never') return { service, image, runs: image, how: 'unpinned' };
  const deployed = options.deployed.get(service);
  // Docker's `changed`: the reference in the file is the one deployed, so keep what it was pinned to then,
  // and a tag that moved since does not roll the service.
  if (options.mode === 'changed' && deployed !== undefined && unpinImage(deployed) === image) {
    return { service, image, runs: deployed, how: 'kept' };
  }
  return { service, image, runs: image, how: 'resolved' };
}

/** Each image's digest, or the error that kept it from being found. */
async function lookupAll(
  images: readonly string[],
  lookup: DigestLookup,
  concurrency: number,
): Promise<Map<string, string | FlotillaError>> {
  const results = new Map<string, string | FlotillaError>();
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < images.length; i = next++) {
      const image = images[i] as string;
      results.set(image, await lookup(image).catch((err: unknown) => FlotillaError.from(err)));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, images.length) }, worker));
  return results;
}

export interface RegistryAccess {
  /** Docker's config.json with registry logins; default `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`. */
  authFile?: string | undefined;
  /** Registries that may be reached over plain HTTP (loopback ones always may). */
  insecure?: readonly string[];
  /** PEM CA certificate(s) to trust for registries. */
  ca?: string | undefined;
  env: Record<string, string | undefined>;
}

/**
 * A lookup through this machine's registry logins, as `docker stack deploy` resolves with the client's: the
 * operator who pushed the images can read them, and the managers never hold anyone's registry password.
 */
export async function registryLookup(access: RegistryAccess): Promise<{ lookup: DigestLookup; close(): void }> {
  const authFile = access.authFile ?? dockerConfigFile(access.env);
  const client = new RegistryClient({
    credentials: await loadRegistryCredentials(authFile),
    insecureRegistries: access.insecure ?? [],
    ...(access.ca ? { ca: access.ca } : {}),
    timeoutMs: 20_000,
    userAgent: 'flotilla-cli/0.1',
  });
  return {
    lookup: async (image) => (await client.digest(image)).digest,
    close: () => client.close(),
  };
}

/** Where Docker keeps its logins: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function dockerConfigFile(env: Record<string, string | undefined>): string {
  const dir = env.DOCKER_CONFIG || path.join(env.HOME || homedir(), '.docker');
  return path.join(dir, 'config.json');
}

/** One line per pinned image for people: what each service will run, and why. */
export function formatPins(pins: readonly ImagePin[]): string {
  const lines: string[] = [];
  for (const p of pins) {
    if (p.how === 'resolved') lines.push(`Image ${p.image} pinned to ${pinnedDigest(p.runs)} (${p.service})`);
    if (p.how === 'kept') {
      lines.push(`Image ${p.image} kept at ${pinnedDigest(p.runs)} (${p.service}: reference unchanged)`);
    }
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/** Under `never`, the warning Docker gives when it cannot pin: nodes may run different bytes for one tag. */
export function unpinnedNotice(pins: readonly ImagePin[]): string {
  const unpinned = pins.filter((p) => p.how === 'unpinned').map((p) => p.service);
  if (unpinned.length === 0) return '';
  return (
    `Images not pinned to digests (--resolve-image never): each node pulls the tag itself, so nodes may run ` +
    `different bytes if a tag moves (${unpinned.join(', ')})\n`
  );
}

function pinnedDigest(image: string): string {
  const at = image.indexOf('@');
  return at >= 0 ? image.slice(at + 1) : 'its tag (deployed without a digest)';
}

export interface PinFlags {
  resolveImage?: ResolveImage;
  registryAuth?: string;
  insecureRegistry: string[];
}

/**
 * The stack with every image pinned to the digest its tag names now (`--resolve-image`, default `always` or
 * FLOTILLA_RESOLVE_IMAGE), asked from this machine's registries with its logins before anything is sent.
 */
export async function pinImages(io: Io, c: ControlServiceClient, stack: StackSpec, flags: PinFlags) {
  const fromEnv = io.env.FLOTILLA_RESOLVE_IMAGE;
  if (fromEnv && !RESOLVE_IMAGE_MODES.includes(fromEnv as ResolveImage)) {
    throw usageError(`FLOTILLA_RESOLVE_IMAGE: "${fromEnv}" is not one of ${RESOLVE_IMAGE_MODES.join(', ')}`);
  }
  const mode = flags.resolveImage ?? (fromEnv as ResolveImage | undefined) ?? 'always';
  const deployed = new Map<string, string>();
  if (mode === 'changed') {
    for (const { service } of (await call(c, c.listServices, { stack: stack.name })).services) {
      const image = service?.spec?.container?.image;
      if (service?.spec?.annotations?.name && image) deployed.set(service.spec.annotations.name, image);
    }
  }
  const insecure = [
    ...flags.insecureRegistry,
    ...(io.env.FLOTILLA_INSECURE_REGISTRY ?? '')
      .split(',')
      .map((r) => r.trim())
      .filter((r) => r !== ''),
  ];
  const registry =
    mode === 'never' ? undefined : await registryLookup({ authFile: flags.registryAuth, insecure, env: io.env });
  try {
    const lookup = registry?.lookup ?? (() => Promise.reject(new Error('no registry lookups under never')));
    return await pinStackImages(stack, { mode, deployed, lookup });
  } finally {
    registry?.close();
  }
}
