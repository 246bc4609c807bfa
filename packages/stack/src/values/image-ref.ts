import { quote, requireScalar } from './scalar.js';
import { ValueError } from './value-error.js';

/** A container image reference split as Docker's distribution/reference grammar does. */
export interface ImageRef {
  domain?: string;
  path: string;
  tag?: string;
  digest?: string;
}

const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_PREFIX = 'library/';
const NAME_MAX = 255;

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
// Only plain bracketed IPv6 hosts, as distribution/reference allows: no zones, no IPv4-mapped forms.
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST_ALGORITHM = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*$/;
// The algorithms Docker can verify, with the length of their lower-case hex encoding.
const DIGEST_HEX_LENGTH: ReadonlyMap<string, number> = new Map([
  ['sha256', 64],
  ['sha384', 96],
  ['sha512', 128],
]);

const EXAMPLES = 'e.g. nginx:1.25, ghcr.io/org/app:v1 or app@sha256:<64 hex digits>';

/** Parses an image reference `[domain/]path[:tag][@digest]`, keeping what was written (no defaults filled in). */
export function parseImageRef(input: string): ImageRef {
  const value = requireScalar(input, 'image reference');
  if (typeof value === 'number') {
    throw new ValueError(`invalid image reference ${quote(value)}: an image is a name, ${EXAMPLES}`);
  }
  const q = quote(value);
  const bad = (why: string) => new ValueError(`invalid image reference ${q}: ${why}`);

  if (value === '') throw new ValueError(`image reference is empty: write an image name, ${EXAMPLES}`);
  if (/\s/.test(value)) throw bad('remove the whitespace');
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.exec(value);
  if (scheme !== null) {
    throw bad(`remove the scheme ${quote(scheme[0])}; an image reference has none, e.g. registry.example.com/app:1.0`);
  }
  // Docker refuses a bare 64-hex string: it would be taken for an image ID.
  if (/^[a-f0-9]{64}$/.test(value)) throw bad('a 64-character hex string is an image ID, not a repository name');

  const at = value.indexOf('@');
  const nameAndTag = at === -1 ? value : value.slice(0, at);
  const digest = at === -1 ? undefined : value.slice(at + 1);
  if (digest !== undefined) checkDigest(digest, bad);

  // The tag follows the last ':' after the last '/', so a registry port (localhost:5000/app) is not a tag.
  const colon = nameAndTag.lastIndexOf(':');
  const hasTag = colon > nameAndTag.lastIndexOf('/');
  const name = hasTag ? nameAndTag.slice(0, colon) : nameAndTag;
  const tag = hasTag ? nameAndTag.slice(colon + 1) : undefined;
  if (tag === '') throw bad(`it ends with ':'; add a tag (${name}:1.0) or remove the ':'`);
  if (tag !== undefined && !TAG.test(tag)) {
    throw bad(
      `invalid tag ${quote(tag)}: a tag is 1-128 letters, digits, '_', '.' or '-' and does not start with '.' or '-'`,
    );
  }
  if (name === '') throw bad(`the repository name is missing, ${EXAMPLES}`);

  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  // Docker's rule for telling a registry from the first path component (library/nginx vs localhost/nginx).
  const hasDomain = slash !== -1 && (/[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase());
  const domain = hasDomain ? first : undefined;
  const path = hasDomain ? name.slice(slash + 1) : name;
  if (domain !== undefined && !DOMAIN.test(domain)) {
    throw bad(`invalid registry ${quote(domain)}: write a host name or [IPv6] address with an optional :port`);
  }
  checkPath(path, bad);

  const normalizedName = normalizedNameOf(domain, path);
  if (normalizedName.length > NAME_MAX) {
    throw bad(`the repository name is longer than ${NAME_MAX} characters (${normalizedName.length})`);
  }

  const ref: ImageRef = { path };
  if (domain !== undefined) ref.domain = domain;
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

function checkPath(path: string, bad: (why: string) => ValueError): void {
  if (path === '') throw bad(`the repository path is missing after the registry, ${EXAMPLES}`);
  if (path !== path.toLowerCase()) {
    throw bad(`repository name must be lowercase; write ${quote(path.toLowerCase())}`);
  }
  for (const component of path.split('/')) {
    if (component === '') throw bad(`empty path component in ${quote(path)}: remove the extra '/'`);
    if (!PATH_COMPONENT.test(component)) {
      throw bad(
        `invalid path component ${quote(component)}: use lowercase letters and digits separated by ` +
          `'.', '_', '__' or '-', not at the start or end`,
      );
    }
  }
}

function checkDigest(digest: string, bad: (why: string) => ValueError): void {
  const colon = digest.indexOf(':');
  const algorithm = colon === -1 ? '' : digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  if (colon === -1 || !DIGEST_ALGORITHM.test(algorithm)) {
    throw bad(`invalid digest ${quote(digest)}: write @sha256: followed by 64 lowercase hex digits`);
  }
  const length = DIGEST_HEX_LENGTH.get(algorithm);
  if (length === undefined) throw bad(`unsupported digest algorithm ${quote(algorithm)}: use sha256, sha384 or sha512`);
  if (hex.length !== length || !/^[a-f0-9]+$/.test(hex)) {
    throw bad(`invalid ${algorithm} digest: it must be exactly ${length} lowercase hex digits, got ${quote(hex)}`);
  }
}

function normalizedNameOf(domain: string | undefined, path: string): string {
  const registry = domain === undefined || domain === LEGACY_DEFAULT_DOMAIN ? DEFAULT_DOMAIN : domain;
  // Official images live under library/ on Docker Hub: nginx is docker.io/library/nginx.
  const repository = registry === DEFAULT_DOMAIN && !path.includes('/') ? `${OFFICIAL_PREFIX}${path}` : path;
  return `${registry}/${repository}`;
}

/** The fully qualified reference as Docker resolves it: nginx becomes docker.io/library/nginx:latest. */
export function normalizeImageRef(ref: ImageRef): string {
  const name = normalizedNameOf(ref.domain, ref.path);
  // With only a digest the digest pins the image; Docker adds :latest only when nothing pins it.
  const tag = ref.tag ?? (ref.digest === undefined ? 'latest' : undefined);
  return `${name}${tag === undefined ? '' : `:${tag}`}${ref.digest === undefined ? '' : `@${ref.digest}`}`;
}

/** The reference as written: [domain/]path[:tag][@digest]. */
export function formatImageRef(ref: ImageRef): string {
  const domain = ref.domain === undefined ? '' : `${ref.domain}/`;
  const tag = ref.tag === undefined ? '' : `:${ref.tag}`;
  const digest = ref.digest === undefined ? '' : `@${ref.digest}`;
  return `${domain}${ref.path}${tag}${digest}`;
}
