import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const SESSION_COOKIE = 'flotilla_ui';

/**
 * Who may use the page: whoever opened the printed URL first. Its token is good once and buys a session cookie
 * (HttpOnly: no script reads it; SameSite=Strict: no other site's page sends it).
 */
export class Access {
  readonly token = randomBytes(32).toString('base64url');
  private tokenUsed = false;
  private readonly sessions = new Set<string>();

  /** Trades the token for a new session ID; undefined when the token is wrong or was used already. */
  redeem(candidate: string): string | undefined {
    if (this.tokenUsed || !same(candidate, this.token)) return undefined;
    this.tokenUsed = true;
    const session = randomBytes(32).toString('base64url');
    this.sessions.add(session);
    return session;
  }

  /** Whether the request carries a session cookie this server gave. */
  allowed(request: IncomingMessage): boolean {
    const presented = cookie(request, SESSION_COOKIE);
    if (!presented) return false;
    let ok = false;
    // Compared with every session in constant time, not looked up: no timing tells how close a guess came.
    for (const session of this.sessions) ok = same(presented, session) || ok;
    return ok;
  }

  static setCookie(session: string): string {
    return `${SESSION_COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/`;
  }
}

/** Equal strings, compared in constant time (of their digests: the lengths need not match). */
function same(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

function cookie(request: IncomingMessage, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
