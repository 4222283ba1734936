import { describe, expect, it } from 'vitest';
import { TokenBucket } from './token-bucket.js';

describe('TokenBucket', () => {
  it('allows a burst, then one take per interval, and says how long until the next', () => {
    const b = new TokenBucket(6, 2, 0); // one token every 10 s, two held at most
    expect(b.take(0)).toBe(0);
    expect(b.take(0)).toBe(0);
    expect(b.take(0)).toBe(10_000);
    expect(b.take(4_000)).toBe(6_000);
    expect(b.take(10_000)).toBe(0);
    // Idle for long: no more than the burst is saved up.
    expect([b.take(1_000_000), b.take(1_000_000), b.take(1_000_000)]).toEqual([0, 0, 10_000]);
  });

  it('takes a new rate and size at once, keeping no more tokens than the new size', () => {
    const b = new TokenBucket(60, 60, 0);
    b.resize(1, 1);
    expect(b.take(0)).toBe(0);
    expect(b.take(0)).toBe(60_000);
  });
});
