// Console log-in: an API key, checked once by the coordinator's own key check
// (`Authenticate`, passed in), is exchanged for a random session token kept
// only in this process and sent back as an HttpOnly, SameSite=Strict cookie.
// The key itself is never stored in the browser. Sessions expire after a
// fixed time; logging out ends one at once.
import { randomBytes } from 'node:crypto';
import type { Principal } from '../farm/principal.js';

/** The coordinator's key check: the principal a bearer key stands for; rejects a key it does not know. */
export type Authenticate = (bearerKey: string) => Promise<Principal>;

export const SESSION_COOKIE = 'latentfarm_session';

interface Session {
  readonly principal: Principal;
  readonly expiresMs: number;
}

export class Sessions {
  private readonly byToken = new Map<string, Session>();

  constructor(private readonly ttlMs: number, private readonly now: () => number = Date.now) {}

  open(principal: Principal): { token: string; maxAgeS: number } {
    this.sweep();
    const token = randomBytes(32).toString('base64url');
    this.byToken.set(token, { principal, expiresMs: this.now() + this.ttlMs });
    return { token, maxAgeS: Math.floor(this.ttlMs / 1000) };
  }

  /** The session's principal; undefined for an unknown or expired token. */
  principal(token: string | undefined): Principal | undefined {
    if (token === undefined) return undefined;
    const s = this.byToken.get(token);
    if (s === undefined) return undefined;
    if (s.expiresMs <= this.now()) {
      this.byToken.delete(token);
      return undefined;
    }
    return s.principal;
  }

  close(token: string | undefined): void {
    if (token !== undefined) this.byToken.delete(token);
  }

  /** Expired sessions are dropped at each log-in, so a busy console's map stays as small as its live sessions. */
  private sweep(): void {
    const now = this.now();
    for (const [t, s] of this.byToken) if (s.expiresMs <= now) this.byToken.delete(t);
  }
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

export function sessionCookie(token: string, maxAgeS: number): string {
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}`;
}

export const clearedSessionCookie = `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
