// Console sessions on a real embedded identity store and the real key check:
// they expire, end at log-out, end when their key is revoked, and outlive a
// restart of the coordinator (they are in the store, not in its memory).
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '@latentfarm/common';
import { tempDir } from '@latentfarm/testkit';
import { IdentityAdmin } from '../auth/admin.js';
import { Authenticator } from '../auth/authenticator.js';
import { LOCAL_ADMIN } from '../farm/principal.js';
import { EmbeddedStore } from '../store/embedded.js';
import { EmbeddedIdentityStore } from '../store/identity-embedded.js';
import { cookieValue, Sessions } from './sessions.js';

const log = createLogger('test', 'silent');
const context = { method: 'console', peer: 'test' };
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });

async function farmDir() {
  const dir = await tempDir();
  cleanup.push(() => dir.remove());
  const open = () => {
    const jobs = new EmbeddedStore(dir.path);
    const identity = new EmbeddedIdentityStore(jobs.database);
    const authenticator = new Authenticator(identity, log);
    return { identity, authenticator, admin: new IdentityAdmin(identity, log), close: () => jobs.close() };
  };
  return { open };
}

async function withTenantKey() {
  const dir = await farmDir();
  const farm = dir.open();
  cleanup.push(() => farm.close());
  await farm.admin.createTenant(LOCAL_ADMIN, 'acme');
  const made = await farm.admin.createKey(LOCAL_ADMIN, { role: 'tenant', tenantId: 'acme', workerId: '', name: '', expiresUnixMs: 0 });
  const principal = await farm.authenticator.authenticate(`Bearer ${made.key}`, context);
  const keys = { authenticateKeyId: (id: string) => farm.authenticator.authenticateKeyId(id, context) };
  return { farm, made, principal, keys, dir };
}

describe('console sessions', () => {
  it('expire after their time, and each log-in gets its own unguessable token', async () => {
    const { farm, principal, keys } = await withTenantKey();
    let now = Date.now();
    const s = new Sessions(farm.identity, keys, 60_000, () => now);
    const a = await s.open(principal);
    const b = await s.open(principal);
    expect(a.token).not.toBe(b.token);
    expect(a.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.maxAgeS).toBe(60);
    now += 59_999;
    expect(await s.principal(a.token)).toEqual(principal);
    now += 1;
    expect(await s.principal(a.token)).toBeUndefined();
    expect(await s.principal('made-up')).toBeUndefined();
    expect(await s.principal(undefined)).toBeUndefined();
  });

  it('end at once on log-out', async () => {
    const { farm, principal, keys } = await withTenantKey();
    const s = new Sessions(farm.identity, keys, 60_000);
    const { token } = await s.open(principal);
    await s.close(token);
    expect(await s.principal(token)).toBeUndefined();
  });

  it('end on the next request once their key is revoked', async () => {
    const { farm, made, principal, keys } = await withTenantKey();
    const s = new Sessions(farm.identity, keys, 60_000);
    const { token } = await s.open(principal);
    expect(await s.principal(token)).toEqual(principal);
    await farm.admin.revokeKey(LOCAL_ADMIN, made.record.id);
    expect(await s.principal(token)).toBeUndefined();
  });

  it('outlive a restart, and keep only the token\'s hash in the store', async () => {
    const { farm, principal, keys, dir } = await withTenantKey();
    const { token } = await new Sessions(farm.identity, keys, 60_000).open(principal);
    await farm.close();
    cleanup.pop();
    const again = dir.open();
    cleanup.push(() => again.close());
    const keysAgain = { authenticateKeyId: (id: string) => again.authenticator.authenticateKeyId(id, context) };
    expect(await new Sessions(again.identity, keysAgain, 60_000).principal(token)).toEqual(principal);
    expect(await again.identity.getSession(token)).toBeUndefined();
  });

  it('read the session cookie among others', () => {
    expect(cookieValue('a=1; latentfarm_session=xyz; b=2', 'latentfarm_session')).toBe('xyz');
    expect(cookieValue('a=1', 'latentfarm_session')).toBeUndefined();
    expect(cookieValue(undefined, 'latentfarm_session')).toBeUndefined();
  });
});
