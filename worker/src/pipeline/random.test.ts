import { describe, expect, it } from 'vitest';
import { SeededRandom } from './random.js';

describe('SeededRandom', () => {
  it('matches the xoshiro128** reference outputs from state [1, 2, 3, 4]', () => {
    // First outputs of the reference C implementation (prng.di.unimi.it) from this state.
    const rng = SeededRandom.fromState([1, 2, 3, 4]);
    const out = Array.from({ length: 6 }, () => rng.nextUint32());
    expect(out).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  });

  it('gives the same stream for the same seed', () => {
    const a = new SeededRandom(1234);
    const b = new SeededRandom(1234);
    const xs = new Float32Array(1000);
    const ys = new Float32Array(1000);
    a.fillNormal(xs);
    b.fillNormal(ys);
    expect(ys).toEqual(xs);
    expect(a.nextFloat()).toBe(b.nextFloat());
  });

  it('gives unrelated streams for neighbouring seeds and for seeds above 2^32', () => {
    const first = (seed: number): number[] => {
      const rng = new SeededRandom(seed);
      return Array.from({ length: 4 }, () => rng.nextUint32());
    };
    expect(first(1)).not.toEqual(first(2));
    expect(first(7)).not.toEqual(first(7 + 2 ** 32));
  });

  it('pins the first values for seed 42 (changing them changes every image)', () => {
    const raw = new SeededRandom(42);
    expect([raw.nextUint32(), raw.nextUint32()]).toEqual([2837322924, 544945897]);
    expect(new SeededRandom(42).nextFloat()).toBe(0.6606156826019287);
    const normals = new SeededRandom(0);
    expect(normals.nextNormal()).toBeCloseTo(2.0812089348701357, 15);
    expect(normals.nextNormal()).toBeCloseTo(0.16346561362740877, 15);
    expect(normals.nextNormal()).toBeCloseTo(0.2541306960223768, 15);
  });

  it('draws uniforms in [0, 1) and normals with mean 0 and std 1', () => {
    const rng = new SeededRandom(7);
    let min = 1;
    let max = 0;
    for (let i = 0; i < 10_000; i++) {
      const u = rng.nextFloat();
      min = Math.min(min, u);
      max = Math.max(max, u);
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);

    const n = 100_000;
    const xs = rng.fillNormal(new Float32Array(n));
    let sum = 0;
    let sumSq = 0;
    let beyond3 = 0;
    for (const x of xs) {
      sum += x;
      sumSq += x * x;
      if (Math.abs(x) > 3) beyond3++;
    }
    const mean = sum / n;
    const std = Math.sqrt(sumSq / n - mean * mean);
    // Standard error of the mean is 1/sqrt(n) ≈ 0.003; allow about 4 of them.
    expect(Math.abs(mean)).toBeLessThan(0.013);
    expect(Math.abs(std - 1)).toBeLessThan(0.01);
    // Tails as a normal's: P(|x| > 3) ≈ 0.0027.
    expect(beyond3 / n).toBeGreaterThan(0.0018);
    expect(beyond3 / n).toBeLessThan(0.0036);
  });

  it('rejects seeds that are not non-negative safe integers', () => {
    expect(() => new SeededRandom(-1)).toThrow(RangeError);
    expect(() => new SeededRandom(1.5)).toThrow(RangeError);
    expect(() => new SeededRandom(2 ** 53)).toThrow(RangeError);
  });
});
