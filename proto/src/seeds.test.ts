import { describe, expect, it } from 'vitest';
import { MAX_SEED, isSeed, offsetSeed } from './seeds.js';

describe('seeds', () => {
  it('are the uint32 range', () => {
    expect(MAX_SEED).toBe(2 ** 32 - 1);
    expect([0, 1, MAX_SEED].every(isSeed)).toBe(true);
    expect([-1, 2 ** 32, 1.5, Number.NaN].some(isSeed)).toBe(false);
  });

  it('count up from the first seed and wrap modulo 2^32', () => {
    expect(offsetSeed(7, 3)).toBe(10);
    expect(offsetSeed(MAX_SEED, 0)).toBe(MAX_SEED);
    expect(offsetSeed(MAX_SEED, 1)).toBe(0);
    expect(offsetSeed(MAX_SEED - 1, 3)).toBe(1);
    expect(offsetSeed(5, 2 ** 32)).toBe(5);
  });

  it('refuse a first seed outside the range rather than fold it in silently', () => {
    expect(() => offsetSeed(2 ** 32, 0)).toThrow(RangeError);
    expect(() => offsetSeed(-1, 0)).toThrow(RangeError);
    expect(() => offsetSeed(0, -1)).toThrow(RangeError);
  });
});
