import { readFile } from 'node:fs/promises';
import { Code, FlotillaError } from '@flotilla/api';
import { DOCKER_HUB } from './image-reference.js';

export interface Credential {
  username: string;
  password: string;
}

/**
 * Registry logins by host. The secrets sit in a private field, so logging or inspecting this object never shows
 * them; `source` names the file they came from, for error messages.
 */
export class RegistryCredentials {
  readonly #byRegistry: Map<string, Credential>;

  constructor(
    entries: Record<string, Credential> = {},
    /** The file the credentials came from (named in "add credentials to …" messages). */
    readonly source?: string,
  ) {
    this.#byRegistry = new Map(Object.entries(entries).map(([host, c]) => [normalizeRegistryKey(host), c]));
  }

  get(registry: string): Credential | undefined {
    return this.#byRegistry.get(normalizeRegistryKey(registry));
  }

  /** The registries there are credentials for (never the secrets). */
  registries(): string[] {
    return [...this.#byRegistry.keys()];
  }

  toJSON(): { source?: string; registries: string[] } {
    return { source: this.source, registries: this.registries() };
  }
}

/**
 * Reads a Docker-style config file: `{"auths": {"host:port": {"auth": base64("user:pass")}}}`, or with
 * `username` and `password` fields. A missing file means no credentials (as for Docker), and is still named as
 * the place to add them.
 */
export async function loadRegistryCredentials(path: string): Promise<RegistryCredentials> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new RegistryCredentials({}, path);
    throw new FlotillaError(
      Code.InvalidArgument,
      `cannot read registry credentials from ${path}: check its permissions`,
      { cause: err, reason: 'invalid-config' },
    );
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    // The parser's message may quote the file's content, which holds secrets: do not pass it on.
    throw new FlotillaError(Code.InvalidArgument, `${path} is not valid JSON: fix it (Docker config.json format)`, {
      reason: 'invalid-config',
    });
  }
  const auths = (document as { auths?: unknown } | null)?.auths;
  if (auths === undefined) return new RegistryCredentials({}, path);
  if (typeof auths !== 'object' || auths === null) {
    throw new FlotillaError(Code.InvalidArgument, `${path}: "auths" must be an object of registry host → credentials`, {
      reason: 'invalid-config',
    });
  }
  const entries: Record<string, Credential> = {};
  for (const [host, value] of Object.entries(auths)) {
    const credential = toCredential(value);
    if (credential === 'invalid') {
      throw new FlotillaError(
        Code.InvalidArgument,
        `${path}: the entry for "${host}" needs "auth" (base64 of user:password) or "username" and "password"`,
        { reason: 'invalid-config' },
      );
    }
    if (credential) entries[host] = credential;
  }
  return new RegistryCredentials(entries, path);
}

function toCredential(value: unknown): Credential | 'invalid' | undefined {
  if (typeof value !== 'object' || value === null) return 'invalid';
  const { auth, username, password } = value as Record<string, unknown>;
  if (typeof username === 'string' && typeof password === 'string') return { username, password };
  if (typeof auth === 'string' && auth.length > 0) {
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) return 'invalid';
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  // Docker writes empty entries for registries that use a credential helper; there is nothing to use here.
  return undefined;
}

/** `https://index.docker.io/v1/` → `docker.io`, `http://host:5000/` → `host:5000`. */
export function normalizeRegistryKey(key: string): string {
  let host = key.trim().replace(/^[a-z]+:\/\//i, '');
  const slash = host.indexOf('/');
  if (slash >= 0) host = host.slice(0, slash);
  host = host.toLowerCase();
  if (host === 'index.docker.io' || host === 'registry-1.docker.io') return DOCKER_HUB;
  return host;
}
