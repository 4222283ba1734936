// Turns the `authorization` metadata of a call into a principal, or refuses it.
// Reads the key's record on every call (no cache), so a revocation or an
// expiry takes effect on the key's next call, on every coordinator. Every
// refusal, of the key or of its role, writes exactly one audit line.
import { PermissionDeniedError, UnauthenticatedError, type Logger } from '@latentfarm/common';
import type { Principal } from '../farm/principal.js';
import { checkAccess } from './access.js';
import type { IdentityStore, KeyRecord } from '../store/identity.js';
import { parseKey, secretMatches } from './keys.js';

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export class Authenticator {
  constructor(private readonly store: IdentityStore, private readonly audit: Logger) {}

  /**
   * The principal of a key that may call `context.method` (`/package.Service/Method`). Throws
   * UnauthenticatedError (a bad key) or PermissionDeniedError (a role that may not call that service).
   */
  async authorize(header: string | undefined, context: { method: string; peer: string }): Promise<Principal> {
    const principal = await this.authenticate(header, context);
    try {
      checkAccess(principal, context.method);
    } catch (err) {
      if (err instanceof PermissionDeniedError) {
        this.audit.warn({ audit: 'key_refused', reason: 'role', keyId: principal.keyId, role: principal.kind, method: context.method, peer: context.peer }, 'call refused: role may not call this');
      }
      throw err;
    }
    return principal;
  }

  /** `header`: the `authorization` metadata value (undefined when absent). Throws UnauthenticatedError. */
  async authenticate(header: string | undefined, context: { method: string; peer: string }): Promise<Principal> {
    const refuse = (reason: string, keyId?: string): never => this.refuse(reason, context, keyId);
    if (header === undefined || header === '') return refuse('no API key');
    const bearer = BEARER.exec(header);
    if (bearer === null) return refuse('the authorization metadata is not "Bearer <key>"');
    const parsed = parseKey(bearer[1] as string);
    if (parsed === undefined) return refuse('malformed API key');
    const record = await this.store.getKey(parsed.keyId);
    // An unknown id and a wrong secret read the same to the caller.
    if (record === undefined || !secretMatches(parsed.secret, record.hash)) return refuse('unknown API key', parsed.keyId);
    return this.valid(record, context);
  }

  /**
   * The principal of a key proven earlier (a console session holds its id, not
   * its secret), read again now, so a key revoked or expired since then is refused.
   */
  async authenticateKeyId(keyId: string, context: { method: string; peer: string }): Promise<Principal> {
    const record = await this.store.getKey(keyId);
    if (record === undefined) return this.refuse('unknown API key', context, keyId);
    return this.valid(record, context);
  }

  private valid(record: KeyRecord, context: { method: string; peer: string }): Principal {
    if (record.revokedUnixMs !== 0) return this.refuse('revoked API key', context, record.id);
    if (record.expiresUnixMs !== 0 && record.expiresUnixMs <= Date.now()) return this.refuse('expired API key', context, record.id);
    return principalOfKey(record);
  }

  private refuse(reason: string, context: { method: string; peer: string }, keyId?: string): never {
    // The key itself is never logged: only its id, which is not secret.
    this.audit.warn({ audit: 'key_refused', reason, keyId, method: context.method, peer: context.peer }, 'call refused: bad API key');
    throw new UnauthenticatedError(`${reason}: send a valid API key as "authorization: Bearer lf_…" (latentfarm --api-key or LATENTFARM_API_KEY)`);
  }
}

export function principalOfKey(k: KeyRecord): Principal {
  switch (k.role) {
    case 'admin': return { kind: 'admin', keyId: k.id };
    case 'tenant': return { kind: 'tenant', tenantId: k.tenantId, keyId: k.id };
    case 'worker': return { kind: 'worker', workerId: k.workerId, keyId: k.id };
  }
}
