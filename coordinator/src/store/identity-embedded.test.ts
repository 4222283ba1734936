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
import { EmbeddedIdentityStore } from './identity-embedded.js';
import { describeIdentityContract, keyRecord } from './identity.contract.js';

const dirs: { remove(): Promise<void> }[] = [];
afterEach(async () => { for (const d of dirs.splice(0)) await d.remove(); });

describeIdentityContract('embedded', async () => {
  const dir = await tempDir();
  const store = new EmbeddedIdentityStore(dir.path);
  return { store, close: async () => { await store.close(); await dir.remove(); } };
});

describe('embedded identity store on disk', () => {
  it('keeps tenants, keys and revocations across a restart', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const first = new EmbeddedIdentityStore(dir.path);
    await first.createTenant({ id: 'acme', createdUnixMs: 5 });
    const kept = keyRecord();
    const revoked = keyRecord();
    await first.createKey(kept);
    await first.createKey(revoked);
    await first.revokeKey(revoked.id, 77);
    await first.close();

    const second = new EmbeddedIdentityStore(dir.path);
    try {
      expect(await second.getTenant('acme')).toEqual({ id: 'acme', createdUnixMs: 5 });
      expect(await second.getKey(kept.id)).toEqual(kept);
      expect((await second.getKey(revoked.id))?.revokedUnixMs).toBe(77);
    } finally {
      await second.close();
    }
  });

  it('stores a key only hashed: the raw key and its secret are in no file of the data dir, and the key still works', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const store = new EmbeddedIdentityStore(dir.path);
    const log = createLogger('test', 'silent');
    const admin = new IdentityAdmin(store, log);
    await admin.createTenant(LOCAL_ADMIN, 'acme');
    const { key, record } = await admin.createKey(LOCAL_ADMIN, { role: 'tenant', tenantId: 'acme', workerId: '', name: '', expiresUnixMs: 0 });
    await store.close();
    const secret = key.split('_').slice(2).join('_');
    expect(secret.length).toBeGreaterThanOrEqual(43);
    let bytes = 0;
    for (const f of await readdir(dir.path)) {
      const content = await readFile(join(dir.path, f));
      bytes += content.length;
      expect(content.includes(key), f).toBe(false);
      expect(content.includes(secret), f).toBe(false);
      expect(content.includes(secret.slice(0, 16)), f).toBe(false);
    }
    expect(bytes).toBeGreaterThan(0);
    // The record is there (the check above looked at the right files), and the key authenticates against it.
    const reopened = new EmbeddedIdentityStore(dir.path);
    try {
      expect((await reopened.getKey(record.id))?.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(await new Authenticator(reopened, log).authenticate(`Bearer ${key}`, { method: '/t', peer: 'p' }))
        .toEqual({ kind: 'tenant', tenantId: 'acme', keyId: record.id });
    } finally {
      await reopened.close();
    }
  });
});
