// The contract every IdentityStore keeps, run against the embedded and the
// JetStream store (identity-embedded.test.ts, identity-jetstream.test.ts).
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { tenantRecord, type IdentityStore, type KeyRecord } from './identity.js';

export function keyRecord(o: Partial<KeyRecord> = {}): KeyRecord {
  return {
    id: randomBytes(8).toString('hex'), role: 'tenant', tenantId: 'acme', workerId: '', hash: randomBytes(32).toString('hex'), name: 'test',
    createdUnixMs: Date.now(), expiresUnixMs: 0, revokedUnixMs: 0, ...o,
  };
}

export function describeIdentityContract(name: string, open: () => Promise<{ store: IdentityStore; close(): Promise<void> }>): void {
  const withStore = async (fn: (s: IdentityStore) => Promise<void>) => {
    const { store, close } = await open();
    try {
      await fn(store);
    } finally {
      await close();
    }
  };

  describe(`identity store contract: ${name}`, () => {
    it('creates a tenant once, and lists tenants by id', () => withStore(async (s) => {
      expect(await s.createTenant(tenantRecord({ id: 'zeta', createdUnixMs: 1 }))).toBe(true);
      expect(await s.createTenant(tenantRecord({ id: 'alpha', createdUnixMs: 2 }))).toBe(true);
      expect(await s.createTenant(tenantRecord({ id: 'zeta', createdUnixMs: 3 }))).toBe(false);
      expect(await s.getTenant('zeta')).toEqual(tenantRecord({ id: 'zeta', createdUnixMs: 1 }));
      expect(await s.getTenant('nobody')).toBeUndefined();
      expect((await s.listTenants()).map((t) => t.id)).toEqual(['alpha', 'zeta']);
    }));

    it('keeps a tenant\'s weight and quotas, and updates only the fields a patch names', () => withStore(async (s) => {
      const t = { id: 'acme', createdUnixMs: 7, weight: 3, maxQueuedImages: 5_000_000_000, maxRunningJobs: 20, submitsPerMinute: 60 };
      expect(await s.createTenant(t)).toBe(true);
      expect(await s.getTenant('acme')).toEqual(t);
      expect(await s.updateTenant('acme', { weight: 5, maxRunningJobs: undefined })).toEqual({ ...t, weight: 5 });
      expect(await s.updateTenant('acme', { maxQueuedImages: 0, submitsPerMinute: 1 })).toEqual({ ...t, weight: 5, maxQueuedImages: 0, submitsPerMinute: 1 });
      expect(await s.getTenant('acme')).toEqual({ ...t, weight: 5, maxQueuedImages: 0, submitsPerMinute: 1 });
      expect(await s.listTenants()).toEqual([{ ...t, weight: 5, maxQueuedImages: 0, submitsPerMinute: 1 }]);
      expect(await s.updateTenant('nobody', { weight: 2 })).toBeUndefined();
      expect(await s.getTenant('nobody')).toBeUndefined();
    }));

    it('applies two updates made at once to different fields, both', () => withStore(async (s) => {
      await s.createTenant(tenantRecord({ id: 'both', createdUnixMs: 1 }));
      await Promise.all([s.updateTenant('both', { weight: 2 }), s.updateTenant('both', { maxRunningJobs: 9 }), s.updateTenant('both', { submitsPerMinute: 4 })]);
      expect(await s.getTenant('both')).toMatchObject({ weight: 2, maxRunningJobs: 9, submitsPerMinute: 4 });
    }));

    it('creates a key once (a second key of the same id does not overwrite it) and reads it back whole', () => withStore(async (s) => {
      const k = keyRecord({ role: 'worker', tenantId: '', workerId: 'w-1', expiresUnixMs: Date.now() + 60_000 });
      expect(await s.createKey(k)).toBe(true);
      expect(await s.createKey({ ...k, hash: 'ff'.repeat(32) })).toBe(false);
      expect(await s.getKey(k.id)).toEqual(k);
      expect(await s.getKey('0000000000000000')).toBeUndefined();
      const other = keyRecord();
      await s.createKey(other);
      expect((await s.listKeys()).map((x) => x.id).sort()).toEqual([k.id, other.id].sort());
    }));

    it('revokes a key once: the first time stays, an unknown key is undefined', () => withStore(async (s) => {
      const k = keyRecord();
      await s.createKey(k);
      expect((await s.revokeKey(k.id, 1000))?.revokedUnixMs).toBe(1000);
      expect((await s.revokeKey(k.id, 2000))?.revokedUnixMs).toBe(1000);
      expect((await s.getKey(k.id))?.revokedUnixMs).toBe(1000);
      expect(await s.revokeKey('0123456789abcdef', 5)).toBeUndefined();
    }));

    it('keeps a session until it is deleted, and drops expired ones at a later log-in', () => withStore(async (s) => {
      const live = { id: 'a'.repeat(64), keyId: '0123456789abcdef', createdUnixMs: 1_000, expiresUnixMs: 50_000 };
      const old = { id: 'b'.repeat(64), keyId: '0123456789abcdef', createdUnixMs: 1_000, expiresUnixMs: 2_000 };
      await s.createSession(old, 1_000);
      await s.createSession(live, 1_000);
      expect(await s.getSession(live.id)).toEqual(live);
      expect(await s.getSession('c'.repeat(64))).toBeUndefined();
      await s.deleteSession(live.id);
      expect(await s.getSession(live.id)).toBeUndefined();
      await s.deleteSession('d'.repeat(64));
      // A store may drop what expired before `nowMs` (the embedded one does); it must never drop a live one.
      const next = { ...live, id: 'e'.repeat(64) };
      await s.createSession(next, 3_000);
      expect(await s.getSession(next.id)).toEqual(next);
    }));
  });
}
