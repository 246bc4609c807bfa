import { Code, FlotillaError } from '@flotilla/api';
import {
  describeNetworkError,
  discard,
  type HttpRequest,
  type HttpResponse,
  type HttpTransport,
  isCertificateError,
  readBody,
} from './http-transport.js';
import { DOCKER_HUB, type ImageReference, isLoopback } from './image-reference.js';
import type { RegistryAuth } from './registry-auth.js';
import { normalizeRegistryKey } from './registry-credentials.js';

export interface RegistryRequest {
  method: HttpRequest['method'];
  /** A path on the registry (`/v2/…`), or an absolute URL the registry handed out (an upload location). */
  target: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** Ask for a push token (pull,push) rather than a pull one. */
  push?: boolean;
  signal?: AbortSignal | undefined;
}

const MAX_ERROR_BODY = 64 * 1024;

/**
 * One registry request with the parts every call needs: the scheme (HTTPS, or plain HTTP for insecure and
 * loopback registries), the auth challenge-and-retry, and HTTP failures turned into FlotillaErrors.
 */
export class RegistryHttp {
  private readonly schemes = new Map<string, 'https' | 'http'>();
  private readonly insecure: Set<string>;

  constructor(
    private readonly transport: HttpTransport,
    private readonly auth: RegistryAuth,
    insecureRegistries: readonly string[],
  ) {
    this.insecure = new Set(insecureRegistries.map(normalizeRegistryKey));
  }

  async request(ref: ImageReference, req: RegistryRequest): Promise<HttpResponse> {
    const scope = `repository:${ref.repository}:${req.push ? 'pull,push' : 'pull'}`;
    const headers = { ...req.headers };
    const known = this.auth.header(ref.registry, scope);
    if (known) headers.authorization = known;
    let res = await this.send(ref.registry, req, headers);
    if (res.status === 401) {
      const challenge = res.headers['www-authenticate'];
      discard(res);
      headers.authorization = await this.auth.answer(ref.registry, scope, challenge, req.signal);
      res = await this.send(ref.registry, req, headers);
    }
    if (res.status === 401 || res.status === 403) {
      discard(res);
      throw this.auth.unauthorized(ref.registry, headers.authorization !== undefined, ref.repository);
    }
    return res;
  }

  /** The error for an unexpected answer, with the registry's own error code and message when it sent them. */
  async failure(res: HttpResponse, what: string, notFound: string): Promise<FlotillaError> {
    let detail = '';
    try {
      const body = await readBody(res, MAX_ERROR_BODY, 'error body');
      const errors = (JSON.parse(body.toString('utf8')) as { errors?: { code?: string; message?: string }[] }).errors;
      detail = (errors ?? [])
        .map((e) => [e.code, e.message].filter(Boolean).join(': '))
        .filter(Boolean)
        .join('; ');
    } catch {
      // No readable error body (not JSON, too large): the status alone says what failed.
      res.body.destroy();
    }
    const said = detail ? ` (${detail})` : '';
    if (res.status === 404)
      return new FlotillaError(Code.NotFound, `${what} was not found${said}: ${notFound}`, { reason: 'not-found' });
    if (res.status === 429 || res.status >= 500) {
      return new FlotillaError(
        Code.Unavailable,
        `${what}: the registry answered HTTP ${res.status}${said}; retry later`,
        { reason: 'unavailable' },
      );
    }
    if (res.status === 413) {
      return new FlotillaError(
        Code.ResourceExhausted,
        `${what}: the registry refused it as too large (HTTP 413)${said}`,
        { reason: 'too-large' },
      );
    }
    return new FlotillaError(
      Code.FailedPrecondition,
      `${what}: the registry refused the request with HTTP ${res.status}${said}; check the image and the registry's logs`,
      { reason: 'rejected' },
    );
  }

  private async send(registry: string, req: RegistryRequest, headers: Record<string, string>): Promise<HttpResponse> {
    const base = { method: req.method, headers, body: req.body, signal: req.signal };
    if (/^https?:\/\//i.test(req.target)) {
      const url = new URL(req.target);
      return this.attempt(registry, url.protocol === 'https:' ? 'https' : 'http', () =>
        this.transport.send({ ...base, url }),
      );
    }
    const at = (scheme: 'https' | 'http') => () =>
      this.transport.send({ ...base, url: new URL(`${scheme}://${apiHost(registry)}${req.target}`) });
    const known = this.schemes.get(registry);
    if (known) return this.attempt(registry, known, at(known));
    if (!this.allowsHttp(registry)) {
      const res = await this.attempt(registry, 'https', at('https'));
      this.schemes.set(registry, 'https');
      return res;
    }
    // Like Docker: an insecure or loopback registry is tried over HTTPS first and over plain HTTP if TLS fails.
    try {
      const res = await at('https')();
      this.schemes.set(registry, 'https');
      return res;
    } catch (err) {
      if (isCertificateError(err) || req.signal?.aborted) throw this.unreachable(registry, 'https', err);
      // Otherwise HTTP is tried next; if it fails too, that failure is the one reported.
    }
    const res = await this.attempt(registry, 'http', at('http'));
    this.schemes.set(registry, 'http');
    return res;
  }

  private async attempt(
    registry: string,
    scheme: 'https' | 'http',
    send: () => Promise<HttpResponse>,
  ): Promise<HttpResponse> {
    try {
      return await send();
    } catch (err) {
      throw this.unreachable(registry, scheme, err);
    }
  }

  private unreachable(registry: string, scheme: 'https' | 'http', err: unknown): FlotillaError {
    if (err instanceof FlotillaError) return err;
    const reason = describeNetworkError(err);
    if (isCertificateError(err)) {
      return new FlotillaError(
        Code.Unavailable,
        `the TLS certificate of registry ${registry} is not trusted (${reason}): give the client the registry's CA ` +
          'certificate (the ca option)',
        { cause: err, reason: 'unavailable' },
      );
    }
    const hint =
      scheme === 'https' && !this.allowsHttp(registry)
        ? `; if it serves plain HTTP, list "${registry}" as an insecure registry`
        : '';
    return new FlotillaError(
      Code.Unavailable,
      `cannot reach registry ${registry} over ${scheme} (${reason}): check the address and that it is running${hint}`,
      { cause: err, reason: 'unavailable' },
    );
  }

  private allowsHttp(registry: string): boolean {
    return this.insecure.has(normalizeRegistryKey(registry)) || isLoopback(registry);
  }
}

/** Docker Hub's API is not served on docker.io itself. */
function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? 'registry-1.docker.io' : registry;
}
