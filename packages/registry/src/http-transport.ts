import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Code, FlotillaError } from '@flotilla/api';

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT';
  url: URL;
  headers?: Record<string, string>;
  body?: Uint8Array;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body, not yet read: read it, or call `discard`, so the connection can be reused. */
  body: IncomingMessage;
  url: URL;
}

/**
 * HTTP(S) on node:http rather than fetch: it takes a CA per client (fetch needs an undici dispatcher, which Node
 * 20 does not expose), and its response is a Readable the blob verifier can stream without copying.
 */
export class HttpTransport {
  private readonly http: HttpAgent;
  private readonly https: HttpsAgent;

  constructor(private readonly options: { ca?: string | Buffer | undefined; timeoutMs: number; userAgent: string }) {
    this.http = new HttpAgent({ keepAlive: true });
    this.https = new HttpsAgent({ keepAlive: true, ca: options.ca });
  }

  send(req: HttpRequest): Promise<HttpResponse> {
    const secure = req.url.protocol === 'https:';
    const headers: Record<string, string> = { 'user-agent': this.options.userAgent, ...req.headers };
    if (req.body) headers['content-length'] = String(req.body.byteLength);
    return new Promise((resolve, reject) => {
      const request = (secure ? httpsRequest : httpRequest)(req.url, {
        method: req.method,
        headers,
        agent: secure ? this.https : this.http,
        signal: req.signal,
        timeout: this.options.timeoutMs,
      });
      // The socket timeout also covers a body that stops arriving half way.
      request.on('timeout', () => request.destroy(new TimeoutError(this.options.timeoutMs)));
      // `on`, not `once`: a timeout after the response still emits here, and must not go unhandled.
      request.on('error', reject);
      request.once('response', (body) =>
        resolve({ status: body.statusCode ?? 0, headers: body.headers, body, url: req.url }),
      );
      request.end(req.body ? Buffer.from(req.body.buffer, req.body.byteOffset, req.body.byteLength) : undefined);
    });
  }

  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

class TimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(ms: number) {
    super(`no data for ${ms} ms`);
  }
}

/** Reads a whole body, refusing more than `limit` bytes (a registry must not make the agent buffer without bound). */
export async function readBody(res: HttpResponse, limit: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    res.body.destroy();
    throw tooLarge(what, limit);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > limit) {
        res.body.destroy();
        throw tooLarge(what, limit);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    throw brokenOff(err, what);
  }
  return Buffer.concat(chunks);
}

/** Drains a body the caller has no use for, keeping the keep-alive connection usable. */
export function discard(res: HttpResponse): void {
  res.body.resume();
}

/** A body that stopped arriving (connection reset, timeout) as a FlotillaError; FlotillaErrors pass through. */
export function brokenOff(err: unknown, what: string): FlotillaError {
  if (err instanceof FlotillaError) return err;
  return new FlotillaError(Code.Unavailable, `${what} broke off (${describeNetworkError(err)}): retry`, {
    cause: err,
    reason: 'unavailable',
  });
}

function tooLarge(what: string, limit: number): FlotillaError {
  return new FlotillaError(
    Code.ResourceExhausted,
    `${what} is larger than ${limit} bytes, more than this client accepts: check that the registry address is right`,
    { reason: 'too-large' },
  );
}

// Certificate problems are not a reason to fall back to plain HTTP: the server speaks TLS, the client just does
// not trust it, and saying so is the useful answer.
const CERTIFICATE_ERRORS = /CERT|SELF_SIGNED|UNABLE_TO_|ALTNAME|HOSTNAME/;

export function isCertificateError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && CERTIFICATE_ERRORS.test(code);
}

/** The error code of a failed connection (ECONNREFUSED, EPROTO …) or the message, for error texts. */
export function describeNetworkError(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}
