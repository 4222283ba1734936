// The embedded ledger: the contract, and that it survives a restart.
import { describe, expect, it } from 'vitest';
import { tempDir } from '@latentfarm/testkit';
import { EmbeddedStore } from '../store/embedded.js';
import { EmbeddedLedger } from './ledger-embedded.js';
import { describeLedgerContract } from './ledger.contract.js';

/** The ledger tables live in the job store's database: opened as the coordinator opens them. */
function openLedger(path: string): EmbeddedLedger & { closeAll(): Promise<void> } {
  const jobs = new EmbeddedStore(path);
  return Object.assign(new EmbeddedLedger(jobs.database), { closeAll: () => jobs.close() });
}

describeLedgerContract('embedded', async () => {
  const dir = await tempDir();
  const ledger = openLedger(dir.path);
  return { ledger, close: async () => { await ledger.closeAll(); await dir.remove(); } };
});

describe('embedded ledger on disk', () => {
  it('keeps accounts, entries and open reservations across a reopen', async () => {
    const dir = await tempDir();
    try {
      const a = openLedger(dir.path);
      await a.grant('acme', 100, 1);
      await a.reserve({ tenantId: 'acme', jobId: 'j1', amount: 40, multiplier: 1.5, unixMs: 2 });
      await a.closeAll();
      const b = openLedger(dir.path);
      expect(await b.account('acme')).toMatchObject({ granted: 100, open: 40, balance: 60 });
      expect(await b.openReservations()).toEqual([{ tenantId: 'acme', jobId: 'j1', amount: 40, multiplier: 1.5, unixMs: 2 }]);
      expect(await b.entries('acme', 0, 10)).toHaveLength(2);
      await b.closeAll();
    } finally {
      await dir.remove();
    }
  });
});
