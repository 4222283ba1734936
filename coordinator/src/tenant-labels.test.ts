import { describe, expect, it } from 'vitest';
import { ADMIN_OWNER } from './farm/principal.js';
import { TenantLabels } from './tenant-labels.js';

describe('TenantLabels', () => {
  it('keeps the first N tenants seen, for good; later ones are "other"; admins are "admin" and never use up a place', () => {
    const l = new TenantLabels(2);
    expect(l.of(ADMIN_OWNER)).toBe('admin');
    expect(['x', 'y', 'z', 'x', 'w', 'y'].map((t) => l.of(t))).toEqual(['x', 'y', 'other', 'x', 'other', 'y']);
    expect(l.of(ADMIN_OWNER)).toBe('admin');
    expect([...l.labels()].sort()).toEqual(['admin', 'other', 'x', 'y']);
  });

  it('with a cap of 0, counts every tenant as "other"', () => {
    const l = new TenantLabels(0);
    expect([l.of('x'), l.of(ADMIN_OWNER)]).toEqual(['other', 'admin']);
  });
});
