// The credits ledger: what each tenant was granted, reserved for its jobs,
// and settled or had refunded when they ended. Append-only entries in the
// store (embedded: tables of <data-dir>/latentfarm.db; JetStream: one subject
// per tenant in a stream), one contract suite (ledger.contract.ts) for both.
//
// Amounts are integer micro-credits ("units", jobs/cost.ts): sums of integers
// are exact, so reserved = settled + refunded holds to the unit.
//
// A job's credits move twice: `reserve` at submit (refused, atomically, when
// the balance does not cover it) and `settle` once when it ends (settled: its
// succeeded images; the rest is refunded). Both are atomic with the account's
// totals and the set of open reservations, so a crash between any two calls
// leaves the ledger balanced: a reservation is open or closed, never half.

export type LedgerEntry =
  | { seq: number; unixMs: number; tenantId: string; kind: 'grant'; amount: number }
  | { seq: number; unixMs: number; tenantId: string; kind: 'reserve'; jobId: string; amount: number }
  | { seq: number; unixMs: number; tenantId: string; kind: 'settle'; jobId: string; reserved: number; settled: number; refunded: number };

/** A tenant's totals, in units. balance = granted − settled − open = granted − reserved + refunded. */
export interface Account {
  tenantId: string;
  granted: number;
  /** Every reservation ever made. */
  reserved: number;
  settled: number;
  refunded: number;
  /** Reservations not yet settled. */
  open: number;
  openJobs: number;
  balance: number;
}

export interface OpenReservation {
  tenantId: string;
  jobId: string;
  amount: number;
  /** The job's price multiplier when it was reserved: its images settle at that price. */
  multiplier: number;
  unixMs: number;
}

export type ReserveOutcome =
  | { ok: true; account: Account }
  /** Nothing was written: the balance is `balance`, `shortfall` short. */
  | { ok: false; balance: number; shortfall: number }
  /** Nothing was written: the tenant has this many reservations open already (JetStream bounds the set). */
  | { ok: false; tooManyOpen: number };

/**
 * A grant's outcome. A grant with a request id that names one of the tenant's last REMEMBERED_GRANT_IDS grants
 * writes nothing: it returns the account as it is and the amount that earlier grant gave.
 */
export type GrantOutcome =
  | { granted: true; account: Account }
  | { granted: false; account: Account; earlierAmount: number };

/** Request ids of grants each tenant's account remembers, newest first (at least; the embedded store keeps all). */
export const REMEMBERED_GRANT_IDS = 64;

export interface Ledger {
  /** Grants `amount`; with a `requestId` (unset or '' for none) seen before for this tenant, grants nothing (GrantOutcome). */
  grant(tenantId: string, amount: number, unixMs: number, requestId?: string): Promise<GrantOutcome>;
  /** Reserves `amount` for `jobId` if the balance covers it, in one atomic step; a job reserved before throws. */
  reserve(r: OpenReservation): Promise<ReserveOutcome>;
  /**
   * Closes the job's reservation once: `settled` (capped at the reservation) is charged, the rest refunded.
   * Undefined when it is not open (settled before, or never reserved): a second settle changes nothing.
   */
  settle(tenantId: string, jobId: string, settled: number, unixMs: number): Promise<Extract<LedgerEntry, { kind: 'settle' }> | undefined>;
  account(tenantId: string): Promise<Account>;
  /** The reservation of a job while it is open. */
  reservation(tenantId: string, jobId: string): Promise<OpenReservation | undefined>;
  /** Entries newest first, seq < `before` (0: from the newest), at most `limit`. */
  entries(tenantId: string, before: number, limit: number): Promise<LedgerEntry[]>;
  /** Every open reservation of every tenant (for the reconciler). */
  openReservations(): Promise<OpenReservation[]>;
  close(): Promise<void>;
}

export function emptyAccount(tenantId: string): Account {
  return { tenantId, granted: 0, reserved: 0, settled: 0, refunded: 0, open: 0, openJobs: 0, balance: 0 };
}

/** The account after `e`: the one arithmetic both stores share. */
export function applyEntry(a: Account, e: { kind: 'grant'; amount: number } | { kind: 'reserve'; amount: number } | { kind: 'settle'; reserved: number; settled: number; refunded: number }): Account {
  switch (e.kind) {
    case 'grant': return { ...a, granted: a.granted + e.amount, balance: a.balance + e.amount };
    case 'reserve': return { ...a, reserved: a.reserved + e.amount, open: a.open + e.amount, openJobs: a.openJobs + 1, balance: a.balance - e.amount };
    case 'settle': return {
      ...a, settled: a.settled + e.settled, refunded: a.refunded + e.refunded, open: a.open - e.reserved, openJobs: a.openJobs - 1, balance: a.balance + e.refunded,
    };
  }
}

/** What settling a reservation of `reserved` with `settled` charged writes: never more than was reserved. */
export function settlement(reserved: number, settled: number): { reserved: number; settled: number; refunded: number } {
  const s = Math.max(0, Math.min(reserved, Math.round(settled)));
  return { reserved, settled: s, refunded: reserved - s };
}
