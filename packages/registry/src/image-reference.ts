import { isIP } from 'node:net';
import { Code, FlotillaError } from '@flotilla/api';

/** A parsed image reference, normalized the way Docker does (`busybox` → `docker.io/library/busybox:latest`). */
export interface ImageReference {
  /** Registry host, with a port when it has one: `docker.io`, `127.0.0.1:5000`, `[::1]:5000`. */
  readonly registry: string;
  /** Repository path inside the registry: `library/busybox`, `team/app`. */
  readonly repository: string;
  /** Absent only when the reference names a digest alone. */
  readonly tag?: string;
  readonly digest?: string;
  /** The canonical form: `docker.io/library/busybox:latest`, `host:5000/app:1@sha256:…`. */
  readonly name: string;
}

export const DOCKER_HUB = 'docker.io';

/** Whether a registry host is on loopback: localhost, 127.0.0.0/8 or ::1, with or without a port. */
export function isLoopback(registry: string): boolean {
  const host = registry.startsWith('[') ? registry.slice(1, registry.indexOf(']')) : registry.replace(/:\d+$/, '');
  if (host.toLowerCase() === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
const HOST_NAME =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$/;
const HOST_IPV6 = /^\[[a-fA-F0-9:.]+\](?::[0-9]+)?$/;
const MAX_NAME = 255;

function invalid(ref: string, why: string): FlotillaError {
  return new FlotillaError(
    Code.InvalidArgument,
    `invalid image reference "${ref}": ${why} (expected [registry/]repository[:tag][@sha256:digest], e.g. busybox:1.36)`,
    { reason: 'invalid-reference' },
  );
}

/** True for a digest this client can verify (`sha256:` + 64 hex, or `sha512:` + 128 hex). */
export function isDigest(value: string): boolean {
  return DIGEST.test(value);
}

/** Parses and normalizes an image reference; throws a FlotillaError (reason `invalid-reference`) that says why. */
export function parseImageReference(ref: string): ImageReference {
  if (ref.length === 0) throw invalid(ref, 'it is empty');
  if (ref !== ref.trim()) throw invalid(ref, 'it has leading or trailing spaces');

  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(ref, `"${digest}" is not a sha256 or sha512 digest`);
  }

  // A colon after the last slash starts the tag; one before it belongs to the registry's port.
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(ref, `"${tag}" is not a valid tag`);
  }

  let registry = DOCKER_HUB;
  let repository = rest;
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  // Docker's rule: the first component is a registry if it looks like a host (has a dot or a port), is
  // localhost, or has upper-case letters (which a repository may not).
  if (
    slash >= 0 &&
    (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())
  ) {
    if (!HOST_NAME.test(first) && !HOST_IPV6.test(first)) throw invalid(ref, `"${first}" is not a valid registry host`);
    registry = first;
    repository = rest.slice(slash + 1);
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB;

  if (repository.length === 0) throw invalid(ref, 'the repository name is missing');
  for (const component of repository.split('/')) {
    if (component !== component.toLowerCase()) throw invalid(ref, 'repository names must be lower case');
    if (!COMPONENT.test(component)) {
      throw invalid(
        ref,
        `"${component}" is not a valid path component (lower-case letters, digits, and . _ - between them)`,
      );
    }
  }
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (`${registry}/${repository}`.length > MAX_NAME)
    throw invalid(ref, `the name is longer than ${MAX_NAME} characters`);

  if (tag === undefined && digest === undefined) tag = 'latest';
  return { registry, repository, tag, digest, name: formatImageReference({ registry, repository, tag, digest }) };
}

/** The canonical string of a reference's parts: `registry/repository[:tag][@digest]`. */
export function formatImageReference(parts: {
  registry: string;
  repository: string;
  tag?: string | undefined;
  digest?: string | undefined;
}): string {
  return `${parts.registry}/${parts.repository}${parts.tag ? `:${parts.tag}` : ''}${parts.digest ? `@${parts.digest}` : ''}`;
}

/**
 * A reference pinned to a digest the way Swarm stores it, `app:1@sha256:…`: the tag stays for people to read,
 * the digest decides what runs. The reference keeps the form it was written in; one without a tag gets the
 * `:latest` it was resolved as. A reference that has a digest already is returned as it is.
 */
export function pinImage(image: string, digest: string): string {
  const ref = parseImageReference(image);
  if (ref.digest) return image;
  if (!isDigest(digest)) throw invalid(`${image}@${digest}`, `"${digest}" is not a sha256 or sha512 digest`);
  const tagged = image.lastIndexOf(':') > image.lastIndexOf('/') ? image : `${image}:${ref.tag ?? 'latest'}`;
  return `${tagged}@${digest}`;
}

/** The reference without its digest, as written: `app:1@sha256:…` → `app:1`. */
export function unpinImage(image: string): string {
  const at = image.indexOf('@');
  return at >= 0 ? image.slice(0, at) : image;
}
