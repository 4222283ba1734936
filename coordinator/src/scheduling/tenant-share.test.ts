// The farm's policy: tenants first, then a tenant's jobs. Each test leases
// round by round, as the dispatcher does, and counts what each side got.
import { describe, expect, it } from 'vitest';
import type { SharePolicy } from './share-policy.js';
import { TenantShare } from './tenant-share.js';

/** Leases `rounds` picks of `batch` images; images per job id. */
function run(s: SharePolicy, rounds: number, batch = 1, accept = () => true): Map<string, number> {
  const got = new Map<string, number>();
  for (let i = 0; i < rounds; i++) {
    const j = s.pick(accept, 0);
    if (j === undefined) break;
    s.charge(j.id, batch);
    got.set(j.id, (got.get(j.id) ?? 0) + batch);
  }
  return got;
}

/** Images the jobs whose id starts with `prefix` got. */
const sum = (got: Map<string, number>, prefix: string): number =>
  [...got].filter(([id]) => id.startsWith(prefix)).reduce((n, [, v]) => n + v, 0);

describe('TenantShare', () => {
  it('gives a tenant with one low-priority job half the farm beside a tenant with ten priority-10 jobs', () => {
    const s = new TenantShare();
    for (let i = 0; i < 10; i++) s.add(`a${i}`, 'm', 'g', 10, 'tenant-a');
    s.add('b0', 'm', 'g', 1, 'tenant-b');
    const got = run(s, 2000, 4);
    expect(sum(got, 'b') / (2000 * 4)).toBe(0.5);
    // A's own jobs share its half among themselves.
    expect(got.get('a0')).toBe(400);
  });

  it('shares between tenants in proportion to their weights, whatever their jobs ask', () => {
    const weights: Record<string, number> = { heavy: 3, light: 1 };
    const s = new TenantShare((t) => weights[t] ?? 1);
    s.add('h0', 'm', 'g', 1, 'heavy');
    for (let i = 0; i < 5; i++) s.add(`l${i}`, 'm', 'g', 10, 'light');
    const got = run(s, 4000, 16);
    expect(sum(got, 'h') / (4000 * 16)).toBe(0.75);
  });

  it('counts a changed weight from the next lease', () => {
    const weights: Record<string, number> = { a: 1, b: 1 };
    const s = new TenantShare((t) => weights[t] ?? 1);
    s.add('a0', 'm', 'g', 5, 'a');
    s.add('b0', 'm', 'g', 5, 'b');
    run(s, 100);
    weights['a'] = 4;
    const got = run(s, 1000);
    expect(got.get('a0')).toBe(800);
  });

  it('shares within a tenant by priority', () => {
    const s = new TenantShare();
    s.add('lo', 'm', 'g', 1, 't');
    s.add('hi', 'm', 'g', 3, 't');
    const got = run(s, 4000);
    expect(got.get('hi')).toBe(3000);
  });

  it('shares an admin\'s jobs as one more tenant', () => {
    const s = new TenantShare();
    s.add('admin1', 'm', 'g', 5, '');
    s.add('admin2', 'm', 'g', 5, '');
    s.add('t1', 'm', 'g', 5, 't');
    const got = run(s, 1000);
    expect(sum(got, 'admin')).toBe(500);
    expect(got.get('t1')).toBe(500);
  });

  it('lets a tenant that arrives late share at once, with no credit for the time it was away', () => {
    const s = new TenantShare();
    s.add('big', 'm', 'g', 5, 'a');
    run(s, 1000);
    s.add('small', 'm', 'g', 5, 'b');
    expect(run(s, 20)).toEqual(new Map([['big', 10], ['small', 10]]));
    // B leaves, A runs on alone, B comes back: level again, not owed the time it was gone.
    s.remove('small');
    run(s, 1000);
    s.add('again', 'm', 'g', 5, 'b');
    expect(run(s, 20)).toEqual(new Map([['big', 10], ['again', 10]]));
  });

  it('skips jobs that are dry or not acceptable to the worker, and wakes them; a tenant with nothing acceptable does not block another', () => {
    const s = new TenantShare();
    s.add('x', 'model-x', 'g', 5, 'a');
    s.add('y', 'model-y', 'g', 5, 'b');
    expect(s.pick((j) => j.model === 'model-y', 0)?.id).toBe('y');
    s.markDry('y', 1000);
    expect(s.pick((j) => j.model === 'model-y', 500)).toBeUndefined();
    expect(s.pick(() => true, 500)?.id).toBe('x');
    s.wake('y');
    expect(s.pick((j) => j.model === 'model-y', 500)?.id).toBe('y');
    s.remove('x');
    expect(s.has('x')).toBe(false);
    expect(s.pick((j) => j.model === 'model-x', 0)).toBeUndefined();
  });
});
