// Where tenants and API keys live: beside the jobs, in the same kind of store
// (embedded: tables of <data-dir>/latentfarm.db; JetStream: a KV bucket), so
// every coordinator of a farm sees the same keys and a revocation reaches all
// of them on their next call. One contract suite (identity.contract.ts) runs
// against both.

export type Role = 'admin' | 'tenant' | 'worker';
export const ROLES: readonly Role[] = ['admin', 'tenant', 'worker'];

export interface TenantRecord {
  /** Chosen by the admin: lowercase letters, digits and '-', 1–63 characters. */
  id: string;
  createdUnixMs: number;
  // Its share and quotas (quota/tenant-limits.ts); 0: the farm's default (the --tenant-* flags).
  /** Stride weight beside other tenants. */
  weight: number;
  /** Images submitted and not yet finished. */
  maxQueuedImages: number;
  /** Unfinished jobs. */
  maxRunningJobs: number;
  submitsPerMinute: number;
}

/** What an update may change; an absent field keeps its value. */
export type TenantPatch = { [K in 'weight' | 'maxQueuedImages' | 'maxRunningJobs' | 'submitsPerMinute']?: number | undefined };

/** The fields a record from before quotas existed lacks read as 0 (the defaults). */
export function tenantRecord(t: TenantPatch & Pick<TenantRecord, 'id' | 'createdUnixMs'>): TenantRecord {
  return {
    id: t.id, createdUnixMs: t.createdUnixMs, weight: t.weight ?? 0, maxQueuedImages: t.maxQueuedImages ?? 0,
    maxRunningJobs: t.maxRunningJobs ?? 0, submitsPerMinute: t.submitsPerMinute ?? 0,
  };
}

export interface KeyRecord {
  /** The non-secret part of the key, `lf_<id>_…`. */
  id: string;
  role: Role;
  /** The tenant a tenant key acts for; '' for the other roles. */
  tenantId: string;
  /** The one worker id a worker key may connect as; '' for the other roles. */
  workerId: string;
  /** SHA-256 of the key's secret, hex; the key itself is stored nowhere. */
  hash: string;
  /** A label for people (`ci`, `alice's laptop`). */
  name: string;
  createdUnixMs: number;
  /** 0: never expires. */
  expiresUnixMs: number;
  /** 0: not revoked. */
  revokedUnixMs: number;
}

/**
 * A console log-in (http/sessions.ts). Kept in the store, so every coordinator
 * of a farm knows it and it outlives a restart; the key it came from is read
 * again on every request, so revoking that key ends the session too.
 */
export interface SessionRecord {
  /** SHA-256 of the session token, hex: the cookie's value is stored nowhere. */
  id: string;
  /** The API key that logged in. */
  keyId: string;
  createdUnixMs: number;
  expiresUnixMs: number;
}

/** The longest a console session may last: the JetStream bucket drops older entries whatever they say. */
export const MAX_SESSION_TTL_MS = 30 * 24 * 3600 * 1000;

export interface IdentityStore {
  /** False when a tenant of that id exists already. */
  createTenant(tenant: TenantRecord): Promise<boolean>;
  getTenant(id: string): Promise<TenantRecord | undefined>;
  listTenants(): Promise<TenantRecord[]>;
  /** Applies `patch` (atomically, also beside another coordinator's update); undefined when there is no such tenant. */
  updateTenant(id: string, patch: TenantPatch): Promise<TenantRecord | undefined>;
  /** False when a key of that id exists already. */
  createKey(key: KeyRecord): Promise<boolean>;
  getKey(id: string): Promise<KeyRecord | undefined>;
  listKeys(): Promise<KeyRecord[]>;
  /** Marks the key revoked (once: a second revoke keeps the first time); undefined when there is no such key. */
  revokeKey(id: string, unixMs: number): Promise<KeyRecord | undefined>;
  /** Stores a new session; sessions expired by `nowMs` may be dropped on the way. */
  createSession(session: SessionRecord, nowMs: number): Promise<void>;
  getSession(id: string): Promise<SessionRecord | undefined>;
  /** Ends a session at once (log-out); an unknown id does nothing. */
  deleteSession(id: string): Promise<void>;
  close(): Promise<void>;
}
