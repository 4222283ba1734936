import { describe, expect, it } from 'vitest';
import { tenantRecord, type TenantRecord } from '../store/identity.js';
import { TenantDirectory } from './tenant-directory.js';

const defaults = { weight: 1, maxQueuedImages: 100, maxRunningJobs: 10, submitsPerMinute: 60 };

describe('TenantDirectory', () => {
  it('applies a record\'s own values over the defaults (0: the default), re-reads it after the TTL, and counts a change made here at once', async () => {
    let now = 0;
    const stored = new Map<string, TenantRecord>([['a', tenantRecord({ id: 'a', createdUnixMs: 0, weight: 3, maxRunningJobs: 2 })]]);
    let reads = 0;
    const d = new TenantDirectory({ lookup: (id) => { reads++; return Promise.resolve(stored.get(id)); }, defaults, ttlMs: 1000, now: () => now });
    expect(await d.limits('a')).toEqual({ ...defaults, weight: 3, maxRunningJobs: 2 });
    expect(await d.limits('nobody')).toEqual(defaults);
    expect(await d.limits('')).toEqual(defaults);
    // Another coordinator changes it: seen once the TTL has passed, not before.
    stored.set('a', tenantRecord({ id: 'a', createdUnixMs: 0, weight: 5 }));
    expect(d.weightOf('a')).toBe(3);
    now = 1000;
    expect((await d.limits('a')).weight).toBe(5);
    const before = reads;
    d.changed(tenantRecord({ id: 'a', createdUnixMs: 0, weight: 7 }));
    expect(d.weightOf('a')).toBe(7);
    expect(reads).toBe(before);
  });

  it('serves the last limits read while the store fails, and says unavailable when it has none', async () => {
    let now = 0;
    let fail = false;
    const d = new TenantDirectory({
      lookup: () => (fail ? Promise.reject(new Error('nats down')) : Promise.resolve(tenantRecord({ id: 'a', createdUnixMs: 0, weight: 2 }))),
      defaults, ttlMs: 10, now: () => now,
    });
    await d.limits('a');
    fail = true;
    now = 100;
    expect((await d.limits('a')).weight).toBe(2);
    await expect(d.limits('b')).rejects.toThrow(/unreachable/);
  });
});
