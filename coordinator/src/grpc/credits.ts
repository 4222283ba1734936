// Ledger accounts and entries as the proto carries them: units become credits.
import { CreditsEntryKind, type CreditsAccount, type CreditsEntry } from '@latentfarm/proto';
import { toCredits } from '../jobs/cost.js';
import type { Account, LedgerEntry } from '../ledger/ledger.js';

export function toCreditsAccount(a: Account): CreditsAccount {
  return {
    tenantId: a.tenantId, balance: toCredits(a.balance), granted: toCredits(a.granted), reserved: toCredits(a.reserved),
    settled: toCredits(a.settled), refunded: toCredits(a.refunded), open: toCredits(a.open), openJobs: a.openJobs,
  };
}

export function toCreditsEntry(e: LedgerEntry): CreditsEntry {
  const base = { sequence: e.seq, unixMs: e.unixMs, jobId: '', amount: 0, settled: 0, refunded: 0 };
  switch (e.kind) {
    case 'grant': return { ...base, kind: CreditsEntryKind.GRANT, amount: toCredits(e.amount) };
    case 'reserve': return { ...base, kind: CreditsEntryKind.RESERVE, jobId: e.jobId, amount: toCredits(e.amount) };
    case 'settle': return {
      ...base, kind: CreditsEntryKind.SETTLE, jobId: e.jobId, amount: toCredits(e.reserved), settled: toCredits(e.settled), refunded: toCredits(e.refunded),
    };
  }
}
