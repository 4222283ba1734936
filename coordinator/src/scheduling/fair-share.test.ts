import { describe, expect, it } from 'vitest';
import { FairShare } from './fair-share.js';

/** Leases `n` rounds of `batch` images, returning how many each job got. */
function run(s: FairShare, rounds: number, batch = 1, accept = () => true): Map<string, number> {
  const got = new Map<string, number>();
  for (let i = 0; i < rounds; i++) {
    const j = s.pick(accept, 0);
    if (j === undefined) break;
    s.charge(j.id, batch);
    got.set(j.id, (got.get(j.id) ?? 0) + batch);
  }
  return got;
}

describe('FairShare', () => {
  it('lets a job that arrives late share at once instead of waiting behind a large job', () => {
    const s = new FairShare();
    s.add('big', 'm', 'g', 5);
    run(s, 1000);
    s.add('small', 'm', 'g', 5);
    const next = run(s, 20);
    expect(next.get('small')).toBe(10);
    expect(next.get('big')).toBe(10);
  });

  it('shares in proportion to priority weight', () => {
    const s = new FairShare();
    s.add('lo', 'm', 'g', 1);
    s.add('hi', 'm', 'g', 3);
    const got = run(s, 4000, 16);
    const hi = (got.get('hi') ?? 0) / (4000 * 16);
    expect(hi).toBeGreaterThan(0.74);
    expect(hi).toBeLessThan(0.76);
  });

  it('skips jobs that are dry or not acceptable to the worker, and wakes them', () => {
    const s = new FairShare();
    s.add('x', 'model-x', 'g', 5);
    s.add('y', 'model-y', 'g', 5);
    expect(s.pick((j) => j.model === 'model-y', 0)?.id).toBe('y');
    s.markDry('y', 1000);
    expect(s.pick((j) => j.model === 'model-y', 500)).toBeUndefined();
    s.wake('y');
    expect(s.pick((j) => j.model === 'model-y', 500)?.id).toBe('y');
    s.remove('x');
    expect(s.pick((j) => j.model === 'model-x', 0)).toBeUndefined();
  });
});
