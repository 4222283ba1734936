import { describe, expect, it } from 'vitest';
import { decodePng, encodePng } from './png.js';

describe('PNG', () => {
  it('round-trips pixels and UTF-8 text', () => {
    const w = 17;
    const h = 9;
    const rgb = new Uint8Array(w * h * 3).map((_, i) => (i * 37) % 256);
    const png = encodePng(rgb, w, h, { prompt: 'a red circle — on blue', seed: '42' });
    expect([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join('')).toBe('PNG');
    const back = decodePng(png);
    expect(back.width).toBe(w);
    expect(back.height).toBe(h);
    expect(Buffer.from(back.rgb).equals(Buffer.from(rgb))).toBe(true);
    expect(back.text).toEqual({ prompt: 'a red circle — on blue', seed: '42' });
  });

  it('writes the same bytes for the same pixels, every time', () => {
    const rgb = new Uint8Array(64 * 64 * 3).map((_, i) => (i * 13) % 251);
    const first = encodePng(rgb, 64, 64, { seed: '1' }, 1);
    for (let i = 0; i < 50; i++) expect(encodePng(rgb, 64, 64, { seed: '1' }, 1).equals(first)).toBe(true);
  });

  it('rejects a buffer of the wrong size', () => {
    expect(() => encodePng(new Uint8Array(5), 2, 2)).toThrow(/2×2×3/);
  });
});
