// The contract every Ledger keeps, run against the embedded and the JetStream
// store (ledger-embedded.test.ts, ledger-jetstream.test.ts).
import { describe, expect, it } from 'vitest';
import { REMEMBERED_GRANT_IDS, type Account, type Ledger, type OpenReservation } from './ledger.js';

const reservation = (jobId: string, amount: number, o: Partial<OpenReservation> = {}): OpenReservation => ({
  tenantId: 'acme', jobId, amount, multiplier: 1, unixMs: Date.now(), ...o,
});

/** The invariant every account keeps after every step. */
export function expectBalanced(a: Account): void {
  expect(a.balance).toBe(a.granted - a.settled - a.open);
  expect(a.balance).toBe(a.granted - a.reserved + a.refunded);
  expect(a.reserved).toBe(a.settled + a.refunded + a.open);
}

export function describeLedgerContract(name: string, open: () => Promise<{ ledger: Ledger; close(): Promise<void> }>): void {
  const withLedger = async (fn: (l: Ledger) => Promise<void>) => {
    const { ledger, close } = await open();
    try {
      await fn(ledger);
    } finally {
      await close();
    }
  };

  describe(`ledger contract: ${name}`, () => {
    it('an account nobody touched is empty', () => withLedger(async (l) => {
      expect(await l.account('nobody')).toEqual({ tenantId: 'nobody', granted: 0, reserved: 0, settled: 0, refunded: 0, open: 0, openJobs: 0, balance: 0 });
      expect(await l.entries('nobody', 0, 10)).toEqual([]);
      expect(await l.openReservations()).toEqual([]);
    }));

    it('reserves what the balance covers, refuses the rest with the shortfall and writes nothing for it', () => withLedger(async (l) => {
      await l.grant('acme', 100, 1);
      const ok = await l.reserve(reservation('j1', 60));
      expect(ok).toMatchObject({ ok: true, account: { balance: 40, open: 60, openJobs: 1 } });
      expect(await l.reserve(reservation('j2', 70))).toEqual({ ok: false, balance: 40, shortfall: 30 });
      const a = await l.account('acme');
      expect(a).toMatchObject({ granted: 100, reserved: 60, open: 60, openJobs: 1, balance: 40 });
      expectBalanced(a);
      expect((await l.entries('acme', 0, 10)).map((e) => e.kind)).toEqual(['reserve', 'grant']);
      expect(await l.reservation('acme', 'j1')).toMatchObject({ tenantId: 'acme', jobId: 'j1', amount: 60 });
      expect(await l.reservation('acme', 'j2')).toBeUndefined();
      // Another tenant's account is its own.
      expect((await l.account('other')).balance).toBe(0);
    }));

    it('refuses a second reservation of the same job', () => withLedger(async (l) => {
      await l.grant('acme', 100, 1);
      await l.reserve(reservation('j1', 10));
      await expect(l.reserve(reservation('j1', 10))).rejects.toThrow();
      expect(await l.account('acme')).toMatchObject({ reserved: 10, openJobs: 1 });
    }));

    it('settles a reservation once: settled charged, the rest refunded; a second settle changes nothing', () => withLedger(async (l) => {
      await l.grant('acme', 100, 1);
      await l.reserve(reservation('j1', 60));
      const s = await l.settle('acme', 'j1', 25, 5);
      expect(s).toMatchObject({ kind: 'settle', jobId: 'j1', reserved: 60, settled: 25, refunded: 35 });
      expect(await l.settle('acme', 'j1', 60, 6)).toBeUndefined();
      expect(await l.settle('acme', 'never-reserved', 1, 6)).toBeUndefined();
      // Another tenant cannot close acme's reservation.
      await l.reserve(reservation('j2', 10));
      expect(await l.settle('other', 'j2', 10, 7)).toBeUndefined();
      const a = await l.account('acme');
      expect(a).toMatchObject({ granted: 100, reserved: 70, settled: 25, refunded: 35, open: 10, openJobs: 1, balance: 65 });
      expectBalanced(a);
      expect(await l.reservation('acme', 'j1')).toBeUndefined();
      expect((await l.openReservations()).map((r) => r.jobId)).toEqual(['j2']);
    }));

    it('never settles more than was reserved', () => withLedger(async (l) => {
      await l.grant('acme', 100, 1);
      await l.reserve(reservation('j1', 30));
      expect(await l.settle('acme', 'j1', 45, 2)).toMatchObject({ reserved: 30, settled: 30, refunded: 0 });
      expectBalanced(await l.account('acme'));
    }));

    it('pages entries newest first', () => withLedger(async (l) => {
      for (let i = 1; i <= 5; i++) await l.grant('acme', i, i);
      const first = await l.entries('acme', 0, 2);
      expect(first.map((e) => (e.kind === 'grant' ? e.amount : -1))).toEqual([5, 4]);
      const second = await l.entries('acme', first.at(-1)!.seq, 2);
      expect(second.map((e) => (e.kind === 'grant' ? e.amount : -1))).toEqual([3, 2]);
      const third = await l.entries('acme', second.at(-1)!.seq, 2);
      expect(third.map((e) => (e.kind === 'grant' ? e.amount : -1))).toEqual([1]);
      expect(await l.entries('acme', third.at(-1)!.seq, 2)).toEqual([]);
    }));

    it('makes a grant with a request id once per tenant, remembering the last ids across other entries', () => withLedger(async (l) => {
      expect(await l.grant('acme', 100, 1, 'r0')).toMatchObject({ granted: true, account: { granted: 100, balance: 100 } });
      await l.reserve(reservation('j1', 30));
      // Sent again (its answer lost): nothing is written, the account is as it is now, with what the first one gave.
      expect(await l.grant('acme', 100, 2, 'r0')).toEqual({ granted: false, account: await l.account('acme'), earlierAmount: 100 });
      expect(await l.grant('acme', 7, 3, 'r0')).toMatchObject({ granted: false, earlierAmount: 100 });
      // The id is acme's: another tenant's grant with it is a grant of its own; grants without an id are all made.
      expect(await l.grant('other', 5, 4, 'r0')).toMatchObject({ granted: true, account: { granted: 5 } });
      await l.grant('acme', 1, 5);
      await l.grant('acme', 1, 6, '');
      // The newest REMEMBERED_GRANT_IDS ids, r0 the oldest of them, survive reserves and settles written in between.
      for (let i = 1; i < REMEMBERED_GRANT_IDS; i++) {
        await l.grant('acme', 1, 10 + i, `r${i}`);
        if (i % 16 === 0) await l.settle('acme', 'j1', 10, 10 + i);
      }
      const before = await l.account('acme');
      expect(before).toMatchObject({ granted: 100 + 2 + REMEMBERED_GRANT_IDS - 1, openJobs: 0 });
      for (let i = 0; i < REMEMBERED_GRANT_IDS; i++) expect((await l.grant('acme', i === 0 ? 100 : 1, 99, `r${i}`)).granted, `r${i}`).toBe(false);
      expect(await l.account('acme')).toEqual(before);
      expect((await l.entries('acme', 0, 1000)).filter((e) => e.kind === 'grant')).toHaveLength(2 + REMEMBERED_GRANT_IDS);
      expectBalanced(before);
    }));

    it('makes concurrent grants with one request id once', () => withLedger(async (l) => {
      const outcomes = await Promise.all(Array.from({ length: 20 }, () => l.grant('acme', 10, 1, 'same')));
      expect(outcomes.filter((o) => o.granted)).toHaveLength(1);
      expect(await l.account('acme')).toMatchObject({ granted: 10, balance: 10 });
    }));

    it('many concurrent reservations of one tenant never overspend', () => withLedger(async (l) => {
      await l.grant('acme', 1000, 1);
      const outcomes = await Promise.all(Array.from({ length: 40 }, (_, i) => l.reserve(reservation(`j${i}`, 70))));
      const won = outcomes.filter((o) => o.ok).length;
      // 1000 / 70: 14 fit, the 15th would overspend.
      expect(won).toBe(14);
      const a = await l.account('acme');
      expect(a).toMatchObject({ reserved: 980, open: 980, openJobs: 14, balance: 20 });
      expectBalanced(a);
      expect(await l.openReservations()).toHaveLength(14);
    }));

    it('settles each job once when many settle it at once', () => withLedger(async (l) => {
      await l.grant('acme', 1000, 1);
      for (let i = 0; i < 5; i++) await l.reserve(reservation(`j${i}`, 100));
      const settles = await Promise.all(Array.from({ length: 25 }, (_, i) => l.settle('acme', `j${i % 5}`, 40, 2)));
      expect(settles.filter((s) => s !== undefined)).toHaveLength(5);
      const a = await l.account('acme');
      expect(a).toMatchObject({ reserved: 500, settled: 200, refunded: 300, open: 0, openJobs: 0, balance: 800 });
      expectBalanced(a);
    }));
  });
}
