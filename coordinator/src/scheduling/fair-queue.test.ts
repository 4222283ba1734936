import { describe, expect, it } from 'vitest';
import { FairQueue } from './fair-queue.js';

const all = () => true;

function drain(q: FairQueue, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const t = q.take(all);
    if (t === undefined) break;
    out.push(`${t.jobId}/${t.index}`);
  }
  return out;
}

describe('FairQueue', () => {
  it('interleaves equal-priority jobs so a small job is not stuck behind a large one', () => {
    const q = new FairQueue();
    q.add('big', 'm', 5, 1_000_000, 'g');
    drain(q, 1000);
    q.add('small', 'm', 5, 10, 'g');
    const next = drain(q, 20);
    expect(next.filter((t) => t.startsWith('small/'))).toHaveLength(10);
    expect(q.size).toBe(1_000_000 - 1000 - 10);
  });

  it('shares in proportion to priority weight', () => {
    const q = new FairQueue();
    q.add('lo', 'm', 1, 10_000, 'g');
    q.add('hi', 'm', 3, 10_000, 'g');
    const taken = drain(q, 4000);
    const hi = taken.filter((t) => t.startsWith('hi/')).length;
    expect(hi).toBeGreaterThanOrEqual(2990);
    expect(hi).toBeLessThanOrEqual(3010);
  });

  it('leases every image exactly once, retries included', () => {
    const q = new FairQueue();
    q.add('a', 'm', 5, 100, 'g');
    const first = drain(q, 50);
    q.requeue('a', 'm', 5, 3, 'g');
    const rest = drain(q, 1000);
    expect(rest[0]).toBe('a/3');
    const set = new Set([...first, ...rest.slice(1)]);
    expect(set.size).toBe(100);
    expect(q.size).toBe(0);
    expect(q.activeJobs).toBe(0);
  });

  it('skips jobs the worker cannot serve and drops removed jobs', () => {
    const q = new FairQueue();
    q.add('x', 'model-x', 5, 5, 'g');
    q.add('y', 'model-y', 5, 5, 'g');
    expect(q.take((j) => j.model === 'model-y')?.jobId).toBe('y');
    expect(q.remove('x')).toBe(5);
    expect(q.size).toBe(4);
    expect(q.take((j) => j.model === 'model-x')).toBeUndefined();
  });
});
