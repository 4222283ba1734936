// One admin action, one audit line, whatever its outcome: the caller must be
// an admin, and `outcome` is `ok` or the kind of error that ended the action
// (`permission_denied`, `invalid_argument`, `not_found`, …). Used by every
// admin action (tenants and keys in admin.ts, credit grants in farm/credits.ts).
import { errorKind, PermissionDeniedError, type Logger } from '@latentfarm/common';
import type { Principal } from '../farm/principal.js';

/** Audit lines quote the caller's input cut to this (ids are bounded anyway; a refused one may not be). */
export const AUDIT_ECHO_CHARS = 70;

export type AuditFields = Record<string, string | number | undefined>;

/**
 * Runs `run` as `action` for `principal`, and logs `fields` (what was asked) plus `result`'s (what was made);
 * a caller that is not an admin is refused with `denied`.
 */
export async function auditedAdminAction<T>(
  audit: Logger, principal: Principal, action: string, fields: AuditFields, run: () => Promise<T>,
  result: (r: T) => AuditFields = () => ({}), denied = `${action} needs an admin key`,
): Promise<T> {
  try {
    if (principal.kind !== 'admin') throw new PermissionDeniedError(denied);
    const r = await run();
    audit.info({ audit: action, outcome: 'ok', by: principal.keyId, ...fields, ...result(r) }, `admin action ${action}: ok`);
    return r;
  } catch (err) {
    const outcome = errorKind(err);
    audit.warn({
      audit: action, outcome, by: principal.keyId, role: principal.kind, ...fields,
      error: err instanceof Error ? err.message.slice(0, 2 * AUDIT_ECHO_CHARS) : undefined,
    }, `admin action ${action}: ${outcome}`);
    throw err;
  }
}
