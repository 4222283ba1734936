// Tenants and keys of the embedded store: their own tables in the embedded
// job store's database (<data-dir>/latentfarm.db), on its connection — the job
// store holds that file exclusively, so a second connection could not open it.
// Every write is one committed statement, so a key made or revoked survives a
// SIGKILL the moment the call returns.
import type Database from 'better-sqlite3';
import { tenantRecord, type IdentityStore, type KeyRecord, type Role, type SessionRecord, type TenantPatch, type TenantRecord } from './identity.js';

interface KeyRow {
  id: string;
  role: string;
  tenant_id: string;
  worker_id: string;
  hash: string;
  name: string;
  created_unix_ms: number;
  expires_unix_ms: number;
  revoked_unix_ms: number;
}

interface SessionRow {
  id: string;
  key_id: string;
  created_unix_ms: number;
  expires_unix_ms: number;
}

interface TenantRow {
  id: string;
  created_unix_ms: number;
  weight: number;
  max_queued_images: number;
  max_running_jobs: number;
  submits_per_minute: number;
}

/** Share and quota columns, added to a table made before they existed (0: the farm's default). */
const TENANT_QUOTA_COLUMNS = ['weight', 'max_queued_images', 'max_running_jobs', 'submits_per_minute'] as const;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS identity_tenants (
  id TEXT PRIMARY KEY,
  created_unix_ms INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS identity_keys (
  id TEXT PRIMARY KEY,
  role TEXT NOT NULL CHECK (role IN ('admin', 'tenant', 'worker')),
  tenant_id TEXT NOT NULL,
  worker_id TEXT NOT NULL,
  hash TEXT NOT NULL,
  name TEXT NOT NULL,
  created_unix_ms INTEGER NOT NULL,
  expires_unix_ms INTEGER NOT NULL,
  revoked_unix_ms INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS identity_sessions (
  id TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,
  created_unix_ms INTEGER NOT NULL,
  expires_unix_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS identity_sessions_by_expiry ON identity_sessions (expires_unix_ms);
`;

const toKey = (r: KeyRow): KeyRecord => ({
  id: r.id, role: r.role as Role, tenantId: r.tenant_id, workerId: r.worker_id, hash: r.hash, name: r.name,
  createdUnixMs: r.created_unix_ms, expiresUnixMs: r.expires_unix_ms, revokedUnixMs: r.revoked_unix_ms,
});

const toTenant = (r: TenantRow): TenantRecord => tenantRecord({
  id: r.id, createdUnixMs: r.created_unix_ms, weight: r.weight, maxQueuedImages: r.max_queued_images, maxRunningJobs: r.max_running_jobs,
  submitsPerMinute: r.submits_per_minute,
});

export class EmbeddedIdentityStore implements IdentityStore {
  /** `db`: the embedded job store's open database (EmbeddedStore.database), which it keeps and closes. */
  constructor(private readonly db: Database.Database) {
    db.exec(SCHEMA);
    const have = new Set((db.prepare('PRAGMA table_info(identity_tenants)').all() as { name: string }[]).map((c) => c.name));
    for (const c of TENANT_QUOTA_COLUMNS) if (!have.has(c)) db.exec(`ALTER TABLE identity_tenants ADD COLUMN ${c} INTEGER NOT NULL DEFAULT 0`);
  }

  createTenant(t: TenantRecord): Promise<boolean> {
    const r = this.db.prepare(`INSERT OR IGNORE INTO identity_tenants (id, created_unix_ms, weight, max_queued_images, max_running_jobs, submits_per_minute)
      VALUES (?, ?, ?, ?, ?, ?)`).run(t.id, t.createdUnixMs, t.weight, t.maxQueuedImages, t.maxRunningJobs, t.submitsPerMinute);
    return Promise.resolve(r.changes === 1);
  }

  getTenant(id: string): Promise<TenantRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM identity_tenants WHERE id = ?').get(id) as TenantRow | undefined;
    return Promise.resolve(row === undefined ? undefined : toTenant(row));
  }

  listTenants(): Promise<TenantRecord[]> {
    const rows = this.db.prepare('SELECT * FROM identity_tenants ORDER BY id').all() as TenantRow[];
    return Promise.resolve(rows.map(toTenant));
  }

  updateTenant(id: string, patch: TenantPatch): Promise<TenantRecord | undefined> {
    // One statement: COALESCE keeps a column the patch leaves out.
    this.db.prepare(`UPDATE identity_tenants SET weight = COALESCE(?, weight), max_queued_images = COALESCE(?, max_queued_images),
      max_running_jobs = COALESCE(?, max_running_jobs), submits_per_minute = COALESCE(?, submits_per_minute) WHERE id = ?`)
      .run(patch.weight ?? null, patch.maxQueuedImages ?? null, patch.maxRunningJobs ?? null, patch.submitsPerMinute ?? null, id);
    return this.getTenant(id);
  }

  createKey(k: KeyRecord): Promise<boolean> {
    const r = this.db.prepare(`INSERT OR IGNORE INTO identity_keys
      (id, role, tenant_id, worker_id, hash, name, created_unix_ms, expires_unix_ms, revoked_unix_ms)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(k.id, k.role, k.tenantId, k.workerId, k.hash, k.name, k.createdUnixMs, k.expiresUnixMs, k.revokedUnixMs);
    return Promise.resolve(r.changes === 1);
  }

  getKey(id: string): Promise<KeyRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM identity_keys WHERE id = ?').get(id) as KeyRow | undefined;
    return Promise.resolve(row === undefined ? undefined : toKey(row));
  }

  listKeys(): Promise<KeyRecord[]> {
    const rows = this.db.prepare('SELECT * FROM identity_keys ORDER BY created_unix_ms, id').all() as KeyRow[];
    return Promise.resolve(rows.map(toKey));
  }

  revokeKey(id: string, unixMs: number): Promise<KeyRecord | undefined> {
    this.db.prepare('UPDATE identity_keys SET revoked_unix_ms = ? WHERE id = ? AND revoked_unix_ms = 0').run(unixMs, id);
    return this.getKey(id);
  }

  createSession(x: SessionRecord, nowMs: number): Promise<void> {
    // Expired sessions go at each log-in, so the table stays as small as the live ones.
    this.db.prepare('DELETE FROM identity_sessions WHERE expires_unix_ms <= ?').run(nowMs);
    this.db.prepare('INSERT INTO identity_sessions (id, key_id, created_unix_ms, expires_unix_ms) VALUES (?, ?, ?, ?)')
      .run(x.id, x.keyId, x.createdUnixMs, x.expiresUnixMs);
    return Promise.resolve();
  }

  getSession(id: string): Promise<SessionRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM identity_sessions WHERE id = ?').get(id) as SessionRow | undefined;
    return Promise.resolve(row === undefined ? undefined : { id: row.id, keyId: row.key_id, createdUnixMs: row.created_unix_ms, expiresUnixMs: row.expires_unix_ms });
  }

  deleteSession(id: string): Promise<void> {
    this.db.prepare('DELETE FROM identity_sessions WHERE id = ?').run(id);
    return Promise.resolve();
  }

  /** The connection is the job store's: it closes it. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
