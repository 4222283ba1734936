// The embedded identity store: the contract, and what a file on disk must
// promise: it survives a restart, and holds no key, only hashes.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '@latentfarm/common';
import { tempDir } from '@latentfarm/testkit';
import { IdentityAdmin } from '../auth/admin.js';
import { Authenticator } from '../auth/authenticator.js';
import { LOCAL_ADMIN } from '../farm/principal.js';
import { EmbeddedStore } from './embedded.js';
import { EmbeddedIdentityStore } from './identity-embedded.js';
import { describeIdentityContract, keyRecord } from './identity.contract.js';
import { tenantRecord } from './identity.js';

const dirs: { remove(): Promise<void> }[] = [];

/** The identity tables live in the job store's database: opened as the coordinator opens them. */
function openIdentity(path: string): EmbeddedIdentityStore & { closeAll(): Promise<void> } {
  const jobs = new EmbeddedStore(path);
  return Object.assign(new EmbeddedIdentityStore(jobs.database), { closeAll: () => jobs.close() });
}
afterEach(async () => { for (const d of dirs.splice(0)) await d.remove(); });

describeIdentityContract('embedded', async () => {
  const dir = await tempDir();
  const store = openIdentity(dir.path);
  return { store, close: async () => { await store.closeAll(); await dir.remove(); } };
});

describe('embedded identity store on disk', () => {
  it('keeps tenants, keys and revocations across a restart', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const first = openIdentity(dir.path);
    await first.createTenant(tenantRecord({ id: 'acme', createdUnixMs: 5, weight: 2 }));
    const kept = keyRecord();
    const revoked = keyRecord();
    await first.createKey(kept);
    await first.createKey(revoked);
    await first.revokeKey(revoked.id, 77);
    await first.closeAll();

    const second = openIdentity(dir.path);
    try {
      expect(await second.getTenant('acme')).toEqual(tenantRecord({ id: 'acme', createdUnixMs: 5, weight: 2 }));
      expect(await second.getKey(kept.id)).toEqual(kept);
      expect((await second.getKey(revoked.id))?.revokedUnixMs).toBe(77);
    } finally {
      await second.closeAll();
    }
  });

  it('reads a tenant table made before weights and quotas existed: its tenants get the defaults (0), and take updates', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const jobs = new EmbeddedStore(dir.path);
    try {
      jobs.database.exec('CREATE TABLE identity_tenants (id TEXT PRIMARY KEY, created_unix_ms INTEGER NOT NULL) STRICT');
      jobs.database.prepare('INSERT INTO identity_tenants VALUES (?, ?)').run('old', 9);
      const store = new EmbeddedIdentityStore(jobs.database);
      expect(await store.getTenant('old')).toEqual(tenantRecord({ id: 'old', createdUnixMs: 9 }));
      expect(await store.updateTenant('old', { weight: 4 })).toEqual(tenantRecord({ id: 'old', createdUnixMs: 9, weight: 4 }));
      // Opening it again adds nothing twice.
      expect(await new EmbeddedIdentityStore(jobs.database).getTenant('old')).toMatchObject({ weight: 4 });
    } finally {
      await jobs.close();
    }
  });

  it('stores a key only hashed: the raw key and its secret are in no file of the data dir, and the key still works', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const store = openIdentity(dir.path);
    const log = createLogger('test', 'silent');
    const admin = new IdentityAdmin(store, log);
    await admin.createTenant(LOCAL_ADMIN, 'acme');
    const { key, record } = await admin.createKey(LOCAL_ADMIN, { role: 'tenant', tenantId: 'acme', workerId: '', name: '', expiresUnixMs: 0 });
    await store.closeAll();
    const secret = key.split('_').slice(2).join('_');
    expect(secret.length).toBeGreaterThanOrEqual(43);
    let bytes = 0;
    for (const e of await readdir(dir.path, { withFileTypes: true })) {
      if (!e.isFile()) continue;
      const f = e.name;
      const content = await readFile(join(dir.path, f));
      bytes += content.length;
      expect(content.includes(key), f).toBe(false);
      expect(content.includes(secret), f).toBe(false);
      expect(content.includes(secret.slice(0, 16)), f).toBe(false);
    }
    expect(bytes).toBeGreaterThan(0);
    // The record is there (the check above looked at the right files), and the key authenticates against it.
    const reopened = openIdentity(dir.path);
    try {
      expect((await reopened.getKey(record.id))?.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(await new Authenticator(reopened, log).authenticate(`Bearer ${key}`, { method: '/t', peer: 'p' }))
        .toEqual({ kind: 'tenant', tenantId: 'acme', keyId: record.id });
    } finally {
      await reopened.closeAll();
    }
  });
});
