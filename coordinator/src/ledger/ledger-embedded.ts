// The ledger of the embedded store: tables in the job store's database
// (<data-dir>/latentfarm.db), on its connection. Each grant, reserve and
// settle is one SQLite transaction over the entry, the account's totals and
// the open reservations (and a grant's request id), so a SIGKILL leaves each
// whole or absent; better-sqlite3 runs a transaction synchronously, so
// concurrent submits of one tenant are serialized and can never overspend.
import type Database from 'better-sqlite3';
import {
  applyEntry, emptyAccount, settlement, type Account, type GrantOutcome, type Ledger, type LedgerEntry, type OpenReservation, type ReserveOutcome,
} from './ledger.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS ledger_entries (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('grant', 'reserve', 'settle')),
  job_id TEXT NOT NULL,
  amount INTEGER NOT NULL,
  settled INTEGER NOT NULL,
  refunded INTEGER NOT NULL,
  unix_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS ledger_entries_tenant ON ledger_entries (tenant_id, seq);
CREATE TABLE IF NOT EXISTS ledger_accounts (
  tenant_id TEXT PRIMARY KEY,
  granted INTEGER NOT NULL,
  reserved INTEGER NOT NULL,
  settled INTEGER NOT NULL,
  refunded INTEGER NOT NULL,
  open INTEGER NOT NULL,
  open_jobs INTEGER NOT NULL,
  balance INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS ledger_grant_ids (
  tenant_id TEXT NOT NULL,
  request_id TEXT NOT NULL,
  amount INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, request_id)
) STRICT;
CREATE TABLE IF NOT EXISTS ledger_open (
  job_id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  amount INTEGER NOT NULL,
  multiplier REAL NOT NULL,
  unix_ms INTEGER NOT NULL
) STRICT;
`;

interface EntryRow { seq: number; tenant_id: string; kind: string; job_id: string; amount: number; settled: number; refunded: number; unix_ms: number }
interface AccountRow { tenant_id: string; granted: number; reserved: number; settled: number; refunded: number; open: number; open_jobs: number; balance: number }
interface OpenRow { job_id: string; tenant_id: string; amount: number; multiplier: number; unix_ms: number }

const toOpen = (r: OpenRow): OpenReservation => ({ tenantId: r.tenant_id, jobId: r.job_id, amount: r.amount, multiplier: r.multiplier, unixMs: r.unix_ms });

function toEntry(r: EntryRow): LedgerEntry {
  const base = { seq: r.seq, unixMs: r.unix_ms, tenantId: r.tenant_id };
  if (r.kind === 'grant') return { ...base, kind: 'grant', amount: r.amount };
  if (r.kind === 'reserve') return { ...base, kind: 'reserve', jobId: r.job_id, amount: r.amount };
  return { ...base, kind: 'settle', jobId: r.job_id, reserved: r.amount, settled: r.settled, refunded: r.refunded };
}

export class EmbeddedLedger implements Ledger {
  /** `db`: the embedded job store's open database (EmbeddedStore.database), which it keeps and closes. */
  constructor(private readonly db: Database.Database) {
    db.exec(SCHEMA);
  }

  private readAccount(tenantId: string): Account {
    const r = this.db.prepare('SELECT * FROM ledger_accounts WHERE tenant_id = ?').get(tenantId) as AccountRow | undefined;
    if (r === undefined) return emptyAccount(tenantId);
    return {
      tenantId, granted: r.granted, reserved: r.reserved, settled: r.settled, refunded: r.refunded, open: r.open, openJobs: r.open_jobs, balance: r.balance,
    };
  }

  private writeAccount(a: Account): void {
    this.db.prepare(`INSERT INTO ledger_accounts (tenant_id, granted, reserved, settled, refunded, open, open_jobs, balance)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id) DO UPDATE SET granted = excluded.granted, reserved = excluded.reserved,
      settled = excluded.settled, refunded = excluded.refunded, open = excluded.open, open_jobs = excluded.open_jobs, balance = excluded.balance`)
      .run(a.tenantId, a.granted, a.reserved, a.settled, a.refunded, a.open, a.openJobs, a.balance);
  }

  private append(tenantId: string, kind: string, jobId: string, amount: number, settled: number, refunded: number, unixMs: number): number {
    const r = this.db.prepare('INSERT INTO ledger_entries (tenant_id, kind, job_id, amount, settled, refunded, unix_ms) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(tenantId, kind, jobId, amount, settled, refunded, unixMs);
    return Number(r.lastInsertRowid);
  }

  async grant(tenantId: string, amount: number, unixMs: number, requestId = ''): Promise<GrantOutcome> {
    return this.db.transaction((): GrantOutcome => {
      if (requestId !== '') {
        const earlier = this.db.prepare('SELECT amount FROM ledger_grant_ids WHERE tenant_id = ? AND request_id = ?').get(tenantId, requestId) as { amount: number } | undefined;
        if (earlier !== undefined) return { granted: false, account: this.readAccount(tenantId), earlierAmount: earlier.amount };
        this.db.prepare('INSERT INTO ledger_grant_ids (tenant_id, request_id, amount) VALUES (?, ?, ?)').run(tenantId, requestId, amount);
      }
      const a = applyEntry(this.readAccount(tenantId), { kind: 'grant', amount });
      this.append(tenantId, 'grant', '', amount, 0, 0, unixMs);
      this.writeAccount(a);
      return { granted: true, account: a };
    }).immediate();
  }

  async reserve(r: OpenReservation): Promise<ReserveOutcome> {
    return this.db.transaction((): ReserveOutcome => {
      const before = this.readAccount(r.tenantId);
      if (before.balance < r.amount) return { ok: false, balance: before.balance, shortfall: r.amount - before.balance };
      // The primary key refuses a second reservation of the same job (the transaction rolls back whole).
      this.db.prepare('INSERT INTO ledger_open (job_id, tenant_id, amount, multiplier, unix_ms) VALUES (?, ?, ?, ?, ?)')
        .run(r.jobId, r.tenantId, r.amount, r.multiplier, r.unixMs);
      const a = applyEntry(before, { kind: 'reserve', amount: r.amount });
      this.append(r.tenantId, 'reserve', r.jobId, r.amount, 0, 0, r.unixMs);
      this.writeAccount(a);
      return { ok: true, account: a };
    }).immediate();
  }

  async settle(tenantId: string, jobId: string, settled: number, unixMs: number): Promise<Extract<LedgerEntry, { kind: 'settle' }> | undefined> {
    return this.db.transaction(() => {
      const open = this.db.prepare('SELECT * FROM ledger_open WHERE job_id = ? AND tenant_id = ?').get(jobId, tenantId) as OpenRow | undefined;
      if (open === undefined) return undefined;
      this.db.prepare('DELETE FROM ledger_open WHERE job_id = ?').run(jobId);
      const s = settlement(open.amount, settled);
      const seq = this.append(tenantId, 'settle', jobId, s.reserved, s.settled, s.refunded, unixMs);
      this.writeAccount(applyEntry(this.readAccount(tenantId), { kind: 'settle', ...s }));
      return { seq, unixMs, tenantId, kind: 'settle' as const, jobId, ...s };
    }).immediate();
  }

  account(tenantId: string): Promise<Account> {
    return Promise.resolve(this.readAccount(tenantId));
  }

  reservation(tenantId: string, jobId: string): Promise<OpenReservation | undefined> {
    const r = this.db.prepare('SELECT * FROM ledger_open WHERE job_id = ? AND tenant_id = ?').get(jobId, tenantId) as OpenRow | undefined;
    return Promise.resolve(r === undefined ? undefined : toOpen(r));
  }

  entries(tenantId: string, before: number, limit: number): Promise<LedgerEntry[]> {
    const rows = this.db.prepare('SELECT * FROM ledger_entries WHERE tenant_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?')
      .all(tenantId, before <= 0 ? Number.MAX_SAFE_INTEGER : before, limit) as EntryRow[];
    return Promise.resolve(rows.map(toEntry));
  }

  openReservations(): Promise<OpenReservation[]> {
    return Promise.resolve((this.db.prepare('SELECT * FROM ledger_open ORDER BY unix_ms').all() as OpenRow[]).map(toOpen));
  }

  /** The connection is the job store's: it closes it. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
