import { Code, FlotillaError } from '@flotilla/api';
import { describeNetworkError, discard, type HttpTransport, readBody } from './http-transport.js';
import { isLoopback } from './image-reference.js';
import type { RegistryCredentials } from './registry-credentials.js';

export interface Challenge {
  /** Lower case: `bearer`, `basic`. */
  scheme: string;
  params: Record<string, string>;
}

const MAX_TOKEN_RESPONSE = 1024 * 1024;
// Registries that leave expires_in out mean 60 s (distribution's token spec); renew a little early.
const DEFAULT_TOKEN_SECONDS = 60;
const RENEW_EARLY_MS = 5_000;

/**
 * Parses a WWW-Authenticate header (RFC 7235): one or more `Scheme k=v, k="v"` challenges. Node joins repeated
 * headers with commas, so a parameter list ends where a bare token (the next scheme) starts.
 */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  const pattern =
    /\s*,?\s*(?:([A-Za-z0-9_.~+/-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)|([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*))/y;
  let current: Challenge | undefined;
  while (pattern.lastIndex < header.length) {
    const start = pattern.lastIndex;
    const match = pattern.exec(header);
    if (!match || pattern.lastIndex === start) break;
    const [, key, rawValue, scheme] = match;
    if (scheme !== undefined) {
      current = { scheme: scheme.toLowerCase(), params: {} };
      challenges.push(current);
    } else if (current && key !== undefined && rawValue !== undefined) {
      current.params[key.toLowerCase()] = rawValue.startsWith('"')
        ? rawValue.slice(1, -1).replace(/\\(.)/g, '$1')
        : rawValue;
    }
  }
  return challenges;
}

/**
 * Answers registry auth challenges: Basic with the configured login, Bearer by fetching a token from the realm
 * (with the login when there is one, anonymously otherwise). Headers are kept per registry and scope, so only the
 * first request of a kind pays the extra round trips.
 */
export class RegistryAuth {
  private readonly tokens = new Map<string, { header: string; expiresAt: number }>();
  private readonly basic = new Set<string>();

  constructor(
    private readonly transport: HttpTransport,
    private readonly credentials: RegistryCredentials | undefined,
  ) {}

  /** The Authorization header to send proactively, if this registry has asked for one before. */
  header(registry: string, scope: string): string | undefined {
    if (this.basic.has(registry)) return this.basicHeader(registry);
    const token = this.tokens.get(`${registry} ${scope}`);
    if (token && token.expiresAt > Date.now()) return token.header;
    return undefined;
  }

  /** Works out the Authorization header a 401's challenge asks for; throws `unauthorized` if there is none. */
  async answer(registry: string, scope: string, wwwAuthenticate: string | undefined, signal?: AbortSignal) {
    const challenges = parseChallenges(wwwAuthenticate ?? '');
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer) {
      const header = await this.fetchToken(registry, bearer.params, scope, signal);
      return header;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      const header = this.basicHeader(registry);
      if (!header) throw this.unauthorized(registry);
      this.basic.add(registry);
      return header;
    }
    throw new FlotillaError(
      Code.Unauthenticated,
      `registry ${registry} asked for authentication with a scheme this client does not speak ` +
        `(${challenges.map((c) => c.scheme).join(', ') || 'none given'}): use Basic or Bearer token auth`,
      { reason: 'unauthorized' },
    );
  }

  /** The error for a registry that still says 401 (or 403): names the registry and where credentials go. */
  unauthorized(registry: string, refused = false, repository?: string): FlotillaError {
    const credential = this.credentials?.get(registry);
    const file = this.credentials?.source ?? 'a Docker-style config file (such as ~/.docker/config.json)';
    if (credential && refused) {
      return new FlotillaError(
        Code.Unauthenticated,
        `registry ${registry} refused the credentials of user "${credential.username}" from ${file}` +
          `${repository ? ` for ${repository}` : ''}: check the password there, and that this user may access the repository`,
        { reason: 'unauthorized' },
      );
    }
    return new FlotillaError(
      Code.Unauthenticated,
      `registry ${registry} requires a login${repository ? ` for ${repository}` : ''}: add credentials for ` +
        `"${registry}" to ${file}, as {"auths": {"${registry}": {"auth": "<base64 of user:password>"}}}`,
      { reason: 'unauthorized' },
    );
  }

  private basicHeader(registry: string): string | undefined {
    const credential = this.credentials?.get(registry);
    if (!credential) return undefined;
    return `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}`;
  }

  private async fetchToken(
    registry: string,
    params: Record<string, string>,
    scope: string,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    let url: URL;
    try {
      url = new URL(params.realm ?? '');
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('not http(s)');
    } catch {
      throw new FlotillaError(
        Code.Unauthenticated,
        `registry ${registry} sent a Bearer challenge without a usable realm URL: check the registry's auth setup`,
        { reason: 'unauthorized' },
      );
    }
    if (params.service) url.searchParams.set('service', params.service);
    // The challenge's scope is what the registry wants for this request; ours covers the rest of the operation.
    for (const s of new Set([params.scope, scope].filter((s): s is string => Boolean(s)))) {
      url.searchParams.append('scope', s);
    }
    // The login goes to the token service only over HTTPS, or in the clear to the registry's own (insecure)
    // host or to loopback: a challenge must not be able to send it in plain text anywhere it likes.
    const plainAllowed = url.host === registry || isLoopback(url.host);
    const basic = url.protocol === 'https:' || plainAllowed ? this.basicHeader(registry) : undefined;
    let res: Awaited<ReturnType<HttpTransport['send']>>;
    try {
      res = await this.transport.send({
        method: 'GET',
        url,
        headers: basic ? { authorization: basic } : {},
        signal,
      });
    } catch (err) {
      throw new FlotillaError(
        Code.Unavailable,
        `cannot reach the token service of ${registry} at ${url.origin} (${describeNetworkError(err)}): retry later`,
        { cause: err, reason: 'unavailable' },
      );
    }
    if (res.status === 401 || res.status === 403) {
      discard(res);
      throw this.unauthorized(registry, basic !== undefined);
    }
    if (res.status !== 200) {
      discard(res);
      throw new FlotillaError(
        Code.Unavailable,
        `the token service of ${registry} at ${url.origin} answered HTTP ${res.status}: retry later`,
        { reason: 'unavailable' },
      );
    }
    const body = await readBody(res, MAX_TOKEN_RESPONSE, `the token response of ${registry}`);
    let token: unknown;
    let expiresIn: unknown;
    try {
      const parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      token = parsed.token ?? parsed.access_token;
      expiresIn = parsed.expires_in;
    } catch {
      // Never quote the body: it may hold a token.
    }
    if (typeof token !== 'string' || token.length === 0) {
      throw new FlotillaError(
        Code.Unauthenticated,
        `the token service of ${registry} at ${url.origin} returned no token: check the registry's auth setup`,
        { reason: 'unauthorized' },
      );
    }
    const seconds = typeof expiresIn === 'number' && expiresIn > 0 ? expiresIn : DEFAULT_TOKEN_SECONDS;
    const header = `Bearer ${token}`;
    this.tokens.set(`${registry} ${scope}`, { header, expiresAt: Date.now() + seconds * 1000 - RENEW_EARLY_MS });
    return header;
  }
}
