import { describe, expect, it } from 'vitest';
import { f16ToF32, f32ToF16, fromHalf, toHalf } from './fp16.js';

describe('fp16', () => {
  it('encodes exact halves exactly, and specials', () => {
    expect(toHalf(1)).toBe(0x3c00);
    expect(toHalf(-2)).toBe(0xc000);
    expect(toHalf(65504)).toBe(0x7bff);
    expect(toHalf(1e6)).toBe(0x7c00);
    expect(toHalf(0)).toBe(0);
    expect(toHalf(2 ** -24)).toBe(1); // smallest subnormal
    expect(Number.isNaN(fromHalf(toHalf(NaN)))).toBe(true);
  });

  it('round-trips within half precision', () => {
    const xs = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 10);
    const back = f16ToF32(f32ToF16(xs));
    for (let i = 0; i < xs.length; i++) expect(Math.abs((back[i] as number) - (xs[i] as number))).toBeLessThanOrEqual(Math.abs(xs[i] as number) * 2 ** -11 + 1e-7);
  });
});
