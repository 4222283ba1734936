// Console log-in: an API key, checked by the coordinator's own key check, is
// exchanged for a random session token sent back as an HttpOnly,
// SameSite=Strict cookie; the key itself never reaches the browser's storage.
// The session lives in the identity store (only the token's SHA-256), so every
// coordinator of the farm honours it and it outlives a restart; each request
// reads the key it came from again, so revoking the key ends the session on
// its next request, as it does for gRPC. Sessions expire after a fixed time;
// logging out ends one at once.
import { createHash, randomBytes } from 'node:crypto';
import { UnauthenticatedError } from '@latentfarm/common';
import type { Principal } from '../farm/principal.js';
import type { IdentityStore } from '../store/identity.js';

/** What the console needs of the coordinator's key check (auth/authenticator.ts). */
export interface KeyCheck {
  /** The principal a bearer key stands for; rejects a key it does not know. */
  authenticate(bearerKey: string): Promise<Principal>;
  /** The principal of a key by id, now: rejects one revoked or expired since the log-in. */
  authenticateKeyId(keyId: string): Promise<Principal>;
}

export const SESSION_COOKIE = 'latentfarm_session';

const sessionId = (token: string): string => createHash('sha256').update(token).digest('hex');

export class Sessions {
  constructor(
    private readonly store: Pick<IdentityStore, 'createSession' | 'getSession' | 'deleteSession'>,
    private readonly keys: Pick<KeyCheck, 'authenticateKeyId'>,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async open(principal: Principal): Promise<{ token: string; maxAgeS: number }> {
    const token = randomBytes(32).toString('base64url');
    const now = this.now();
    await this.store.createSession({ id: sessionId(token), keyId: principal.keyId, createdUnixMs: now, expiresUnixMs: now + this.ttlMs }, now);
    return { token, maxAgeS: Math.floor(this.ttlMs / 1000) };
  }

  /** The session's principal as its key stands now; undefined for an unknown or expired token, or a key no longer valid. */
  async principal(token: string | undefined): Promise<Principal | undefined> {
    if (token === undefined || token === '') return undefined;
    const id = sessionId(token);
    const s = await this.store.getSession(id);
    if (s === undefined) return undefined;
    if (s.expiresUnixMs <= this.now()) {
      await this.store.deleteSession(id);
      return undefined;
    }
    try {
      return await this.keys.authenticateKeyId(s.keyId);
    } catch (err) {
      if (!(err instanceof UnauthenticatedError)) throw err;
      await this.store.deleteSession(id);
      return undefined;
    }
  }

  async close(token: string | undefined): Promise<void> {
    if (token !== undefined && token !== '') await this.store.deleteSession(sessionId(token));
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
